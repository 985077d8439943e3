"""The hard cap on live tracks (TrackerConfig.max_tracks) and the sane bounds of the config."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.tracking import JDETracker, TrackerConfig, TrackState

DIM = 8


def _people(xs: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = np.array([[x - 20, 150, x + 20, 250] for x in xs], np.float32).reshape(-1, 4)
    embeddings = np.zeros((len(xs), DIM), np.float32)
    for k, x in enumerate(xs):
        embeddings[k, int(x) % DIM] = 1.0
    return boxes, np.full(len(xs), 0.9, np.float32), embeddings


def _ids(tracker: JDETracker) -> dict[int, TrackState]:
    return {t.track_id: t.state for t in tracker.all_tracks()}


def test_over_the_cap_the_track_lost_longest_goes_first() -> None:
    tracker = JDETracker(TrackerConfig(max_tracks=3))
    tracker.update(*_people([100, 300, 500]), 0.0)  # ids 1, 2, 3
    tracker.update(*_people([100, 300]), 1 / 30)  # 3 is lost
    assert _ids(tracker) == {1: TrackState.Tracked, 2: TrackState.Tracked, 3: TrackState.Lost}
    assert tracker.capped_tracks == 0
    activated = tracker.update(*_people([100, 300, 900]), 2 / 30)  # 4 is born: one too many
    assert sorted(_ids(tracker)) == [1, 2, 4]
    assert tracker.capped_tracks == 1
    assert {t.track_id for t in activated} == {1, 2}


def test_the_store_never_exceeds_the_cap_whatever_the_parameters() -> None:
    # A frame rate this low keeps lost tracks for ages: without the cap the store would grow
    # by the number of new people each frame.
    config = TrackerConfig(frame_rate=0.1, track_buffer=100_000, max_tracks=20)
    tracker = JDETracker(config)
    rng = np.random.default_rng(0)
    for frame in range(60):
        xs = list(rng.uniform(0, 5000, size=8))
        activated = tracker.update(*_people(xs), frame / 30)
        assert len(tracker.all_tracks()) <= 20
        assert all(t.state != TrackState.Removed for t in activated)
    assert tracker.capped_tracks > 0
    # Tracks that were removed are gone for good, live ones are all tracked or lost.
    assert all(t.state in (TrackState.Tracked, TrackState.Lost) for t in tracker.all_tracks())


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"frame_rate": 1e-300}, "frame_rate"),
        ({"frame_rate": 5000.0}, "frame_rate"),
        ({"track_buffer": 10**9}, "track_buffer"),
        ({"max_tracks": 0}, "max_tracks"),
        ({"max_tracks": 10**6}, "max_tracks"),
        ({"gating_threshold": 1e300}, "gating_threshold"),
        ({"embedding_match_thresh": 1e300}, "embedding_match_thresh"),
        ({"std_weight_position": 1e300}, "std_weight_position"),
        ({"min_box_area": float("inf")}, "min_box_area"),
    ],
)
def test_out_of_bounds_values_are_refused_with_the_field_named(changes: dict, named: str) -> None:
    reasons = TrackerConfig(**changes).validate()
    assert any(named in reason for reason in reasons), reasons


def test_defaults_are_within_the_bounds() -> None:
    assert TrackerConfig().validate() == []
    assert TrackerConfig().max_tracks == 1000
