"""Target generation checked against maps computed by hand for a few boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairmot_ros.training.targets import build_targets, gaussian_kernel, gaussian_radius


def test_radius_rule_matches_hand_computation():
    # h = 10, w = 4 (grid units), min_overlap 0.7: the three candidate radii by hand.
    h, w = 10, 4
    r1 = ((h + w) + math.sqrt((h + w) ** 2 - 4 * w * h * 0.3 / 1.7)) / 2
    r2 = (2 * (h + w) + math.sqrt(4 * (h + w) ** 2 - 16 * 0.3 * w * h)) / 2
    r3 = (-1.4 * (h + w) + math.sqrt(1.96 * (h + w) ** 2 + 4 * 2.8 * 0.3 * w * h)) / 2
    assert gaussian_radius(h, w) == pytest.approx(min(r1, r2, r3))
    assert gaussian_radius(h, w) == pytest.approx(1.5859562619922265)
    assert gaussian_radius(1, 1) < 1  # tiny boxes get radius 0 after int()


def test_gaussian_kernel_sigma_is_diameter_over_six():
    kernel = gaussian_kernel(2)
    sigma = 5 / 6
    assert kernel.shape == (5, 5)
    assert kernel[2, 2] == 1.0
    assert kernel[2, 3] == pytest.approx(math.exp(-1 / (2 * sigma**2)))
    assert kernel[0, 0] == pytest.approx(math.exp(-8 / (2 * sigma**2)))
    assert gaussian_kernel(0).tolist() == [[1.0]]


def test_targets_for_two_boxes_one_partly_outside():
    # Input pixels, stride 4, 16x16 grid. Box A: (8, 8)-(24, 48) -> grid (2, 2)-(6, 12), centre
    # (4, 7), h 10, w 4 -> radius int(1.586) = 1. Box B runs out of the left edge:
    # (-10, 2)-(6, 42) -> grid (-2.5, 0.5)-(1.5, 10.5), centre (-0.5, 5.5) clipped to (0, 5.5).
    boxes = np.array([[8, 8, 24, 48], [-10, 2, 6, 42]], dtype=np.float64)
    t = build_targets(boxes, np.array([3, -1]), (16, 16))
    assert t.hm.shape == (1, 16, 16)
    assert t.reg_mask[:2].tolist() == [1, 1] and t.reg_mask[2:].sum() == 0
    # Box A: Gaussian radius 1 centred on (x 4, y 7).
    sigma = 3 / 6
    assert t.hm[0, 7, 4] == 1.0
    assert t.hm[0, 7, 5] == pytest.approx(math.exp(-1 / (2 * sigma**2)))
    assert t.hm[0, 8, 5] == pytest.approx(math.exp(-2 / (2 * sigma**2)))
    assert t.hm[0, 7, 6] == 0.0  # outside radius 1
    assert t.wh[0].tolist() == pytest.approx([2, 5, 2, 5])
    assert t.reg[0].tolist() == pytest.approx([0, 0])
    assert t.ind[0] == 7 * 16 + 4
    assert t.ids[0] == 3
    # Box B: centre clipped to x = 0, ltrb measured to the *unclipped* sides.
    assert t.ind[1] == 5 * 16 + 0
    assert t.reg[1].tolist() == pytest.approx([0.0, 0.5])
    assert t.wh[1].tolist() == pytest.approx([2.5, 5.0, 1.5, 5.0])
    assert t.hm[0, 5, 0] == 1.0
    assert t.ids[1] == -1 and t.ids[2] == -1


def test_degenerate_boxes_skipped_and_max_objects_respected():
    boxes = np.array([[0, 0, 0, 10], [0, 0, 8, 8], [4, 4, 12, 12], [8, 8, 16, 16]], float)
    t = build_targets(boxes, np.arange(4), (8, 8), max_objects=2)
    assert t.reg_mask.tolist() == [1, 1]
    assert t.ids.tolist() == [1, 2]
    with pytest.raises(ValueError):
        build_targets(boxes, np.arange(3), (8, 8))
