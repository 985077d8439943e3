"""Rigid transforms between frames: ``X_to = rotation @ X_from + translation``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from fairmot_ros.spatial.reasons import POSE_INVALID, SpatialError


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """Maps points of frame ``source`` into frame ``target``: ``rotation @ X + translation``.

    A rotation that is not proper (not orthonormal, determinant -1) or values that are not
    finite raise :class:`SpatialError` (``pose_invalid``).
    """

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)
    target: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, dtype=np.float64)
        t = np.asarray(self.translation, dtype=np.float64)
        if r.shape != (3, 3) or t.shape != (3,):
            raise SpatialError(POSE_INVALID, "rotation must be 3x3 and translation 3 values")
        if not (np.isfinite(r).all() and np.isfinite(t).all()):
            raise SpatialError(POSE_INVALID, "NaN or infinite values in the transform")
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
            raise SpatialError(POSE_INVALID, "the rotation is not a proper rotation matrix")
        object.__setattr__(self, "rotation", r)
        object.__setattr__(self, "translation", t)

    @classmethod
    def identity(cls, frame: str = "") -> RigidTransform:
        return cls(np.eye(3), np.zeros(3), frame, frame)

    @classmethod
    def from_quaternion(cls, translation: Sequence[float], quaternion_xyzw: Sequence[float],
                        target: str = "", source: str = "") -> RigidTransform:
        """tf's convention: the pose of ``source`` in ``target`` (translation, then the
        quaternion x, y, z, w, normalised here) maps ``source`` points into ``target``."""
        q = np.asarray(quaternion_xyzw, dtype=np.float64)
        t = np.asarray(translation, dtype=np.float64)
        if q.shape != (4,) or not np.isfinite(q).all() or np.linalg.norm(q) < 1e-9:
            raise SpatialError(POSE_INVALID, "the quaternion must be 4 finite, non-zero values")
        return cls(Rotation.from_quat(q).as_matrix(), t, target, source)

    def as_quaternion(self) -> np.ndarray:
        """The rotation as a quaternion (x, y, z, w)."""
        return Rotation.from_matrix(self.rotation).as_quat()

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Points (N, 3) of ``source`` in ``target``."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation

    def rotate(self, vectors: np.ndarray) -> np.ndarray:
        """Directions (N, 3) of ``source`` in ``target`` (no translation)."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation.T

    def rotate_covariances(self, covariances: np.ndarray) -> np.ndarray:
        """Covariances (N, 3, 3) of ``source`` in ``target``: R C R^T."""
        r = self.rotation
        return np.einsum("ij,njk,lk->nil", r, covariances, r)

    def inverse(self) -> RigidTransform:
        r = self.rotation.T
        return RigidTransform(r, -r @ self.translation, self.source, self.target)

    def then(self, other: RigidTransform) -> RigidTransform:
        """This transform followed by ``other`` (``other`` maps this one's target onwards)."""
        return RigidTransform(other.rotation @ self.rotation,
                              other.rotation @ self.translation + other.translation,
                              other.target, self.source)
