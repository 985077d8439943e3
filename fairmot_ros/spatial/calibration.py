"""A camera calibration file: a CameraInfo and the camera's pose above flat ground.

The YAML layout is the one of ``../shared/data/pets09-s2l1/calibration.yaml``::

    camera_info: {width, height, distortion_model, d: [...], k: [9 values]}
    world_to_camera: {r: 3x3, t: [3]}     # X_cam = r X_world + t, metres, ground at Z = 0
    checks: [{foot_px: [u, v], ground_m: [x, y]}, ...]      # optional

:func:`load_calibration` returns the :class:`~fairmot_ros.spatial.camera.CameraModel` and the
:class:`~fairmot_ros.spatial.ground.GroundPose`; anything missing or unusable raises
:class:`CalibrationError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.ground import GroundPose, ground_points
from fairmot_ros.spatial.reasons import SpatialError


class CalibrationError(ValueError):
    """A calibration file cannot be read or used."""


@dataclass(frozen=True)
class Calibration:
    camera: CameraModel
    pose: GroundPose
    # (foot pixel (2,), ground point (2,)) pairs the file gives as checks
    checks: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    def scaled(self, width: int, height: int) -> Calibration:
        """The same camera resampled to ``width`` x ``height`` pixels (K scaled; the
        distortion acts on normalised coordinates and stays); checks scale with it."""
        sx, sy = width / self.camera.width, height / self.camera.height
        k = np.diag([sx, sy, 1.0]) @ self.camera.k
        k[:2, 2] += 0.5 * np.array([sx, sy]) - 0.5  # pixel centres stay pixel centres
        camera = CameraModel.from_camera_info(width, height, self.camera.distortion_model,
                                              self.camera.d, k.ravel(), self.camera.frame_id)
        checks = tuple(((px + 0.5) * [sx, sy] - 0.5, ground) for px, ground in self.checks)
        return Calibration(camera, self.pose, checks)

    def ground_of_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Ground-frame (x, y) of pixels (N, 2) on the ground; NaN above the horizon."""
        points, _ = ground_points(self.pose, self.camera.rays(pixels))
        return points[:, :2]


def load_calibration(path: str | Path) -> Calibration:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise CalibrationError(f"{path}: not a YAML mapping")
    try:
        info = doc["camera_info"]
        extrinsic = doc["world_to_camera"]
        camera = CameraModel.from_camera_info(
            info["width"], info["height"], info.get("distortion_model", "plumb_bob"),
            info.get("d", []), info["k"], info.get("frame_id", ""))
        pose = GroundPose(np.asarray(extrinsic["r"], dtype=np.float64),
                          np.asarray(extrinsic["t"], dtype=np.float64),
                          camera.frame_id, str(doc.get("world_frame", "world")))
        checks = tuple((np.asarray(c["foot_px"], dtype=np.float64),
                        np.asarray(c["ground_m"], dtype=np.float64))
                       for c in doc.get("checks") or ())
    except (KeyError, TypeError, ValueError) as exc:
        detail = exc.args[0] if isinstance(exc, SpatialError) else repr(exc)
        raise CalibrationError(f"{path}: {detail}") from None
    return Calibration(camera, pose, checks)
