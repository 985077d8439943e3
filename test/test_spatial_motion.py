"""The per-track constant-velocity filter in metres."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.spatial.motion import MotionSettings, PositionFilters, transition

R = 0.04 * np.eye(3)


def test_velocity_is_learnt_in_metres_per_second():
    filters = PositionFilters(MotionSettings(accel_sigma=0.3))
    rng = np.random.default_rng(1)
    for k in range(60):
        t = 0.1 * k
        truth = np.array([1.2 * t, -0.5 * t, 0.0])
        filters.update(t, ["a"], (truth + rng.normal(0, 0.2, 3))[None], R[None])
    state = filters.state("a")
    assert state.measured
    assert np.allclose(state.velocity, [1.2, -0.5, 0.0], atol=0.25)
    assert np.allclose(state.position, [1.2 * 5.9, -0.5 * 5.9, 0.0], atol=0.3)
    assert np.allclose(state.covariance, state.covariance.T)
    assert np.all(np.linalg.eigvalsh(state.covariance) > 0)
    filters.predict(7.0)
    later = filters.state("a")
    assert not later.measured
    assert np.allclose(later.position, state.position + 1.1 * state.velocity)
    assert later.covariance[0, 0] > state.covariance[0, 0]


def test_predictions_compose():
    f1, q1 = transition(np.array([0.3]), 0.7)
    f2, q2 = transition(np.array([0.2]), 0.7)
    f, q = transition(np.array([0.5]), 0.7)
    assert np.allclose(f2[0] @ f1[0], f[0])
    assert np.allclose(f2[0] @ q1[0] @ f2[0].T + q2[0], q[0])


def test_tracks_are_batched_and_independent():
    filters = PositionFilters()
    filters.update(0.0, [1, 2], np.array([[0, 0, 0], [5, 5, 0.0]]), np.stack([R, R]))
    filters.update(0.1, [2, 3], np.array([[5.1, 5, 0], [9, 9, 0.0]]), np.stack([R, R]))
    assert sorted(filters.ids()) == [1, 2, 3]
    assert np.allclose(filters.state(1).position, 0.0)
    assert filters.state(2).position[0] > 5.0 and filters.state(3).position[0] == 9.0


def test_a_jump_is_skipped_once_then_restarts_the_track():
    filters = PositionFilters()
    for k in range(5):
        filters.update(0.1 * k, ["a"], np.array([[1.0, 1.0, 0.0]]), R[None])
    filters.update(0.5, ["a"], np.array([[30.0, 1.0, 0.0]]), R[None])
    assert filters.outliers == 1 and filters.state("a").position[0] < 2.0
    filters.update(0.6, ["a"], np.array([[30.0, 1.0, 0.0]]), R[None])
    assert filters.restarts == 1
    assert filters.state("a").position[0] == 30.0
    assert np.allclose(filters.state("a").velocity, 0.0)


def test_retain_drops_tracks_that_left_the_store_or_went_stale():
    filters = PositionFilters(MotionSettings(max_age=1.0))
    filters.update(0.0, ["a", "b", "c"], np.zeros((3, 3)), np.stack([R] * 3))
    filters.update(0.5, ["b"], np.zeros((1, 3)), R[None])
    assert filters.retain(["a", "b"], 0.6) == 1  # c left the store
    assert "c" not in filters and len(filters) == 2
    assert filters.retain(None, 1.2) == 1  # a: no measurement for more than 1 s
    assert filters.ids() == ["b"]
    filters.clear()
    assert len(filters) == 0 and filters.state("b") is None


@pytest.mark.parametrize("kwargs", [{"accel_sigma": 0}, {"gate": -1}, {"max_age": 0}])
def test_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        MotionSettings(**kwargs)


def _plain_transition(dt: np.ndarray, accel_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(dt)
    f = np.tile(np.eye(6), (n, 1, 1))
    f[:, :3, 3:] = dt[:, None, None] * np.eye(3)
    q = accel_sigma ** 2
    axes = np.arange(3)
    noise = np.zeros((n, 6, 6))
    noise[:, axes, axes] = (q * dt ** 3 / 3)[:, None]
    noise[:, axes, axes + 3] = noise[:, axes + 3, axes] = (q * dt ** 2 / 2)[:, None]
    noise[:, axes + 3, axes + 3] = (q * dt)[:, None]
    return f, noise


class _PlainFilters(PositionFilters):
    """The update step written out with every array indexed where it is used and the
    identity made per call: the batched filter must match it bit for bit."""

    def _update_known(self, stamp, ids, z, r):
        rows = self._rows(ids)
        self._predict(rows, stamp)
        mean, cov = self._mean[rows], self._cov[rows]
        innovation = z - mean[:, :3]
        s = cov[:, :3, :3] + r
        gain = np.linalg.solve(s, cov[:, :3, :]).transpose(0, 2, 1)
        distance = np.einsum("ni,ni->n", innovation,
                             np.linalg.solve(s, innovation[..., None])[..., 0])
        inlier = distance <= self.settings.gate
        restart = ~inlier & self._skipped[rows]
        take = inlier
        self._mean[rows[take]] = mean[take] + np.einsum("nij,nj->ni", gain[take],
                                                        innovation[take])
        i_kh = np.eye(6) - gain[take] @ np.eye(3, 6)
        self._cov[rows[take]] = (i_kh @ cov[take] @ i_kh.transpose(0, 2, 1)
                                 + gain[take] @ r[take] @ gain[take].transpose(0, 2, 1))
        self._measured[rows[take]] = stamp
        self._skipped[rows] = ~inlier & ~restart
        self.outliers += int(np.count_nonzero(~inlier & ~restart))
        if restart.any():
            self.restarts += int(np.count_nonzero(restart))
            self._initialise(rows[restart], stamp, z[restart], r[restart])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()  # -0.0 and NaN bits count


def test_the_batched_steps_equal_the_plain_ones():
    """Several tracks coming and going, jumps skipped once and restarted, a stale track,
    irregular steps: the same states, bit for bit, as the plain update and transition, and
    ``states()`` the same as ``state()`` per track."""
    rng = np.random.default_rng(5)
    dts = np.array([0.0, 1e-3, 0.1, 0.37, 2.5])
    for new, plain in zip(transition(dts, 0.5), _plain_transition(dts, 0.5), strict=True):
        assert _same(new, plain)
    batched, reference = PositionFilters(), _PlainFilters()
    truth = {tid: rng.normal(0, 5, 3) for tid in range(8)}
    stamp = 0.0
    for frame in range(80):
        stamp += float(rng.choice([0.05, 0.1, 0.13, 0.4]))
        ids = sorted(rng.choice(8, size=int(rng.integers(1, 7)), replace=False).tolist())
        for tid in ids:
            truth[tid] = truth[tid] + rng.normal(0, 0.1, 3)
        z = np.stack([truth[tid] for tid in ids]) + rng.normal(0, 0.05, (len(ids), 3))
        if frame % 9 == 4:
            z[0] += 25.0  # a jump: skipped, or a restart when the last one was skipped too
        a = rng.normal(0, 0.2, (len(ids), 3, 3))
        r = a @ a.transpose(0, 2, 1) + 1e-3 * np.eye(3)
        live = [tid for tid in range(8) if tid != frame % 11]
        for filters in (batched, reference):
            filters.update(stamp, ids, z, r)
            filters.retain(live, stamp + (6.0 if frame == 60 else 0.0))
            filters.predict(stamp)
        for name in ("_mean", "_cov", "_stamp", "_measured", "_skipped"):
            assert _same(getattr(batched, name), getattr(reference, name)), (frame, name)
        assert batched._index == reference._index
        assert (batched.outliers, batched.restarts) == (reference.outliers, reference.restarts)
        states = batched.states()
        assert list(states) == batched.ids()
        for tid, state in states.items():
            one = batched.state(tid)
            assert state.measured == one.measured
            for field in ("position", "velocity", "covariance"):
                assert _same(getattr(state, field), getattr(one, field))
    assert batched.outliers > 0 and batched.restarts > 0
