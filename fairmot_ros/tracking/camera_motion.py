"""Camera-motion compensation: estimate the image motion between frames, warp Kalman states.

The tracker's constant-velocity Kalman filter lives in image coordinates, so it assumes a
still camera. When the camera pans, zooms or shakes, every box jumps by the same image motion
and the motion gate and the IoU stages fail together. Compensation maps each live track into
the new frame's coordinates before prediction with a 2x3 affine warp ``W`` (previous image
pixels -> current image pixels, ``p' = W[:, :2] @ p + W[:, 2]``).

Two pieces, usable on their own:

* :func:`warp_kalman_states` applies a warp to stacked (x, y, a, h, vx, vy, va, vh) means and
  their covariances. ``JDETracker.update(..., warp=W)`` calls it, so a warp may come from
  anywhere (odometry, a pan-tilt unit, an IMU, or the estimator below).
* :class:`CameraMotionEstimator` is one provider: per camera, it tracks corner features of a
  downscaled grey image from the previous frame into the current one with pyramidal
  Lucas-Kanade optical flow and fits a similarity (or full affine) transform with RANSAC.
  Features are not taken inside the boxes of people (moving people would pull the estimate)
  nor at the image border. It keeps the previous frame itself: one instance per camera.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from fairmot_ros.tracking.config import CAMERA_MOTION_METHODS

__all__ = [
    "CAMERA_MOTION_METHODS",
    "CameraMotionEstimator",
    "MotionEstimate",
    "WarpSummary",
    "check_warp",
    "describe_warp",
    "estimator_for",
    "warp_kalman_states",
]

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def check_warp(warp: np.ndarray) -> np.ndarray:
    """The warp as a float64 (2, 3) array; ValueError for a wrong shape, NaN/inf or a
    degenerate (non-invertible) linear part, which would collapse every box."""
    array = np.asarray(warp, dtype=np.float64)
    if array.shape != (2, 3):
        raise ValueError(f"warp must be a 2x3 affine matrix, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("warp contains NaN or inf")
    if abs(np.linalg.det(array[:, :2])) < 1e-9:
        raise ValueError("warp is degenerate (its 2x2 part is not invertible)")
    return array


def _axis_scales(linear: np.ndarray) -> tuple[float, float]:
    """How much the warp stretches a horizontal and a vertical segment (box width, height)."""
    return float(np.hypot(linear[0, 0], linear[1, 0])), float(np.hypot(linear[0, 1], linear[1, 1]))


def warp_kalman_states(
    means: np.ndarray, covariances: np.ndarray, warp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Map (N, 8) xyah Kalman means and (N, 8, 8) covariances through a 2x3 warp.

    The box centre goes through the full affine map and its velocity through the linear part;
    the height (and its rate) scales by the stretch of a vertical segment, the aspect ratio by
    the ratio of horizontal to vertical stretch (1 for a similarity). That is a linear map J of
    the state plus an offset, so the covariance becomes J P J^T exactly. An identity warp
    returns the inputs' values unchanged.
    """
    warp = check_warp(warp)
    means = np.asarray(means, dtype=np.float64)
    covariances = np.asarray(covariances, dtype=np.float64)
    if len(means) == 0:
        return means.copy(), covariances.copy()
    linear = warp[:, :2]
    sx, sy = _axis_scales(linear)
    block = np.zeros((4, 4))
    block[:2, :2] = linear
    block[2, 2] = sx / sy
    block[3, 3] = sy
    jac = np.zeros((8, 8))
    jac[:4, :4] = block
    jac[4:, 4:] = block
    new_means = means @ jac.T
    new_means[:, :2] += warp[:, 2]
    new_covs = jac @ covariances @ jac.T
    return new_means, new_covs


@dataclass(frozen=True)
class WarpSummary:
    """A warp in words: translation (px), rotation (degrees, counter-clockwise in the image
    as seen with y down) and scale (1 = no zoom)."""

    tx: float
    ty: float
    rotation_deg: float
    scale: float


def describe_warp(warp: np.ndarray | None) -> WarpSummary:
    """Translation, rotation and scale of a warp (the identity for None)."""
    w = IDENTITY if warp is None else np.asarray(warp, dtype=np.float64)
    linear = w[:, :2]
    scale = math.sqrt(abs(float(np.linalg.det(linear))))
    rotation = math.degrees(math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1]))
    return WarpSummary(float(w[0, 2]), float(w[1, 2]), rotation, scale)


@dataclass(frozen=True)
class MotionEstimate:
    """One frame's result. ``warp`` is None on the first frame or after a reset (nothing to
    compare with) and the identity when the estimate failed (``status`` says why)."""

    warp: np.ndarray | None
    status: str  # "first_frame", "ok", or the reason the identity was used
    points: int  # features tracked from the previous frame
    inliers: int  # RANSAC inliers of the accepted fit
    seconds: float


class CameraMotionEstimator:
    """Frame-to-frame global motion of one camera from sparse optical flow + RANSAC.

    ``estimate(image, boxes)`` once per frame, in order: ``image`` HxWx3 BGR (or HxW grey)
    uint8, ``boxes`` (N, 4) x1, y1, x2, y2 of the people in *this* image (e.g. this frame's
    detections); features are not taken inside them, so that the next estimate follows the
    background. Returns the warp from the previous image to this one, in full-resolution
    pixels, or None on the first frame.

    ``max_width``: images are downscaled to at most this width first (cost, and robustness to
    noise). ``model``: ``"similarity"`` (rotation + uniform scale + translation, 4 degrees of
    freedom: what pan/tilt/roll/zoom of a camera looking at a distant scene produces) or
    ``"affine"`` (6). An estimate is refused (identity used, ``failures`` counted) when fewer
    than ``min_inliers`` features agree or when the scale or rotation is implausible for one
    frame step.
    """

    def __init__(
        self,
        max_width: int = 320,
        model: str = "similarity",
        max_corners: int = 150,
        quality_level: float = 0.01,
        min_distance: float = 8.0,
        ransac_threshold: float = 1.5,
        min_inliers: int = 12,
        box_margin: float = 0.1,
        border: float = 0.03,
        max_scale_change: float = 0.25,
        max_rotation_deg: float = 15.0,
        win_size: int = 11,
        area_resize: bool = False,
    ):
        if model not in ("similarity", "affine"):
            raise ValueError(f"model must be 'similarity' or 'affine', got {model!r}")
        if max_width < 32:
            raise ValueError(f"max_width must be at least 32 pixels, got {max_width}")
        self.max_width = int(max_width)
        self.model = model
        self.max_corners = int(max_corners)
        self.quality_level = float(quality_level)
        self.min_distance = float(min_distance)
        self.ransac_threshold = float(ransac_threshold)
        self.min_inliers = int(min_inliers)
        self.box_margin = float(box_margin)
        self.border = float(border)
        self.max_scale_change = float(max_scale_change)
        self.max_rotation_deg = float(max_rotation_deg)
        self.win_size = int(win_size)
        # Bilinear downscaling costs a fraction of area averaging at 1080p -> 320; with RANSAC
        # over ~150 corners both gave sub-pixel errors on the benchmark and PETS frames.
        self.interpolation = cv2.INTER_AREA if area_resize else cv2.INTER_LINEAR
        self.frames = 0
        self.failures = 0
        self.seconds = 0.0  # total time spent estimating
        self.last: MotionEstimate | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (the next estimate returns None)."""
        self._prev_grey: np.ndarray | None = None
        self._prev_points: np.ndarray | None = None
        self._prev_shape: tuple[int, ...] | None = None

    # ----- per frame ---------------------------------------------------------------------
    def estimate(self, image: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray | None:
        """The warp previous -> this image (see the class docstring); also kept in ``last``."""
        return self.estimate_detailed(image, boxes).warp

    def estimate_detailed(
        self, image: np.ndarray, boxes: np.ndarray | None = None
    ) -> MotionEstimate:
        """Like :meth:`estimate`, with the number of features, inliers, status and time."""
        started = time.perf_counter()
        if isinstance(image, np.ndarray) and image.ndim >= 2 and min(image.shape[:2]) < 16:
            # Too small to find corners in: no estimate, and nothing to compare the next with.
            self.reset()
            self.frames += 1
            self.last = MotionEstimate(None, "too_small", 0, 0, time.perf_counter() - started)
            return self.last
        grey, factor = self._prepare(image)
        warp: np.ndarray | None
        points = inliers = 0
        if self._prev_grey is None or self._prev_shape != image.shape[:2]:
            warp, status = None, "first_frame"
        else:
            warp, status, points, inliers = self._fit(grey, factor)
            if warp is None:
                warp = IDENTITY.copy()
                self.failures += 1
        self._prev_grey = grey
        self._prev_shape = image.shape[:2]
        self._prev_points = self._features(grey, boxes, factor)
        self.frames += 1
        elapsed = time.perf_counter() - started
        self.seconds += elapsed
        self.last = MotionEstimate(warp, status, points, inliers, elapsed)
        return self.last

    # ----- internals ---------------------------------------------------------------------
    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Downscaled grey image and the factor small = factor * full."""
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (
            2, 3
        ) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
            raise ValueError(
                "image must be an HxWx3 BGR or HxW grey uint8 array, "
                f"got {getattr(image, 'shape', None)} {getattr(image, 'dtype', type(image))}"
            )
        # Downscale first, then convert: the colour conversion then touches few pixels.
        height, width = image.shape[:2]
        factor = min(1.0, self.max_width / width)
        small = image
        if factor < 1.0:
            size = (max(16, round(width * factor)), max(16, round(height * factor)))
            small = cv2.resize(image, size, interpolation=self.interpolation)
            factor = size[0] / width
        if small.ndim == 3 and small.shape[2] == 3:
            return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), factor
        return np.ascontiguousarray(small.reshape(small.shape[:2])), factor

    def _features(
        self, grey: np.ndarray, boxes: np.ndarray | None, factor: float
    ) -> np.ndarray | None:
        """Corners of the background: image minus a border and minus (enlarged) boxes."""
        height, width = grey.shape
        mask = np.zeros((height, width), dtype=np.uint8)
        bx, by = round(self.border * width), round(self.border * height)
        mask[by : height - by, bx : width - bx] = 255
        if boxes is not None and len(boxes):
            b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * factor
            w = b[:, 2] - b[:, 0]
            h = b[:, 3] - b[:, 1]
            x1 = np.clip(np.floor(b[:, 0] - self.box_margin * w), 0, width).astype(int)
            y1 = np.clip(np.floor(b[:, 1] - self.box_margin * h), 0, height).astype(int)
            x2 = np.clip(np.ceil(b[:, 2] + self.box_margin * w), 0, width).astype(int)
            y2 = np.clip(np.ceil(b[:, 3] + self.box_margin * h), 0, height).astype(int)
            for i in np.flatnonzero(np.isfinite(b).all(axis=1)):
                mask[y1[i] : y2[i], x1[i] : x2[i]] = 0
        points = cv2.goodFeaturesToTrack(
            grey, self.max_corners, self.quality_level, self.min_distance, mask=mask,
            blockSize=3, useHarrisDetector=False,
        )
        return points

    def _fit(
        self, grey: np.ndarray, factor: float
    ) -> tuple[np.ndarray | None, str, int, int]:
        prev_points = self._prev_points
        if prev_points is None or len(prev_points) < self.min_inliers:
            return None, "too_few_features", 0 if prev_points is None else len(prev_points), 0
        next_points, found, _ = cv2.calcOpticalFlowPyrLK(
            self._prev_grey, grey, prev_points, None, winSize=(self.win_size, self.win_size),
            maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
        )
        if next_points is None:
            return None, "flow_failed", 0, 0
        ok = found.reshape(-1).astype(bool)
        src = prev_points.reshape(-1, 2)[ok]
        dst = next_points.reshape(-1, 2)[ok]
        if len(src) < self.min_inliers:
            return None, "too_few_tracked", len(src), 0
        fit = cv2.estimateAffinePartial2D if self.model == "similarity" else cv2.estimateAffine2D
        small, inlier_mask = fit(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=self.ransac_threshold,
            maxIters=2000, confidence=0.995, refineIters=10,
        )
        inliers = 0 if inlier_mask is None else int(inlier_mask.sum())
        if small is None or inliers < self.min_inliers:
            return None, "too_few_inliers", len(src), inliers
        warp = small.astype(np.float64)
        warp[:, 2] /= factor  # same linear part at any resolution; translation in full pixels
        summary = describe_warp(warp)
        if not (abs(math.log(max(summary.scale, 1e-9))) <= math.log1p(self.max_scale_change)
                and abs(summary.rotation_deg) <= self.max_rotation_deg):
            return None, "implausible", len(src), inliers
        return warp, "ok", len(src), inliers


def estimator_for(method: str, **options) -> CameraMotionEstimator | None:
    """The estimator behind a ``camera_motion`` setting (None for ``"none"``)."""
    if method == "none":
        return None
    if method == "sparse_flow":
        return CameraMotionEstimator(model="similarity", **options)
    if method == "sparse_flow_affine":
        return CameraMotionEstimator(model="affine", **options)
    raise ValueError(f"camera_motion {method!r} is not one of {', '.join(CAMERA_MOTION_METHODS)}")
