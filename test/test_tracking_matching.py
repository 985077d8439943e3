"""Assignment semantics, +1-pixel IoU, cosine distance and motion fusion (spec section 5.3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from fairmot_ros.tracking import matching


def test_cost_limit_assignment_differs_from_hungarian_then_threshold():
    cost = np.array([[0.1, 0.35], [0.35, 0.9]])
    matches, u_rows, u_cols = matching.linear_assignment(cost, 0.4)
    assert matches.tolist() == [[0, 0]]
    assert u_rows.tolist() == [1] and u_cols.tolist() == [1]
    # Hungarian then threshold keeps two pairs (0,1) and (1,0), both below 0.4.
    rows, cols = linear_sum_assignment(cost)
    kept = [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= 0.4]
    assert sorted(kept) == [(0, 1), (1, 0)]


def test_scipy_fallback_gives_the_same_answer(monkeypatch):
    rng = np.random.default_rng(0)
    for _ in range(30):
        cost = rng.uniform(0, 1, (rng.integers(1, 6), rng.integers(1, 6)))
        cost[rng.random(cost.shape) < 0.2] = np.inf
        with_lap = matching.linear_assignment(cost, 0.5)
        monkeypatch.setattr(matching, "_lap", None)
        with_scipy = matching.linear_assignment(cost, 0.5)
        monkeypatch.undo()
        # Costs are continuous random values: the optimum is unique.
        for a, b in zip(with_lap, with_scipy, strict=True):
            np.testing.assert_array_equal(a, b)


def test_gated_pairs_are_never_matched_and_empty_inputs_work():
    cost = np.array([[np.inf, 0.1], [0.2, np.inf]])
    matches, _, _ = matching.linear_assignment(cost, 0.4)
    assert matches.tolist() == [[0, 1], [1, 0]]
    m, ur, uc = matching.linear_assignment(np.full((2, 2), np.inf), 0.4)
    assert len(m) == 0 and ur.tolist() == [0, 1] and uc.tolist() == [0, 1]
    m, ur, uc = matching.linear_assignment(np.zeros((0, 3)), 0.4)
    assert m.shape == (0, 2) and len(ur) == 0 and uc.tolist() == [0, 1, 2]


def test_iou_uses_plus_one_pixel_areas():
    a = np.array([[0.0, 0.0, 9.0, 9.0]])  # 10 x 10 with the +1 convention
    b = np.array([[5.0, 0.0, 14.0, 9.0], [10.0, 0.0, 19.0, 9.0], [9.0, 9.0, 20.0, 20.0]])
    iou = matching.iou_plus_one(a, b)
    # overlap 5 x 10 = 50, union 100 + 100 - 50 = 150; touching at x=9/10: no overlap;
    # corner pixel (9, 9): 1 / (100 + 144 - 1).
    np.testing.assert_allclose(iou, [[50 / 150, 0.0, 1 / 243]])
    np.testing.assert_allclose(matching.iou_distance(a, a), [[0.0]])
    assert matching.iou_plus_one(np.zeros((0, 4)), b).shape == (0, 3)


def test_embedding_distance_is_clipped_cosine():
    tracks = np.array([[1.0, 0.0], [0.0, 2.0]])
    dets = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 1.0]])
    d = matching.embedding_distance(tracks, dets)
    np.testing.assert_allclose(d, [[0, 2, 1 - np.sqrt(0.5)], [1, 1, 1 - np.sqrt(0.5)]], atol=1e-12)
    assert (d >= 0).all()


def test_fuse_motion_gates_then_mixes():
    cost = np.array([[0.2, 0.3]])
    gate = np.array([[1.0, 10.0]])
    fused = matching.fuse_motion(cost, gate, 9.4877, 0.98)
    assert fused[0, 0] == pytest.approx(0.98 * 0.2 + 0.02 * 1.0)
    assert fused[0, 1] == np.inf


def test_row_norms_are_the_sums_of_np_linalg_norm():
    x = np.random.default_rng(0).normal(size=(50, 128)).astype(np.float32)
    np.testing.assert_array_equal(matching.row_norms(x), np.linalg.norm(x, axis=1))
    np.testing.assert_array_equal(
        matching.row_norms(x.astype(np.float64), keepdims=True),
        np.linalg.norm(x.astype(np.float64), axis=-1, keepdims=True),
    )


def test_fuse_motion_and_iou_equal_their_formulas_bit_for_bit():
    rng = np.random.default_rng(1)
    cost, gate = rng.random((30, 40)), rng.random((30, 40)) * 20
    expected = 0.98 * np.where(gate > 9.4877, np.inf, cost) + (1 - 0.98) * gate
    np.testing.assert_array_equal(matching.fuse_motion(cost, gate, 9.4877, 0.98), expected)
    a = np.column_stack([rng.uniform(0, 500, (30, 2)), rng.uniform(20, 80, (30, 2))])
    a[:, 2:] += a[:, :2]
    b = a[rng.permutation(30)] + rng.normal(0, 10, (30, 4))
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    area = lambda q: (q[:, 2] - q[:, 0] + 1) * (q[:, 3] - q[:, 1] + 1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - iw * ih
    expected = np.where((iw > 0) & (ih > 0), iw * ih / union, 0.0)
    np.testing.assert_array_equal(matching.iou_plus_one(a, b), expected)
