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
