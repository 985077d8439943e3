"""Time-aware behaviour, input validation and configuration checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairmot_ros.tracking import JDETracker, TrackerConfig, TrackState
from fairmot_ros.tracking.timebase import FrameClock

DIM = 8
E1 = np.eye(DIM, dtype=np.float32)[0]
E2 = np.eye(DIM, dtype=np.float32)[1]


def box(cx, cy=200.0, w=40.0, h=100.0):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def seen(tracker, t, people=()):
    boxes = np.array([p[0] for p in people], np.float32).reshape(-1, 4)
    embs = np.array([p[1] for p in people], np.float32).reshape(-1, DIM)
    out = tracker.update(boxes, np.full(len(people), 0.9, np.float32), embs, t)
    return [trk.track_id for trk in out]


def test_long_gap_expires_lost_tracks_with_few_callbacks():
    for gap, expect_same in ((0.8, True), (1.6, False)):
        tracker = JDETracker()
        for f in range(10):
            seen(tracker, f / 30, [(box(300), E1)])
        seen(tracker, 10 / 30)  # one empty callback: the track is lost
        t = 10 / 30 + gap
        ids = seen(tracker, t, [(box(300), E1)])
        if expect_same:
            assert ids == [1]
        else:
            assert ids == []  # the old track expired; a new tentative one starts
            assert seen(tracker, t + 1 / 30, [(box(300), E1)]) == [2]


def test_gap_right_after_tracking_also_expires():
    tracker = JDETracker()
    for f in range(5):
        seen(tracker, f / 30, [(box(300), E1)])
    assert seen(tracker, 5.0, [(box(300), E1)]) == []
    assert [t.track_id for t in tracker.all_tracks()] == [2]


@pytest.mark.parametrize(("hidden_s", "same_id"), [(0.9, True), (1.5, False)])
def test_dropped_frames_keep_the_memory_in_seconds(hidden_s, same_id):
    """A 10 fps stream into a 30 fps configuration: 0.9 s is 9 callbacks but 27 frames (kept),
    1.5 s is 15 callbacks, fewer than the 30-frame buffer, but 45 frames of time (expired)."""
    tracker = JDETracker(TrackerConfig(frame_rate=30))
    t = 0.0
    for _ in range(10):
        seen(tracker, t, [(box(300), E1)])
        t += 0.1
    last = t - 0.1
    while t < last + hidden_s - 1e-9:
        seen(tracker, t)
        t += 0.1
    ids = seen(tracker, last + hidden_s, [(box(300), E1)])
    assert ids == ([1] if same_id else [])


def test_prediction_follows_elapsed_time():
    """A walker seen at 30 fps, then one frame after a 5-frame drop: the Kalman prediction
    moved by 5 steps, so the stage-1 gate and the IoU stage both still accept it."""
    tracker = JDETracker()
    for f in range(20):
        seen(tracker, f / 30, [(box(100 + 8 * f), E1)])
    (track,) = tracker.all_tracks()
    vx = track.velocity[0]
    assert vx == pytest.approx(240, rel=0.05)
    ids = seen(tracker, 25 / 30, [(box(100 + 8 * 25), E2)])  # other appearance: IoU only
    assert ids == [1]
    assert track.tlbr[0] == pytest.approx(100 + 8 * 25 - 20, abs=2)


def test_time_going_backwards_restarts_the_store_but_not_the_ids():
    tracker = JDETracker()
    for f in range(3):
        seen(tracker, 100 + f / 30, [(box(300), E1)])
    assert seen(tracker, 50.0, [(box(500), E2)]) == [2]  # a first frame again: confirmed
    assert tracker.time_reversals == 1
    assert [t.track_id for t in tracker.all_tracks()] == [2]
    assert tracker.frame_count == 1


def test_repeated_timestamp_is_a_zero_length_step():
    tracker = JDETracker()
    seen(tracker, 1.0, [(box(300), E1)])
    seen(tracker, 1.0, [(box(300), E1)])
    assert tracker.time_reversals == 0
    (track,) = tracker.all_tracks()
    assert track.state == TrackState.Tracked and track.time_since_update == 0.0


@pytest.mark.parametrize(
    ("boxes", "scores", "embs", "t", "message"),
    [
        ([[0, 0, 10, 10]], [0.9], [[1, 0]], math.nan, "timestamp"),
        ([[0, 0, 10, 10]], [0.9], [[1, 0]], "now", "timestamp"),
        ([[0, 0, math.nan, 10]], [0.9], [[1, 0]], 0.0, "NaN"),
        ([[0, 0, 10, 10]], [math.inf], [[1, 0]], 0.0, "NaN or inf"),
        ([[0, 0, 10, 10]], [0.9], [[math.nan, 0]], 0.0, "NaN"),
        ([[0, 0, 10]], [0.9], [[1, 0]], 0.0, "boxes must have shape"),
        ([[0, 0, 10, 10]], [0.9, 0.8], [[1, 0]], 0.0, "boxes must have shape"),
        ([[0, 0, 10, 10]], [0.9], [1, 0], 0.0, "embeddings must have shape"),
        ([[0, 0, 10, 10]], [0.9], [[0, 0]], 0.0, "all-zero"),
        ([[0, 0, 10, 10]], [[0.9]], [[1, 0]], 0.0, "scores must have shape"),
    ],
)
def test_bad_input_raises_a_clear_value_error(boxes, scores, embs, t, message):
    tracker = JDETracker()
    with pytest.raises(ValueError, match=message):
        tracker.update(np.array(boxes, float), np.array(scores), np.array(embs, float), t)
    assert tracker.all_tracks() == [] and tracker.frame_count == 0


def test_embedding_width_must_stay_the_same_until_reset():
    tracker = JDETracker()
    tracker.update(np.array([box(100)]), np.array([0.9]), np.ones((1, 4)), 0.0)
    with pytest.raises(ValueError, match="embedding width"):
        tracker.update(np.array([box(100)]), np.array([0.9]), np.ones((1, 5)), 0.1)
    tracker.reset()
    tracker.update(np.array([box(100)]), np.array([0.9]), np.ones((1, 5)), 0.0)


def test_empty_frames_accept_any_empty_shape_and_degenerate_boxes_are_dropped():
    tracker = JDETracker()
    assert tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 16)), 0.0) == []
    assert tracker.update([], [], [], 0.1) == []
    boxes = np.array([box(100), [50, 50, 50, 80], [10, 90, 20, 60]], np.float32)
    out = tracker.update(boxes, np.full(3, 0.9), np.eye(3, 4), 0.2)
    assert out == [] and tracker.dropped_detections == 2
    assert len(tracker.all_tracks()) == 1


def test_config_validation_names_each_problem():
    assert TrackerConfig().validate() == []
    bad = TrackerConfig(frame_rate=0, track_buffer=-1, conf_thres=1.5, motion_lambda=math.nan)
    reasons = bad.validate()
    assert any("motion_lambda" in r and "NaN" in r for r in reasons)
    bad = TrackerConfig(frame_rate=0, track_buffer=-1, conf_thres=1.5)
    reasons = " | ".join(bad.validate())
    for name in ("frame_rate", "track_buffer", "conf_thres"):
        assert name in reasons
    assert "byte_low_thres" in " ".join(
        TrackerConfig(byte_enabled=True, byte_low_thres=0.5).validate()
    )
    with pytest.raises(ValueError, match="frame_rate"):
        JDETracker(TrackerConfig(frame_rate=-5))


def test_config_derived_values():
    assert TrackerConfig().buffer_size == 30
    assert TrackerConfig(frame_rate=25).buffer_size == 25
    assert TrackerConfig(frame_rate=14).buffer_size == 14
    assert TrackerConfig().detector_threshold == 0.4
    assert TrackerConfig(byte_enabled=True, byte_low_thres=0.1).detector_threshold == 0.1
    assert TrackerConfig().with_values(track_buffer=60).buffer_size == 60


def test_frame_clock_snaps_round_off_only():
    clock = FrameClock(30.0)
    assert clock.advance(1_763_800_000.0) == 0.0
    assert clock.advance(1_763_800_000.0 + 1 / 30) == 1.0
    assert clock.advance(1_763_800_000.0 + 3 / 30) == 2.0
    assert clock.advance(1_763_800_000.0 + 3.5 / 30) == pytest.approx(0.5, abs=1e-4)
    assert clock.goes_back(1_763_800_000.0)
    with pytest.raises(ValueError):
        clock.advance(1_763_800_000.0)


def test_bool_fields_must_be_bools():
    assert "byte_enabled" in " ".join(TrackerConfig(byte_enabled="yes").validate())
    assert "track_buffer" in " ".join(TrackerConfig(track_buffer=True).validate())


def test_configure_applies_thresholds_and_resets_only_on_timing_changes():
    tracker = JDETracker()
    seen(tracker, 0.0, [(box(300), E1)])
    assert tracker.configure(TrackerConfig(conf_thres=0.95)) is False
    assert [t.track_id for t in tracker.all_tracks()] == [1]
    assert seen(tracker, 1 / 30, [(box(300), E1), (box(600), E2)]) == [1]  # 0.9 < 0.95: no birth
    with pytest.raises(ValueError):
        tracker.configure(TrackerConfig(iou_match_thresh=-1))
    assert tracker.config.conf_thres == 0.95
    assert tracker.configure(TrackerConfig(frame_rate=15)) is True
    assert tracker.all_tracks() == [] and tracker.clock.frame_rate == 15
    assert seen(tracker, 5.0, [(box(300), E1)]) == [1]


def test_assigning_config_goes_through_configure():
    tracker = JDETracker()
    seen(tracker, 0.0, [(box(300), E1)])
    tracker.config = TrackerConfig(frame_rate=10)
    assert tracker.clock.frame_rate == 10 and tracker.all_tracks() == []
    with pytest.raises(ValueError):
        tracker.config = TrackerConfig(conf_thres=2.0)
    assert tracker.config.frame_rate == 10


def test_tracks_handed_out_before_a_reversal_stay_readable():
    tracker = JDETracker()
    (old,) = [t for t in tracker.update(np.array([box(300)]), [0.9], [E1], 10.0)]
    tracker.update(np.array([box(300)]), [0.9], [E1], 10.5)
    tracker.update(np.zeros((0, 4)), [], np.zeros((0, DIM)), 3.0)  # time went back
    assert tracker.time_reversals == 1
    assert old.time_since_update == pytest.approx(0.0) and old.age == pytest.approx(0.5)
