"""Scoring of positions on the ground: errors, MOTA/IDF1 at a radius, speeds."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.evaluation.positions import (
    GroundRows,
    clear_identity,
    paired_rows,
    score_positions,
    smoothed_velocities,
)


def walkers(frames: int = 40, shift=(0.0, 0.0), ids=(1, 2)) -> GroundRows:
    rows = []
    for f in range(1, frames + 1):
        rows.append((f, ids[0], 0.1 * f + shift[0], 0.0 + shift[1]))
        rows.append((f, ids[1], 5.0 + shift[0], 0.05 * f + shift[1]))
    return GroundRows.from_rows(rows)


def test_perfect_positions():
    gt = walkers()
    report = score_positions(gt, walkers(), 1, 40)
    assert report["position_error_m"]["median"] == 0.0
    assert report["metrics"]["MOTA"] == 100.0 and report["metrics"]["IDF1"] == 100.0
    assert report["metrics"]["TP"] == 80 and "speed_error_mps" not in report


def test_offsets_within_and_beyond_the_radius():
    gt = walkers()
    near = score_positions(gt, walkers(shift=(0.3, 0.4)), 1, 40)
    assert near["position_error_m"]["median"] == pytest.approx(0.5)
    assert near["metrics"]["MOTA"] == 100.0
    far = score_positions(gt, walkers(shift=(1.2, 0.0)), 1, 40, radius=1.0)
    assert far["metrics"]["TP"] == 0 and far["metrics"]["FP"] == 80
    assert far["position_error_m"]["count"] == 0


def test_an_identity_switch_costs_idf1_and_one_idsw():
    gt = walkers()
    rows = [(f, (1 if f <= 20 else 3), 0.1 * f, 0.0) for f in range(1, 41)]
    rows += [(f, 2, 5.0, 0.05 * f) for f in range(1, 41)]
    metrics = clear_identity(gt, GroundRows.from_rows(rows), 1, 40, 1.0)
    assert metrics["IDSW"] == 1 and metrics["IDF1"] == pytest.approx(75.0)


def test_pairs_are_found_per_frame():
    gt = walkers(frames=3)
    hyp = walkers(frames=3, ids=(7, 8))
    g, h = paired_rows(gt, hyp, 1, 3, 1.0)
    assert len(g) == 6 and np.array_equal(gt.ids[g] + 6, hyp.ids[h])


def test_ground_truth_velocities_and_speed_errors():
    gt = smoothed_velocities(walkers(), frame_rate=10.0, window=1.0)
    inner = (gt.frames > 6) & (gt.frames < 34)
    speeds = np.linalg.norm(gt.velocity[inner], axis=1)
    assert np.allclose(np.sort(np.unique(speeds.round(6))), [0.5, 1.0])
    estimate = GroundRows(gt.frames, gt.ids, gt.xy, gt.velocity * 1.1)
    report = score_positions(walkers(), estimate, 7, 33, frame_rate=10.0)
    assert report["speed_error_mps"]["median"] == pytest.approx(0.075, abs=0.03)
    assert report["velocity_error_mps"]["p90"] == pytest.approx(0.1, abs=0.01)
