"""A pinhole camera with lens distortion, as a ``sensor_msgs/CameraInfo`` describes it.

:meth:`CameraModel.from_camera_info` takes the CameraInfo fields (size, ``distortion_model``,
``d``, ``k``, the header's ``frame_id``) and refuses what cannot be used, with a reason of
:mod:`~fairmot_ros.spatial.reasons`: a zero K (an uncalibrated camera, REP-104), NaN or
infinite values, fx or fy not positive, a distortion model other than ``plumb_bob``,
``rational_polynomial`` and ``equidistant``, or a coefficient count that model does not take.
Pixels become normalised rays with OpenCV's iterative undistortion (``cv2.undistortPoints``
with a convergence criterion, ``cv2.fisheye.undistortPoints``) and points become pixels with
``cv2.projectPoints``, so each distortion model is applied as OpenCV applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from fairmot_ros.spatial.reasons import (
    D_INVALID,
    DISTORTION_UNSUPPORTED,
    K_INVALID,
    SIZE_INVALID,
    SpatialError,
)

PLUMB_BOB = "plumb_bob"
RATIONAL_POLYNOMIAL = "rational_polynomial"
EQUIDISTANT = "equidistant"
# Coefficient counts each model takes (an empty D means no distortion).
DISTORTION_COEFFICIENTS = {PLUMB_BOB: (0, 4, 5), RATIONAL_POLYNOMIAL: (0, 8), EQUIDISTANT: (0, 4)}
# Iterative undistortion: enough iterations to converge to 1e-10 in normalised units over a
# whole wide-angle image (OpenCV's default of 5 iterations leaves up to a pixel at the corners).
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics ``k`` (3x3), distortion ``d`` and its model, image size and optical frame."""

    width: int
    height: int
    k: np.ndarray
    d: np.ndarray
    distortion_model: str = PLUMB_BOB
    frame_id: str = ""
    _ray_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_camera_info(
        cls, width: int, height: int, distortion_model: str, d: Sequence[float],
        k: Sequence[float], frame_id: str = "",
    ) -> CameraModel:
        """A model from CameraInfo fields; :class:`SpatialError` names what cannot be used."""
        if int(width) <= 0 or int(height) <= 0:
            raise SpatialError(SIZE_INVALID, f"image size {width}x{height}")
        k_mat = np.asarray(k, dtype=np.float64)
        if k_mat.size != 9:
            raise SpatialError(K_INVALID, f"K has {k_mat.size} values, not 9")
        k_mat = k_mat.reshape(3, 3)
        if not np.isfinite(k_mat).all():
            raise SpatialError(K_INVALID, "K holds NaN or infinite values")
        if not k_mat.any():
            raise SpatialError(K_INVALID, "K is zero (the camera is not calibrated)")
        if k_mat[0, 0] <= 0 or k_mat[1, 1] <= 0:
            raise SpatialError(K_INVALID, f"fx={k_mat[0, 0]:g}, fy={k_mat[1, 1]:g}")
        if k_mat[2, 2] <= 0 or np.any(k_mat[[1, 2, 2], [0, 0, 1]] != 0):
            raise SpatialError(K_INVALID, "K is not [[fx, s, cx], [0, fy, cy], [0, 0, 1]]")
        k_mat = k_mat / k_mat[2, 2]
        model = distortion_model.strip().lower()
        if model not in DISTORTION_COEFFICIENTS:
            raise SpatialError(DISTORTION_UNSUPPORTED,
                               f"{distortion_model!r} (supported: "
                               f"{', '.join(DISTORTION_COEFFICIENTS)})")
        d_vec = np.asarray(d, dtype=np.float64).ravel()
        if d_vec.size not in DISTORTION_COEFFICIENTS[model]:
            raise SpatialError(D_INVALID, f"{model} takes {DISTORTION_COEFFICIENTS[model]} "
                               f"coefficients, D has {d_vec.size}")
        if not np.isfinite(d_vec).all():
            raise SpatialError(D_INVALID, "D holds NaN or infinite values")
        if d_vec.size == 0:
            d_vec = np.zeros(4 if model == EQUIDISTANT else 5)
        k_mat.setflags(write=False)
        d_vec.setflags(write=False)
        return cls(int(width), int(height), k_mat, d_vec, model, str(frame_id))

    @property
    def fx(self) -> float:
        return float(self.k[0, 0])

    @property
    def fy(self) -> float:
        return float(self.k[1, 1])

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def same_as(self, other: CameraModel | None) -> bool:
        """True when ``other`` has the same size, intrinsics, distortion and frame."""
        return (other is not None and self.size == other.size
                and self.distortion_model == other.distortion_model
                and self.frame_id == other.frame_id and np.array_equal(self.k, other.k)
                and np.array_equal(self.d, other.d))

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Normalised image coordinates (x/z, y/z) of pixels (N, 2), distortion removed."""
        pts = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        if not len(pts):
            return np.zeros((0, 2))
        if self.distortion_model == EQUIDISTANT:
            out = cv2.fisheye.undistortPoints(pts, self.k, self.d, criteria=_CRITERIA)
        else:
            out = cv2.undistortPoints(pts, self.k, self.d, None, None, None, _CRITERIA)
        return out.reshape(-1, 2)

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Rays (N, 3) in the optical frame through pixels (N, 2), scaled to z = 1."""
        xy = self.undistort(pixels)
        return np.concatenate([xy, np.ones((len(xy), 1))], axis=1)

    def pixel_rays(self) -> np.ndarray:
        """The ray (z = 1) of every pixel centre, (height, width, 3), computed once."""
        rays = self._ray_cache.get("grid")
        if rays is None:
            u, v = np.meshgrid(np.arange(self.width, dtype=np.float64),
                               np.arange(self.height, dtype=np.float64))
            rays = self.rays(np.stack([u.ravel(), v.ravel()], axis=1))
            rays = rays.reshape(self.height, self.width, 3)
            rays.setflags(write=False)
            self._ray_cache["grid"] = rays
        return rays

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) of points (N, 3) in the optical frame (z > 0), distortion applied."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 3)
        if not len(pts):
            return np.zeros((0, 2))
        zero = np.zeros(3)
        if self.distortion_model == EQUIDISTANT:
            out, _ = cv2.fisheye.projectPoints(pts, zero, zero, self.k, self.d)
        else:
            out, _ = cv2.projectPoints(pts, zero, zero, self.k, self.d)
        return out.reshape(-1, 2)
