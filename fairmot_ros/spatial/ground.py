"""Flat ground under a camera: where a foot ray meets it, and how tall a person is.

A :class:`GroundPose` is the rigid transform from a ground frame (Z up, the ground at Z = 0)
to the camera's optical frame (x right, y down, z forward): ``X_cam = R X_ground + t``. It is
built from that transform itself (a calibration), from the camera's pose in the ground frame (a
tf transform: translation and quaternion of the optical frame in the ground frame), or from the
camera's height, pitch and roll above the ground (:meth:`GroundPose.from_height_pitch_roll`).

:func:`ground_points` intersects rays with the ground; :func:`person_heights` finds, for a foot
on the ground and the ray through the top of the person's box, the height of the point on the
vertical through the foot nearest to that ray (least squares between the two lines).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from fairmot_ros.spatial.reasons import POSE_INVALID, SpatialError
from fairmot_ros.spatial.transform import RigidTransform

# The optical frame's axes in a camera body frame (x forward, y left, z up; REP-103): optical
# x (right) = -y, optical y (down) = -z, optical z (forward) = x. Columns are the optical axes.
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# Person heights taken as plausible (metres); outside them a height is flagged.
PLAUSIBLE_HEIGHT = (1.0, 2.3)


class GroundPose(RigidTransform):
    """The ground frame -> camera optical frame transform (``target`` the camera's frame,
    ``source`` the ground frame); the ground is its Z = 0 plane, Z up."""

    @classmethod
    def from_transform(cls, transform: RigidTransform) -> GroundPose:
        return cls(transform.rotation, transform.translation, transform.target,
                   transform.source)

    @classmethod
    def from_camera_pose(cls, translation: Sequence[float], quaternion_xyzw: Sequence[float],
                         ground_frame: str = "", camera_frame: str = "") -> GroundPose:
        """From the optical frame's pose in the ground frame (tf's transform from the ground
        frame to the camera frame: translation and quaternion x, y, z, w)."""
        pose = RigidTransform.from_quaternion(translation, quaternion_xyzw, ground_frame,
                                              camera_frame)
        return cls.from_transform(pose.inverse())

    @classmethod
    def from_height_pitch_roll(cls, height: float, pitch: float, roll: float = 0.0,
                               ground_frame: str = "", camera_frame: str = "") -> GroundPose:
        """A camera ``height`` metres above the ground frame's origin, looking along its +X,
        ``pitch`` radians down (positive: towards the ground) and rolled by ``roll`` radians
        about its forward axis (REP-103 roll and pitch of a camera body, x forward, z up)."""
        values = np.array([height, pitch, roll], dtype=np.float64)
        if not np.isfinite(values).all() or height <= 0:
            raise SpatialError(POSE_INVALID, f"height {height} must be > 0, angles finite")
        body = Rotation.from_euler("xyz", [roll, pitch, 0.0]).as_matrix()
        pose = RigidTransform(body @ BODY_FROM_OPTICAL, np.array([0.0, 0.0, height]),
                              ground_frame, camera_frame)
        return cls.from_transform(pose.inverse())

    @functools.cached_property
    def camera_centre(self) -> np.ndarray:
        """The camera's position in the ground frame (read-only; worked out once per pose,
        which a static camera keeps, not four times a frame)."""
        centre = -self.rotation.T @ self.translation
        centre.setflags(write=False)
        return centre

    @property
    def height(self) -> float:
        """The camera's height above the ground."""
        return float(self.camera_centre[2])

    def to_ground(self, points: np.ndarray) -> np.ndarray:
        """Optical-frame points (N, 3) in the ground frame."""
        return (np.asarray(points, dtype=np.float64) - self.translation) @ self.rotation

    def directions_to_ground(self, vectors: np.ndarray) -> np.ndarray:
        """Optical-frame directions (N, 3) in the ground frame (rotation only)."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation


def ground_points(pose: GroundPose, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where rays (N, 3) of the optical frame meet the ground: points (N, 3) in the ground
    frame (Z = 0) and the distance along each ray scaled as given (the depth z for rays with
    z = 1). A ray that does not go down towards the ground ahead gives NaN."""
    directions = pose.directions_to_ground(rays)
    centre = pose.camera_centre
    down = directions[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(down < -1e-9, -centre[2] / down, np.nan)
    points = centre + scale[:, None] * directions
    return points, scale


def person_heights(pose: GroundPose, feet: np.ndarray, top_rays: np.ndarray) -> np.ndarray:
    """Height (N,) above the ground of the point on the vertical through each foot (ground
    frame, (N, 3)) nearest to the ray through the top of the person's box (optical frame)."""
    directions = pose.directions_to_ground(top_rays)
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    centre = pose.camera_centre
    # Closest points of the lines foot + h * up and centre + s * dir: solve the 2x2 normal
    # equations [[1, -dz], [-dz, 1]] [h, s] = [w_z, -w . dir], w = centre - foot.
    w = centre - feet
    dz = directions[:, 2]
    wd = np.einsum("ij,ij->i", w, directions)
    denominator = 1.0 - dz * dz
    with np.errstate(divide="ignore", invalid="ignore"):
        heights = (w[:, 2] - dz * wd) / denominator
    return np.where(denominator > 1e-12, heights, np.nan)


def plausible_height(heights: np.ndarray,
                     bounds: tuple[float, float] = PLAUSIBLE_HEIGHT) -> np.ndarray:
    """True where a height lies within ``bounds`` (metres)."""
    heights = np.asarray(heights, dtype=np.float64)
    return np.isfinite(heights) & (heights >= bounds[0]) & (heights <= bounds[1])
