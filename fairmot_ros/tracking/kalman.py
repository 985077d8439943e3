"""Constant-velocity Kalman filter on (x, y, a, h) boxes, batched over tracks.

State: [x, y, a, h, vx, vy, va, vh] with (x, y) the box centre, a = w / h, h the height and
velocities in units per *frame*. Every noise term scales with the box height, as in the
original FairMOT/DeepSORT filter (spec section 5.2).

Time: ``predict`` takes the elapsed time ``dt`` in frames. The transition is
F(dt) = [[I, dt I], [0, I]] and the process noise is Q(dt) = dt * Q1, with Q1 the original
per-frame noise diag([sp h, sp h, 1e-2, sp h, sv h, sv h, 1e-5, sv h]^2) evaluated at the
pre-prediction height. The noise therefore grows linearly with elapsed time (a random walk),
dt = 1 reproduces the original filter exactly and dt = 0 leaves the state unchanged.

All functions take stacks: means (N, 8), covariances (N, 8, 8), measurements (N, 4) or
(M, 4), so the tracker predicts and updates every track in a handful of numpy calls.
"""

from __future__ import annotations

import numpy as np

NDIM = 4


class KalmanFilter:
    """Batched FairMOT Kalman filter; the std weights are the only parameters."""

    def __init__(
        self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160
    ):
        self.std_weight_position = float(std_weight_position)
        self.std_weight_velocity = float(std_weight_velocity)
        self._update_mat = np.eye(NDIM, 2 * NDIM)

    @staticmethod
    def motion_matrix(dt: float = 1.0) -> np.ndarray:
        """F(dt): position += dt * velocity."""
        motion = np.eye(2 * NDIM)
        for i in range(NDIM):
            motion[i, NDIM + i] = dt
        return motion

    def initiate(self, measurements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from (N, 4) xyah measurements: zero velocity, height-scaled covariance."""
        z = np.asarray(measurements, dtype=np.float64).reshape(-1, NDIM)
        h = z[:, 3]
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        sp, sv = self.std_weight_position, self.std_weight_velocity
        ones = np.ones_like(h)
        std = np.stack(
            [2 * sp * h, 2 * sp * h, 1e-2 * ones, 2 * sp * h,
             10 * sv * h, 10 * sv * h, 1e-5 * ones, 10 * sv * h],
            axis=1,
        )  # fmt: skip
        return mean, _diag_stack(np.square(std))

    def process_noise(self, means: np.ndarray, dt: float = 1.0) -> np.ndarray:
        """Q(dt) = dt * Q1 for each track (N, 8, 8), Q1 evaluated at the current height."""
        h = means[:, 3]
        sp, sv = self.std_weight_position, self.std_weight_velocity
        ones = np.ones_like(h)
        std = np.stack(
            [sp * h, sp * h, 1e-2 * ones, sp * h, sv * h, sv * h, 1e-5 * ones, sv * h], axis=1
        )
        variance = np.square(std)
        if dt != 1.0:
            variance = variance * dt
        return _diag_stack(variance)

    def predict(
        self, means: np.ndarray, covariances: np.ndarray, dt: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Propagate (N, 8) means and (N, 8, 8) covariances by ``dt`` frames (dt >= 0)."""
        if dt < 0:
            raise ValueError(f"Kalman predict needs dt >= 0, got {dt}")
        if len(means) == 0:
            return means.copy(), covariances.copy()
        motion = self.motion_matrix(dt)
        noise = self.process_noise(means, dt)
        new_means = means @ motion.T
        new_covs = (motion @ covariances) @ motion.T + noise
        return new_means, new_covs

    def project(self, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement-space mean (N, 4) and innovation covariance S = H P H^T + R (N, 4, 4)."""
        h = means[:, 3]
        sp = self.std_weight_position
        std = np.stack([sp * h, sp * h, np.full_like(h, 1e-1), sp * h], axis=1)
        projected = covariances[:, :NDIM, :NDIM] + _diag_stack(np.square(std))
        return means[:, :NDIM].copy(), projected

    def update(
        self, means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct each track i with its own measurement i ((N, 4) xyah)."""
        if len(means) == 0:
            return means.copy(), covariances.copy()
        z_pred, s = self.project(means, covariances)
        # K = P H^T S^-1, solved as S K^T = H P (S is symmetric).
        gain = np.linalg.solve(s, covariances[:, :NDIM, :]).transpose(0, 2, 1)
        innovation = np.asarray(measurements, dtype=np.float64) - z_pred
        new_means = means + np.einsum("nij,nj->ni", gain, innovation)
        new_covs = covariances - gain @ s @ gain.transpose(0, 2, 1)
        return new_means, new_covs

    def gating_distance(
        self, means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray
    ) -> np.ndarray:
        """Squared Mahalanobis distance (N tracks, M measurements) over all 4 dimensions."""
        z = np.asarray(measurements, dtype=np.float64).reshape(-1, NDIM)
        if len(means) == 0 or len(z) == 0:
            return np.zeros((len(means), len(z)))
        z_pred, s = self.project(means, covariances)
        # d^T S^-1 d = |L^-1 d|^2 with S = L L^T; inverting N 4x4 factors once is much cheaper
        # than N solves with M right-hand sides each.
        inv_chol = np.linalg.inv(np.linalg.cholesky(s))
        diff = (z[None, :, :] - z_pred[:, None, :]).transpose(0, 2, 1)  # (N, 4, M)
        whitened = inv_chol @ diff
        return np.einsum("nim,nim->nm", whitened, whitened)


def _diag_stack(values: np.ndarray) -> np.ndarray:
    """(N, k) -> (N, k, k) diagonal matrices."""
    n, k = values.shape
    out = np.zeros((n, k, k))
    idx = np.arange(k)
    out[:, idx, idx] = values
    return out
