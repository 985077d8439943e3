"""Kalman filter against matrices derived by hand from spec section 5.2."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.tracking.kalman import KalmanFilter

SP, SV = 1 / 20, 1 / 160


def one(mean, cov):
    return np.asarray(mean)[None], np.asarray(cov)[None]


def test_initiate_mean_and_covariance():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([[100.0, 50.0, 0.5, 200.0]]))
    np.testing.assert_array_equal(mean[0], [100, 50, 0.5, 200, 0, 0, 0, 0])
    # std = [2 sp h, 2 sp h, 1e-2, 2 sp h, 10 sv h, 10 sv h, 1e-5, 10 sv h], h = 200
    expected = np.diag(np.square([20.0, 20.0, 1e-2, 20.0, 12.5, 12.5, 1e-5, 12.5]))
    np.testing.assert_allclose(cov[0], expected, rtol=1e-12)


def test_predict_one_frame_is_the_original_step():
    kf = KalmanFilter()
    mean = np.array([10.0, 20.0, 0.4, 100.0, 1.0, -2.0, 0.01, 3.0])
    cov = np.diag([4.0, 5.0, 0.1, 6.0, 1.0, 2.0, 0.001, 3.0])
    cov[0, 4] = cov[4, 0] = 0.5
    new_mean, new_cov = kf.predict(*one(mean, cov))
    np.testing.assert_allclose(new_mean[0], [11, 18, 0.41, 103, 1, -2, 0.01, 3])
    # F P F^T by hand for the coupled x/vx block: [[4 + 2*0.5 + 1, 0.5 + 1], [0.5 + 1, 1]].
    q = np.square([SP * 100, SP * 100, 1e-2, SP * 100, SV * 100, SV * 100, 1e-5, SV * 100])
    assert new_cov[0, 0, 0] == pytest.approx(6.0 + q[0])
    assert new_cov[0, 0, 4] == pytest.approx(1.5)
    assert new_cov[0, 4, 4] == pytest.approx(1.0 + q[4])
    assert new_cov[0, 3, 3] == pytest.approx(6.0 + 3.0 + q[3])  # h gets P_hh + P_vhvh + Q
    assert new_cov[0, 3, 7] == pytest.approx(3.0)
    assert new_cov[0, 2, 2] == pytest.approx(0.1 + 0.001 + 1e-4)
    np.testing.assert_allclose(new_cov[0], new_cov[0].T)


def test_predict_with_elapsed_frames_scales_motion_and_noise():
    kf = KalmanFilter()
    mean = np.array([[0.0, 0.0, 0.5, 80.0, 2.0, 1.0, 0.0, 0.5]])
    cov = np.eye(8)[None] * 0.0
    m2, c2 = kf.predict(mean, cov, dt=2.5)
    np.testing.assert_allclose(m2[0, :4], [5.0, 2.5, 0.5, 81.25])
    q1 = kf.process_noise(mean, 1.0)[0]
    np.testing.assert_allclose(np.diag(c2[0]), 2.5 * np.diag(q1))  # Q(dt) = dt * Q1
    m0, c0 = kf.predict(mean, cov + np.eye(8), dt=0.0)
    np.testing.assert_array_equal(m0, mean)
    np.testing.assert_array_equal(c0, cov + np.eye(8))
    with pytest.raises(ValueError):
        kf.predict(mean, cov, dt=-1.0)


def test_predict_is_batched_per_track():
    kf = KalmanFilter()
    means, covs = kf.initiate(np.array([[1, 2, 0.5, 50], [3, 4, 0.4, 120.0]]))
    means[:, 4] = [1.0, -1.0]
    both = kf.predict(means, covs)
    for i in range(2):
        single = kf.predict(means[i : i + 1], covs[i : i + 1])
        np.testing.assert_allclose(both[0][i], single[0][0])
        np.testing.assert_allclose(both[1][i], single[1][0])


def test_project_adds_measurement_noise():
    kf = KalmanFilter()
    mean = np.array([10.0, 20.0, 0.5, 100.0, 1, 1, 0, 0])
    cov = np.eye(8) * 2.0
    z, s = kf.project(*one(mean, cov))
    np.testing.assert_array_equal(z[0], mean[:4])
    np.testing.assert_allclose(np.diag(s[0]), [2 + 25, 2 + 25, 2 + 0.01, 2 + 25])


def test_update_matches_the_textbook_gain():
    kf = KalmanFilter()
    mean = np.array([10.0, 20.0, 0.5, 100.0, 1.0, 0.5, 0.0, 0.2])
    rng = np.random.default_rng(3)
    a = rng.normal(size=(8, 8))
    cov = a @ a.T + np.eye(8)
    z = np.array([12.0, 19.0, 0.52, 104.0])
    h = np.eye(4, 8)
    r = np.diag(np.square([5.0, 5.0, 0.1, 5.0]))
    s = h @ cov @ h.T + r
    gain = cov @ h.T @ np.linalg.inv(s)
    new_mean, new_cov = kf.update(*one(mean, cov), z[None])
    np.testing.assert_allclose(new_mean[0], mean + gain @ (z - h @ mean), rtol=1e-10)
    np.testing.assert_allclose(new_cov[0], cov - gain @ s @ gain.T, rtol=1e-9, atol=1e-12)


def test_gating_distance_is_squared_mahalanobis_over_four_dims():
    kf = KalmanFilter()
    mean = np.array([0.0, 0.0, 0.5, 100.0, 0, 0, 0, 0])
    cov = np.zeros((8, 8))
    # S = R = diag(25, 25, 0.01, 25): an offset of (5, 10, 0.1, 0) gives 1 + 4 + 1 + 0.
    d = kf.gating_distance(*one(mean, cov), np.array([[5.0, 10.0, 0.6, 100.0], mean[:4]]))
    np.testing.assert_allclose(d, [[6.0, 0.0]])
    assert kf.gating_distance(np.zeros((0, 8)), np.zeros((0, 8, 8)), mean[None, :4]).shape == (
        0,
        1,
    )


def test_batched_gating_equals_per_pair_mahalanobis_on_many_tracks():
    # The batched form whitens z and z_pred separately (one GEMM for all pairs); it must give
    # the per-pair d^T S^-1 d of tracks with realistic states and covariances.
    rng = np.random.default_rng(7)
    kf = KalmanFilter()
    z = np.column_stack([rng.uniform(0, 1920, 60), rng.uniform(0, 1080, 60),
                         rng.uniform(0.3, 0.5, 60), rng.uniform(60, 300, 60)])  # fmt: skip
    means, covs = kf.initiate(z)
    for _ in range(3):
        means, covs = kf.predict(means, covs)
        means, covs = kf.update(means, covs, z + rng.normal(0, 2, z.shape) * [1, 1, 0.01, 1])
    measurements = z[rng.permutation(60)[:45]] + rng.normal(0, 5, (45, 4)) * [1, 1, 0.01, 1]
    got = kf.gating_distance(means, covs, measurements)
    _, s = kf.project(means, covs)
    expected = np.array([[d @ np.linalg.solve(s[n], d) for d in measurements - means[n, :4]]
                         for n in range(len(means))])  # fmt: skip
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_predict_and_project_add_noise_exactly_like_full_diagonal_matrices():
    # Noise is added on the diagonal in place; the sums must be the very ones of
    # F P F^T + Q and P[:4, :4] + R with dense diagonal matrices.
    rng = np.random.default_rng(3)
    kf = KalmanFilter()
    means, covs = kf.initiate(np.column_stack([rng.uniform(0, 900, 20), rng.uniform(0, 600, 20),
                                               rng.uniform(0.3, 0.5, 20),
                                               rng.uniform(60, 300, 20)]))  # fmt: skip
    covs = covs + 0.1 * np.eye(8)[None]
    for dt in (1.0, 2.5):
        _, got = kf.predict(means, covs, dt)
        motion = kf.motion_matrix(dt)
        np.testing.assert_array_equal(got, (motion @ covs) @ motion.T
                                      + kf.process_noise(means, dt))  # fmt: skip
    _, s = kf.project(means, covs)
    sp = SP * means[:, 3]
    r = np.stack([np.diag(np.square([a, a, 1e-1, a])) for a in sp])
    np.testing.assert_array_equal(s, covs[:, :4, :4] + r)
