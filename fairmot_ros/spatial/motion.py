"""A constant-velocity Kalman filter per track, in metres and seconds, keyed by track id.

State ``[x, y, z, vx, vy, vz]`` in the output frame. Between two stamps the state moves with
its velocity and gains the process noise of a continuous white-noise acceleration of spectral
density ``accel_sigma**2`` (per axis: ``q [[dt^3/3, dt^2/2], [dt^2/2, dt]]``), so predictions
over any split of an interval agree. A new track starts at its first position with zero
velocity and ``initial_speed_sigma`` on each velocity axis. A measurement whose Mahalanobis
distance exceeds ``gate`` is skipped once; a second one in a row restarts the track there (the
2D track moved to someone else, or the person is really elsewhere). Tracks are removed by
:meth:`PositionFilters.retain` when their 2D track has left the store, or after ``max_age``
seconds without a measurement.

All tracks of a frame are predicted and updated together (stacked arrays), so the cost of a
frame hardly grows with the number of tracks.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

_H = np.eye(3, 6)
# Constants of every frame's filter steps, made once (np.eye and np.arange per call cost more
# than the arithmetic on a few tracks).
_EYE3, _EYE6 = np.eye(3), np.eye(6)
_AXES = np.arange(3)
_VELOCITY_AXES = _AXES + 3


@dataclass(frozen=True)
class MotionSettings:
    accel_sigma: float = 0.5  # m/s^2, white-noise acceleration
    initial_speed_sigma: float = 1.5  # m/s, a new track's velocity uncertainty per axis
    gate: float = 16.27  # chi-square, 3 degrees of freedom, 99.9%
    max_age: float = 5.0  # s without a measurement before a track is dropped

    def __post_init__(self) -> None:
        if self.accel_sigma <= 0 or self.initial_speed_sigma <= 0 or self.gate <= 0:
            raise ValueError("accel_sigma, initial_speed_sigma and gate must be > 0")
        if self.max_age <= 0:
            raise ValueError("max_age must be > 0")


@dataclass(frozen=True)
class TrackMotion:
    """One track's filtered state at a stamp: position (3,), velocity (3,) in m/s and the
    6x6 covariance of [position, velocity]; ``measured``: a measurement was taken at it."""

    position: np.ndarray
    velocity: np.ndarray
    covariance: np.ndarray
    measured: bool


def transition(dt: np.ndarray, accel_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """F (N, 6, 6) and Q (N, 6, 6) for time steps dt (N,) in seconds."""
    dt = np.asarray(dt, dtype=np.float64)
    n = len(dt)
    f = np.empty((n, 6, 6))
    f[:] = _EYE6
    f[:, :3, 3:] = dt[:, None, None] * _EYE3
    q = accel_sigma ** 2
    axes, velocity = _AXES, _VELOCITY_AXES
    noise = np.zeros((n, 6, 6))
    noise[:, axes, axes] = (q * dt ** 3 / 3)[:, None]
    noise[:, axes, velocity] = noise[:, velocity, axes] = (q * dt ** 2 / 2)[:, None]
    noise[:, velocity, velocity] = (q * dt)[:, None]
    return f, noise


class PositionFilters:
    """The filters of one camera's tracks."""

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self._index: dict[Hashable, int] = {}
        self._mean = np.zeros((0, 6))
        self._cov = np.zeros((0, 6, 6))
        self._stamp = np.zeros(0)  # the state's stamp
        self._measured = np.zeros(0)  # the last measurement's stamp
        self._skipped = np.zeros(0, dtype=bool)  # the last measurement was gated out
        self.restarts = 0  # tracks restarted by a second gated measurement in a row
        self.outliers = 0  # measurements skipped by the gate

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, track_id: Hashable) -> bool:
        return track_id in self._index

    def clear(self) -> None:
        self._index.clear()
        self._mean, self._cov = np.zeros((0, 6)), np.zeros((0, 6, 6))
        self._stamp, self._measured = np.zeros(0), np.zeros(0)
        self._skipped = np.zeros(0, dtype=bool)

    def update(self, stamp: float, ids: Sequence[Hashable], positions: np.ndarray,
               covariances: np.ndarray) -> None:
        """Predict the tracks ``ids`` to ``stamp`` and take their measured positions (N, 3)
        with covariances (N, 3, 3); unknown ids start a track."""
        positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        covariances = np.asarray(covariances, dtype=np.float64).reshape(-1, 3, 3)
        known = [i for i, tid in enumerate(ids) if tid in self._index]
        new = [i for i, tid in enumerate(ids) if tid not in self._index]
        if known:
            self._update_known(stamp, [ids[i] for i in known], positions[known],
                               covariances[known])
        if new:
            self._start([ids[i] for i in new], stamp, positions[new], covariances[new])

    def predict(self, stamp: float, ids: Iterable[Hashable] | None = None) -> None:
        """Move the tracks ``ids`` (default all) to ``stamp`` (never backwards)."""
        rows = np.arange(len(self._index)) if ids is None else self._rows(ids)
        if len(rows):
            self._predict(rows, stamp)

    def retain(self, live: Iterable[Hashable] | None, stamp: float) -> int:
        """Drop the tracks not in ``live`` (None keeps them all) and those without a
        measurement for ``max_age`` seconds before ``stamp``; returns how many went."""
        live_set = None if live is None else set(live)
        stale = stamp - self._measured > self.settings.max_age
        drop = [tid for tid, row in self._index.items()
                if stale[row] or (live_set is not None and tid not in live_set)]
        if drop:
            keep = np.setdiff1d(np.arange(len(self._index)), self._rows(drop))
            ids = list(self._index)
            self._mean, self._cov = self._mean[keep], self._cov[keep]
            self._stamp, self._measured = self._stamp[keep], self._measured[keep]
            self._skipped = self._skipped[keep]
            self._index = {ids[row]: new for new, row in enumerate(keep)}
        return len(drop)

    def state(self, track_id: Hashable) -> TrackMotion | None:
        row = self._index.get(track_id)
        if row is None:
            return None
        mean = self._mean[row]
        return TrackMotion(mean[:3].copy(), mean[3:].copy(), self._cov[row].copy(),
                           bool(self._measured[row] == self._stamp[row]))

    def states(self) -> dict[Hashable, TrackMotion]:
        """:meth:`state` of every track, in :meth:`ids` order: one copy of the filters'
        arrays, each track's state a view into it (a frame asks for all of them)."""
        mean, cov = self._mean.copy(), self._cov.copy()
        measured = (self._measured == self._stamp).tolist()
        return {tid: TrackMotion(mean[row, :3], mean[row, 3:], cov[row], measured[row])
                for tid, row in self._index.items()}

    def ids(self) -> list[Hashable]:
        return list(self._index)

    # -- internals -------------------------------------------------------------------------

    def _rows(self, ids: Iterable[Hashable]) -> np.ndarray:
        return np.array([self._index[tid] for tid in ids if tid in self._index], dtype=np.int64)

    def _predict(self, rows: np.ndarray, stamp: float) -> None:
        dt = np.maximum(stamp - self._stamp[rows], 0.0)
        f, q = transition(dt, self.settings.accel_sigma)
        self._mean[rows] = np.einsum("nij,nj->ni", f, self._mean[rows])
        self._cov[rows] = f @ self._cov[rows] @ f.transpose(0, 2, 1) + q
        self._stamp[rows] = np.maximum(self._stamp[rows], stamp)

    def _update_known(self, stamp: float, ids: list[Hashable], z: np.ndarray,
                      r: np.ndarray) -> None:
        rows = self._rows(ids)
        self._predict(rows, stamp)
        mean, cov = self._mean[rows], self._cov[rows]
        innovation = z - mean[:, :3]
        s = cov[:, :3, :3] + r
        gain = np.linalg.solve(s, cov[:, :3, :]).transpose(0, 2, 1)  # P H^T S^-1 (S symmetric)
        distance = np.einsum("ni,ni->n", innovation,
                             np.linalg.solve(s, innovation[..., None])[..., 0])
        inlier = distance <= self.settings.gate
        restart = ~inlier & self._skipped[rows]
        taken, k = rows[inlier], gain[inlier]
        self._mean[taken] = mean[inlier] + np.einsum("nij,nj->ni", k, innovation[inlier])
        i_kh = _EYE6 - k @ _H
        # Joseph form: stays symmetric positive definite whatever the rounding.
        self._cov[taken] = (i_kh @ cov[inlier] @ i_kh.transpose(0, 2, 1)
                            + k @ r[inlier] @ k.transpose(0, 2, 1))
        self._measured[taken] = stamp
        self._skipped[rows] = ~inlier & ~restart
        self.outliers += int(np.count_nonzero(~inlier & ~restart))
        if restart.any():
            self.restarts += int(np.count_nonzero(restart))
            self._initialise(rows[restart], stamp, z[restart], r[restart])

    def _start(self, ids: list[Hashable], stamp: float, z: np.ndarray, r: np.ndarray) -> None:
        base = len(self._index)
        n = len(ids)
        for k, tid in enumerate(ids):
            self._index[tid] = base + k
        self._mean = np.concatenate([self._mean, np.zeros((n, 6))])
        self._cov = np.concatenate([self._cov, np.zeros((n, 6, 6))])
        self._stamp = np.concatenate([self._stamp, np.zeros(n)])
        self._measured = np.concatenate([self._measured, np.zeros(n)])
        self._skipped = np.concatenate([self._skipped, np.zeros(n, dtype=bool)])
        self._initialise(np.arange(base, base + n), stamp, z, r)

    def _initialise(self, rows: np.ndarray, stamp: float, z: np.ndarray,
                    r: np.ndarray) -> None:
        self._mean[rows] = np.concatenate([z, np.zeros_like(z)], axis=1)
        cov = np.zeros((len(rows), 6, 6))
        cov[:, :3, :3] = r
        cov[:, 3:, 3:] = self.settings.initial_speed_sigma ** 2 * np.eye(3)
        self._cov[rows] = cov
        self._stamp[rows] = stamp
        self._measured[rows] = stamp
        self._skipped[rows] = False
