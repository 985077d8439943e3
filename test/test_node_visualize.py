"""Debug drawing: stable per-id colours, boxes where the tracks are, bounded trails."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.visualize import TrailHistory, colour_for_id, draw_tracks


def test_colours_are_stable_and_distinct_for_neighbouring_ids() -> None:
    assert colour_for_id(5) == colour_for_id(5)
    assert colour_for_id("cam0/5") == colour_for_id("cam0/5")
    assert colour_for_id("cam0/5") != colour_for_id("cam1/5")
    colours = [colour_for_id(i) for i in range(1, 21)]
    assert len(set(colours)) == 20
    for a, b in zip(colours, colours[1:], strict=False):
        assert np.abs(np.subtract(a, b)).sum() > 60  # consecutive ids are easy to tell apart


def test_boxes_are_drawn_in_the_id_colour_and_the_input_is_untouched() -> None:
    image = np.full((120, 160, 3), 90, dtype=np.uint8)
    out = draw_tracks(image, np.array([[20.0, 30.0, 40.0, 60.0]]), [3], scores=[0.9])
    assert (image == 90).all()
    colour = colour_for_id(3)
    assert tuple(out[60, 20]) == colour  # left edge, below the label
    assert tuple(out[89, 40]) == colour  # bottom edge
    assert (out[60, 40] == 90).all()  # inside the box stays clear


def test_trails_follow_centres_and_forget_stale_ids() -> None:
    trails = TrailHistory(max_points=3, forget_after=2)
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    for step in range(5):
        draw_tracks(image, np.array([[10.0 + step, 10.0, 10.0, 10.0]]), [1], trails=trails)
    assert list(trails.points(1)) == [(17, 15), (18, 15), (19, 15)]
    for _ in range(3):
        trails.update([], np.empty((0, 2)))
    assert len(trails) == 0


def test_mismatched_ids_and_boxes_raise() -> None:
    with pytest.raises(ValueError):
        draw_tracks(np.zeros((10, 10, 3), np.uint8), np.zeros((2, 4)), [1])
