"""Scripted scenes with answers known from spec section 5 (frame-rate timestamps)."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.tracking import JDETracker, TrackerConfig, TrackState, filter_tracks

FPS = 30.0
DIM = 16


def embedding(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def box(cx: float, cy: float, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def step(tracker, people, frame, score=0.9):
    """people: list of (box, embedding[, score]); returns {track_id: tlbr} of the output."""
    boxes = np.array([p[0] for p in people], dtype=np.float32).reshape(-1, 4)
    scores = np.array([p[2] if len(p) > 2 else score for p in people], dtype=np.float32)
    embs = np.array([p[1] for p in people], dtype=np.float32).reshape(len(people), DIM)
    out = tracker.update(boxes, scores, embs, frame / FPS)
    return {t.track_id: t.tlbr for t in out}


def test_two_people_crossing_keep_their_ids():
    tracker = JDETracker()
    ea, eb = embedding(1), embedding(2)
    seen_a, seen_b = set(), set()
    for f in range(60):
        xa, xb = 100 + 5 * f, 400 - 5 * f  # they overlap completely around frame 30
        out = step(tracker, [(box(xa, 200), ea), (box(xb, 205), eb)], f)
        assert len(out) == 2
        if abs(xa - xb) < 20:  # boxes coincide: position cannot tell them apart
            continue
        for tid, b in out.items():
            cx = (b[0] + b[2]) / 2
            (seen_a if abs(cx - xa) < abs(cx - xb) else seen_b).add(tid)
    assert seen_a == {1} and seen_b == {2}


@pytest.mark.parametrize("moving", [False, True])
def test_short_occlusion_keeps_the_id(moving):
    tracker = JDETracker()
    e = embedding(5)
    speed = 2.0 if moving else 0.0
    for f in range(40):
        visible = not (10 <= f < 30)  # 20 frames hidden, buffer 30
        out = step(tracker, [(box(200 + speed * f, 300), e)] if visible else [], f)
        if visible:
            assert list(out) == [1]
        else:
            assert out == {}


def test_occlusion_boundary_follows_the_removal_latency():
    """Last seen at frame e: back at e + buffer + 2 keeps the id, at e + buffer + 3 not."""
    buffer = TrackerConfig().buffer_size
    e = embedding(7)
    for gap, expected in ((buffer + 2, 1), (buffer + 3, 2)):
        tracker = JDETracker()
        for f in range(5):
            step(tracker, [(box(300, 300), e)], f)
        last = 4
        for f in range(last + 1, last + gap):
            assert step(tracker, [], f) == {}
        out = step(tracker, [(box(300, 300), e)], last + gap)
        if expected == 1:
            assert list(out) == [1]
        else:
            assert out == {}  # a new, unconfirmed track
            assert list(step(tracker, [(box(300, 300), e)], last + gap + 1)) == [2]


def test_track_refound_in_the_latency_frame_vanishes_when_lost_again():
    """The original's removed list is history: a track re-activated in the frame after its
    removal is dropped from the lost list the next time it is lost (spec 5.5 step 9.4)."""
    buffer = TrackerConfig().buffer_size
    e = embedding(8)
    tracker = JDETracker()
    for f in range(3):
        step(tracker, [(box(300, 300), e)], f)
    back = 2 + buffer + 2
    for f in range(3, back):
        step(tracker, [], f)
    assert list(step(tracker, [(box(300, 300), e)], back)) == [1]
    step(tracker, [], back + 1)
    assert tracker.all_tracks() == []  # not kept as lost
    step(tracker, [(box(300, 300), e)], back + 2)
    assert [t.track_id for t in tracker.all_tracks()] == [2]


def test_one_frame_false_positive_never_appears():
    tracker = JDETracker()
    e = embedding(1)
    outputs = []
    for f in range(10):
        people = [(box(100, 100), e)]
        if f == 4:
            people.append((box(600, 400), embedding(99)))
        outputs.append(step(tracker, people, f))
    assert all(list(out) == [1] for out in outputs)
    # The false positive consumed id 2, so the next birth gets 3.
    step(tracker, [(box(100, 100), e), (box(800, 300), embedding(3))], 10)
    assert sorted(step(tracker, [(box(100, 100), e), (box(800, 300), embedding(3))], 11)) == [
        1,
        3,
    ]


def test_first_frame_births_are_output_at_once_later_births_from_their_second_frame():
    tracker = JDETracker()
    a, b = embedding(1), embedding(2)
    assert list(step(tracker, [(box(100, 100), a)], 0)) == [1]
    assert list(step(tracker, [(box(100, 100), a), (box(500, 300), b)], 1)) == [1]
    out = step(tracker, [(box(100, 100), a), (box(503, 300), b)], 2)
    assert sorted(out) == [1, 2]
    tentative = [t for t in tracker.all_tracks() if not t.is_activated]
    assert tentative == []


def test_unconfirmed_track_needs_iou_overlap_in_the_next_frame():
    tracker = JDETracker()
    step(tracker, [], 0)
    step(tracker, [(box(100, 100), embedding(1))], 1)
    # Moved by a full box width: IoU < 0.3, the tentative track dies, a new one starts.
    step(tracker, [(box(150, 100), embedding(1))], 2)
    assert [t.track_id for t in tracker.all_tracks()] == [2]
    assert not tracker.all_tracks()[0].is_activated


def test_births_need_the_confidence_threshold():
    tracker = JDETracker(TrackerConfig(conf_thres=0.5))
    out = step(
        tracker, [(box(100, 100), embedding(1), 0.45), (box(400, 100), embedding(2), 0.6)], 0
    )
    assert list(out) == [1]


def test_output_boxes_are_kalman_posteriors_and_velocity_is_in_pixels_per_second():
    tracker = JDETracker()
    e = embedding(4)
    for f in range(60):
        jitter = 2.0 if f % 2 else -2.0  # noisy detections: the filter smooths them
        out = step(tracker, [(box(100 + 3 * f + jitter, 200), e)], f)
    detection = np.array(box(100 + 3 * 59 + 2.0, 200))
    track = tracker.all_tracks()[0]
    assert not np.allclose(out[1], detection, atol=1e-6)  # filtered, not the raw detection
    np.testing.assert_allclose(out[1], detection, atol=2.5)
    vx, vy = track.velocity
    assert vx == pytest.approx(3 * FPS, rel=0.1) and abs(vy) < 1.0
    assert track.state == TrackState.Tracked
    assert track.age == pytest.approx(59 / FPS) and track.time_since_update == 0.0
    assert track.start_time == 0.0


def test_lost_track_reports_time_since_update_and_dies_after_the_buffer():
    tracker = JDETracker(TrackerConfig(track_buffer=10))
    e = embedding(6)
    step(tracker, [(box(100, 100), e)], 0)
    step(tracker, [(box(100, 100), e)], 1)
    for f in range(2, 8):
        step(tracker, [], f)
    (track,) = tracker.all_tracks()
    assert track.state == TrackState.Lost
    assert track.time_since_update == pytest.approx(6 / FPS)
    for f in range(8, 1 + 10 + 3):
        step(tracker, [], f)
    assert tracker.all_tracks() == []


def test_duplicate_of_an_older_lost_track_is_removed():
    """A lost track and a younger tracked one on the same spot: the tracked one is dropped
    when it is not older (spec 5.5 step 9.6)."""
    tracker = JDETracker()
    old, new = embedding(1), embedding(2)
    for f in range(5):
        step(tracker, [(box(300, 300), old)], f)
    # Same place, different appearance: stage 1 rejects it (cosine ~1), stage 2 IoU matches it
    # to the tracked track, so make the old track lost first with an empty frame.
    step(tracker, [], 5)
    step(tracker, [(box(300, 300), new)], 6)  # tentative id 2 overlaps the lost id 1
    ids = {t.track_id: t for t in tracker.all_tracks()}
    assert set(ids) == {1}, "the younger duplicate (age 0 <= age 4) is removed"


def test_filter_tracks_applies_the_original_output_rules():
    tracker = JDETracker()
    people = [
        (box(100, 100, w=40, h=100), embedding(1)),  # kept
        (box(300, 100, w=200, h=100), embedding(2)),  # w/h = 2 > 1.6: dropped
        (box(500, 100, w=8, h=12), embedding(3)),  # area 96 <= 100: dropped
    ]
    tracks = tracker.update(
        np.array([p[0] for p in people]), np.full(3, 0.9), np.array([p[1] for p in people]), 0.0
    )
    assert [t.track_id for t in filter_tracks(tracks)] == [1]
    assert [t.track_id for t in filter_tracks(tracks, max_aspect_ratio=0)] == [1, 2]
    assert [t.track_id for t in filter_tracks(tracks, min_box_area=0, max_aspect_ratio=0)] == [
        1,
        2,
        3,
    ]


def test_reset_restarts_ids():
    tracker = JDETracker()
    step(tracker, [(box(100, 100), embedding(1))], 0)
    step(tracker, [(box(100, 100), embedding(1))], 1)
    tracker.reset()
    assert tracker.all_tracks() == []
    assert list(step(tracker, [(box(400, 100), embedding(2))], 0)) == [1]


def test_byte_pass_keeps_a_track_through_low_scores():
    e = embedding(3)
    low = 0.3

    def run(byte):
        tracker = JDETracker(TrackerConfig(byte_enabled=byte))
        history = []
        for f in range(12):
            score = low if 4 <= f < 8 else 0.9
            # The occluded person also looks different (embedding of the occluder).
            emb = embedding(50 + f) if 4 <= f < 8 else e
            history.append(step(tracker, [(box(200 + 2 * f, 200), emb, score)], f))
        return tracker, history

    plain_tracker, plain = run(False)
    byte_tracker, byte = run(True)
    assert all(list(out) == [1] for out in byte)
    assert byte_tracker.all_tracks()[0].score == pytest.approx(0.9)
    # Without the BYTE pass the low-score detections go through the normal stages (the
    # original behaviour: the detector is expected to have removed them).
    assert all(1 in out for out in plain)
    # With BYTE on, a lone low-score detection never starts a track.
    tracker = JDETracker(TrackerConfig(byte_enabled=True))
    assert step(tracker, [(box(100, 100), e, low)], 0) == {}
    assert tracker.all_tracks() == []


def test_byte_low_matches_do_not_change_the_appearance():
    tracker = JDETracker(TrackerConfig(byte_enabled=True))
    e = embedding(3)
    for f in range(3):
        step(tracker, [(box(200, 200), e)], f)
    before = tracker.all_tracks()[0].embedding.copy()
    step(tracker, [(box(201, 200), embedding(77), 0.3)], 3)
    (track,) = tracker.all_tracks()
    assert track.state == TrackState.Tracked and track.time_since_update == 0.0
    np.testing.assert_array_equal(track.embedding, before)
    assert track.score == pytest.approx(0.3)
