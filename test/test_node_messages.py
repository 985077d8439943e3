"""Track and statistics conversions: field mapping into vision_msgs, our messages, diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from fairmot_ros_msgs.msg import Track as TrackMsg  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection2D  # noqa: E402

from fairmot_ros.replay.results import detections_result  # noqa: E402
from fairmot_ros.ros.diagnostics import CameraStats, camera_status, engine_status  # noqa: E402
from fairmot_ros.ros.track_messages import (  # noqa: E402
    detection_array,
    duration_from_seconds,
    time_from_seconds,
    track_array,
)
from fairmot_ros.tracking import JDETracker, TrackerConfig  # noqa: E402

RNG = np.random.default_rng(3)


def _embeddings(n: int) -> np.ndarray:
    e = RNG.normal(size=(n, 8)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


@pytest.fixture
def tracker_after_three_frames() -> JDETracker:
    tracker = JDETracker(TrackerConfig())
    feats = _embeddings(2)
    for frame in range(3):
        boxes = np.array([[100 + 5 * frame, 50, 140 + 5 * frame, 150], [300, 80, 330, 160]], float)
        if frame == 2:  # the second object disappears: its track becomes lost
            tracker.update(boxes[:1], np.array([0.9]), feats[:1], 10.0 + frame / 30)
        else:
            tracker.update(boxes, np.array([0.9, 0.7]), feats, 10.0 + frame / 30)
    return tracker


def _header() -> Header:
    header = Header(frame_id="cam_optical")
    header.stamp.sec, header.stamp.nanosec = 1234, 500_000_000
    return header


def _arrays(msg) -> tuple[list[str], np.ndarray, np.ndarray]:
    result = detections_result(msg, frame=1)
    return result.ids, result.tlwh, result.scores


def test_detections_result_inverts_detection_array(
    tracker_after_three_frames: JDETracker,
) -> None:
    tracks = tracker_after_three_frames.all_tracks()
    msg = detection_array(tracks, _header(), "person", "front/")
    ids, tlwh, scores = _arrays(msg)
    assert ids == [f"front/{t.track_id}" for t in tracks] and len(ids) == 2
    np.testing.assert_allclose(tlwh, [t.tlwh for t in tracks])
    np.testing.assert_allclose(scores, [t.score for t in tracks], rtol=1e-6)


def test_detections_result_empty_and_without_hypothesis() -> None:
    ids, tlwh, scores = _arrays(detection_array([], _header(), "person"))
    assert ids == [] and tlwh.shape == (0, 4) and scores.shape == (0,)
    msg = detection_array([], _header(), "person")
    msg.detections = [Detection2D(id="4")]
    msg.detections[0].bbox.center.position.x, msg.detections[0].bbox.size_x = 10.0, 4.0
    ids, tlwh, scores = _arrays(msg)
    assert ids == ["4"] and np.isnan(scores[0])
    np.testing.assert_allclose(tlwh, [[8.0, 0.0, 4.0, 0.0]])


def test_detection_array_fields(tracker_after_three_frames: JDETracker) -> None:
    tracker = tracker_after_three_frames
    active = [t for t in tracker.all_tracks() if t.state == 1]
    header = _header()
    msg = detection_array(active, header, "person", "front/")
    assert msg.header == header and len(msg.detections) == 1
    (det,) = msg.detections
    (track,) = active
    left, top, width, height = track.tlwh
    assert det.header == header
    assert det.id == f"front/{track.track_id}"
    assert det.bbox.center.position.x == pytest.approx(left + width / 2)
    assert det.bbox.center.position.y == pytest.approx(top + height / 2)
    assert (det.bbox.size_x, det.bbox.size_y) == pytest.approx((width, height))
    assert det.bbox.center.theta == 0.0
    (hypothesis,) = det.results
    assert hypothesis.hypothesis.class_id == "person"
    assert hypothesis.hypothesis.score == pytest.approx(track.score)
    assert detection_array([], header, "person").detections == []


def test_track_array_fields(tracker_after_three_frames: JDETracker) -> None:
    tracker = tracker_after_three_frames
    store = tracker.all_tracks()
    msg = track_array(store, _header(), "", with_embeddings=True)
    by_id = {t.id: t for t in msg.tracks}
    assert set(by_id) == {"1", "2"}
    moving, gone = by_id["1"], by_id["2"]
    assert (moving.track_id, moving.state) == (1, TrackMsg.STATE_TRACKED)
    assert gone.state == TrackMsg.STATE_LOST
    assert moving.velocity_x > 0 and abs(moving.velocity_y) < 1e-6  # moved right only
    assert moving.start_stamp.sec == 10 and moving.start_stamp.nanosec == 0
    assert moving.age.sec == 0 and moving.age.nanosec == pytest.approx(66_666_667, abs=2)
    assert gone.time_since_update.nanosec == pytest.approx(33_333_333, abs=2)
    assert moving.time_since_update.sec == 0 and moving.time_since_update.nanosec == 0
    assert len(moving.embedding) == 8
    np.testing.assert_allclose(np.array(moving.embedding), store[0].embedding, rtol=1e-6)
    assert len(track_array(store, _header()).tracks[0].embedding) == 0


def test_time_conversions_round_and_clamp() -> None:
    t = time_from_seconds(1700000000.25)
    assert (t.sec, t.nanosec) == (1700000000, 250_000_000)
    d = duration_from_seconds(1.9999999999)
    assert (d.sec, d.nanosec) == (1, 999_999_999)
    assert duration_from_seconds(-0.5).sec == 0


def test_camera_stats_intervals_and_status() -> None:
    stats = CameraStats()
    for replaced in (False, True, False):
        stats.record_received(replaced, missed=0)
    stats.record_received(False, missed=3)
    stats.record_rejected("bad_step", "step 5 < width")
    stats.record_published(0.010, 0.012, 0.030)
    stats.record_published(0.020, 0.025, 0.050)
    summary = stats.interval(2.0)
    assert summary.input_rate == pytest.approx(2.0) and summary.output_rate == pytest.approx(1.0)
    assert summary.processing_mean_ms == pytest.approx(15.0)
    assert summary.processing_max_ms == pytest.approx(20.0)
    assert summary.age_max_ms == pytest.approx(50.0)
    assert (summary.total_dropped, summary.total_missed, summary.total_rejected) == (1, 3, 1)
    status = camera_status("cam0", "/image", summary, 4, True, stats.last_rejection)
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.WARN and "rejected" in status.message
    assert values["rejection reasons"] == "bad_step=1"
    assert values["active tracks"] == "4"
    quiet = stats.interval(1.0)  # next period: nothing happened, totals kept
    assert quiet.received == 0 and quiet.total_received == 4 and quiet.processing_max_ms == 0
    idle = camera_status("cam0", "/image", quiet, 0, True)
    assert idle.level == DiagnosticStatus.WARN and "no images" in idle.message
    assert camera_status("cam0", "/image", quiet, 0, False).level == DiagnosticStatus.OK


def test_engine_status_warns_when_the_gpu_is_missing() -> None:
    args = ("m.onnx", "demo", "yolov5s", (384, 288), "CPUExecutionProvider")
    reason = "this onnxruntime build has no CUDAExecutionProvider"
    missing = engine_status(*args, ("CUDAExecutionProvider", "CPUExecutionProvider"), reason)
    assert missing.level == DiagnosticStatus.WARN and "GPU requested" in missing.message
    assert reason in missing.message
    fine = engine_status(*args, ("CPUExecutionProvider",), None)
    values = {kv.key: kv.value for kv in fine.values}
    assert fine.level == DiagnosticStatus.OK and values["input size (WxH)"] == "384x288"
