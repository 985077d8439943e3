"""Synthetic depth images for a calibrated camera: flat ground and upright people.

:class:`DepthRenderer` renders, for one frame, the depth image a depth camera registered to the
colour camera would see (REP-118 ``16UC1``, millimetres, 0 invalid): the ground plane of the
calibration, and each person as an upright cylinder (radius ``body_radius``) standing on the
ground at their position, as tall as their box says (:func:`people_from_boxes` turns MOT boxes
into positions and heights through the calibration). Nearer surfaces hide farther ones.

The sensor is a stereo pair (:class:`StereoNoise`): the depth is measured as a disparity
``d = f b / z``, disturbed by noise of ``disparity_sigma`` pixels (half of it white, half
correlated over ``noise_block`` x ``noise_block`` pixels, as block matching correlates it),
rounded to ``1/subpixel`` pixel and turned back into depth, so the error grows with the square
of the distance (``sigma_z = z^2 sigma_d / (f b)``). Holes as a real sensor has them: the
occlusion shadow beside each nearer object (pixels the second camera cannot see), mixed
"flying" depths on depth edges, scattered dropouts, a few blobs of missing texture, and
nothing beyond ``max_range`` or above the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fairmot_ros.evaluation.mot_io import HEIGHT, LEFT, TOP, TRACK_ID, WIDTH
from fairmot_ros.spatial.calibration import Calibration
from fairmot_ros.spatial.ground import person_heights

DEPTH_ENCODING = "16UC1"


@dataclass(frozen=True)
class StereoNoise:
    """A stereo depth sensor's errors (metres, pixels)."""

    baseline: float = 0.3
    disparity_sigma: float = 0.1
    noise_block: int = 4
    subpixel: int = 16
    max_range: float = 60.0
    dropout: float = 0.02  # fraction of pixels missing at random
    blobs: int = 3  # blobs of missing depth per frame
    blob_radius: tuple[int, int] = (6, 30)  # pixels
    flying: float = 0.5  # fraction of depth-edge pixels given a mixed depth
    edge_jump: float = 0.25  # a disparity step (px) that makes an edge

    @classmethod
    def none(cls) -> StereoNoise:
        """An exact sensor: no noise and no holes (range and horizon still apply)."""
        return cls(disparity_sigma=0.0, subpixel=0, dropout=0.0, blobs=0, flying=0.0,
                   edge_jump=float("inf"))


@dataclass(frozen=True)
class Person:
    """A person standing at ``xy`` (ground frame, metres), ``height`` metres tall."""

    track_id: int
    xy: np.ndarray
    height: float


def people_from_boxes(rows: np.ndarray, calibration: Calibration,
                      heights: tuple[float, float] = (1.4, 2.0)) -> list[Person]:
    """People of one frame's MOT boxes: the foot point on the ground, the height from the
    top of the box (clipped to ``heights``)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, rows.shape[-1] if len(rows) else 9)
    if not len(rows):
        return []
    cx = rows[:, LEFT] + 0.5 * rows[:, WIDTH]
    feet_px = np.stack([cx, rows[:, TOP] + rows[:, HEIGHT]], axis=1)
    tops_px = np.stack([cx, rows[:, TOP]], axis=1)
    camera, pose = calibration.camera, calibration.pose
    xy = calibration.ground_of_pixels(feet_px)
    feet = np.concatenate([xy, np.zeros((len(xy), 1))], axis=1)
    tall = np.clip(person_heights(pose, feet, camera.rays(tops_px)), *heights)
    return [Person(int(rows[i, TRACK_ID]), xy[i], float(tall[i]))
            for i in range(len(rows)) if np.isfinite(xy[i]).all() and np.isfinite(tall[i])]


class DepthRenderer:
    """Depth images of one calibrated camera; the ground's depth is computed once."""

    def __init__(self, calibration: Calibration, noise: StereoNoise | None = None,
                 body_radius: float = 0.18) -> None:
        self.calibration = calibration
        self.noise = noise or StereoNoise()
        self.body_radius = float(body_radius)
        camera, pose = calibration.camera, calibration.pose
        rays = camera.pixel_rays()  # (H, W, 3), z = 1: the scale along a ray is the depth
        self._directions = rays @ pose.rotation  # the same rays in the ground frame
        self._centre = pose.camera_centre
        down = self._directions[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            ground = np.where(down < -1e-9, -self._centre[2] / down, np.inf)
        self._ground = ground.astype(np.float64)
        self.focal = camera.fx

    @property
    def size(self) -> tuple[int, int]:
        return self.calibration.camera.size

    def exact(self, people: list[Person]) -> np.ndarray:
        """The true depth (metres, float64; inf where nothing is hit) of ground and people."""
        depth = self._ground.copy()
        for person in people:
            self._draw_person(depth, person)
        return depth

    def render(self, people: list[Person], rng: np.random.Generator) -> np.ndarray:
        """A ``16UC1`` depth image (uint16 millimetres, 0 invalid) with the sensor's noise."""
        return self.sensor(self.exact(people), rng)

    def sensor(self, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """True depth (metres) -> what the stereo sensor reports, uint16 millimetres."""
        noise = self.noise
        fb = self.focal * noise.baseline
        with np.errstate(divide="ignore"):
            disparity = np.where(np.isfinite(depth) & (depth > 0), fb / depth, 0.0)
        height, width = disparity.shape
        invalid = disparity <= fb / noise.max_range
        invalid |= self._occluded(disparity)
        if np.isfinite(noise.edge_jump):
            jump = np.maximum(
                np.abs(cv2.Sobel(disparity, cv2.CV_64F, 1, 0, ksize=3)),
                np.abs(cv2.Sobel(disparity, cv2.CV_64F, 0, 1, ksize=3))) / 4.0
            edges = jump > noise.edge_jump
            mixed = edges & (rng.random(disparity.shape) < noise.flying)
            disparity = np.where(mixed, cv2.blur(disparity, (3, 3)), disparity)
        if noise.disparity_sigma > 0:
            block = max(1, noise.noise_block)
            coarse = rng.standard_normal((height // block + 1, width // block + 1))
            correlated = cv2.resize(coarse, (width, height),
                                    interpolation=cv2.INTER_NEAREST)
            white = rng.standard_normal(disparity.shape)
            disparity = disparity + noise.disparity_sigma * np.sqrt(0.5) * (correlated + white)
        if noise.subpixel:
            disparity = np.round(disparity * noise.subpixel) / noise.subpixel
        if noise.dropout > 0:
            invalid |= rng.random(disparity.shape) < noise.dropout
        mask = np.zeros((height, width), np.uint8)
        for _ in range(noise.blobs):
            centre = (int(rng.integers(width)), int(rng.integers(height)))
            axes = tuple(int(a) for a in rng.integers(*noise.blob_radius, size=2))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        invalid |= mask.astype(bool)
        invalid |= disparity <= 0
        with np.errstate(divide="ignore"):
            metres = np.where(invalid, 0.0, fb / np.where(invalid, 1.0, disparity))
        millimetres = np.round(metres * 1000.0)
        millimetres[(millimetres > 65535) | (metres > noise.max_range)] = 0
        return millimetres.astype(np.uint16)

    def _occluded(self, disparity: np.ndarray) -> np.ndarray:
        """Pixels the second camera (to the right, as usual for a left-referenced disparity)
        does not see: a pixel to their right with a larger disparity lands on or left of
        them in the second image."""
        width = disparity.shape[1]
        landing = np.arange(width, dtype=np.float64)[None, :] - disparity
        # the leftmost landing of every pixel to the right of each pixel
        right_min = np.minimum.accumulate(landing[:, ::-1], axis=1)[:, ::-1]
        shifted = np.concatenate([right_min[:, 1:], np.full((len(landing), 1), np.inf)], 1)
        return (disparity > 0) & (shifted < landing - 0.5)

    def _draw_person(self, depth: np.ndarray, person: Person) -> None:
        camera, pose = self.calibration.camera, self.calibration.pose
        r = self.body_radius
        corners = np.array([[person.xy[0] + dx, person.xy[1] + dy, z]
                            for dx in (-r, r) for dy in (-r, r) for z in (0.0, person.height)])
        in_camera = pose.apply(corners)
        if (in_camera[:, 2] <= 0.1).any():
            return
        pixels = camera.project(in_camera)
        x0, y0 = np.floor(pixels.min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(pixels.max(axis=0)).astype(int) + 2
        x0, x1 = max(x0, 0), min(x1, camera.width)
        y0, y1 = max(y0, 0), min(y1, camera.height)
        if x0 >= x1 or y0 >= y1:
            return
        d = self._directions[y0:y1, x0:x1]
        offset = self._centre[:2] - person.xy
        a = d[..., 0] ** 2 + d[..., 1] ** 2
        b = 2.0 * (d[..., 0] * offset[0] + d[..., 1] * offset[1])
        c = offset @ offset - r * r
        disc = b * b - 4 * a * c
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (-b - np.sqrt(disc)) / (2 * a)
            z = self._centre[2] + s * d[..., 2]
            hit = (disc >= 0) & (s > 0) & (z >= 0) & (z <= person.height)
        region = depth[y0:y1, x0:x1]
        np.copyto(region, np.minimum(region, np.where(hit, s, np.inf)))
