"""``CameraPipeline``: one camera's detect -> track -> filter step without ROS.

Each frame's events come back as values (store emptied and why, a second clock, tracks removed
by the cap), the tracker's ``step`` reports its own events, and the step is exactly the
tracker plus the original output filters (same ids and boxes as driving ``JDETracker`` by
hand). A scripted detector stands in for the network, so nothing here needs a model.
"""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.decode import Detections
from fairmot_ros.pipeline import (
    STORE_SIZE_CHANGE,
    STORE_TIME_REVERSAL,
    CameraPipeline,
    FrameEvents,
)
from fairmot_ros.tracking import JDETracker, TrackerConfig, filter_tracks

DIM = 8


def _detections(boxes: list[tuple[float, float, float, float]], seed: int = 0) -> Detections:
    """Detections at ``boxes`` (x1, y1, x2, y2) with one fixed embedding per box index."""
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(len(boxes), DIM)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4),
                      np.full(len(boxes), 0.9, np.float32), embeddings)


def _walkers(k: int) -> Detections:
    """Two people walking right, one a wide box (dropped by the aspect-ratio filter)."""
    return _detections([(10 + 3 * k, 20, 40 + 3 * k, 90), (100 + 2 * k, 50, 190 + 2 * k, 90)])


class ScriptedDetector:
    """``detect`` returns the next scripted result, whatever the image."""

    def __init__(self, results: list[Detections]) -> None:
        self.results = list(results)

    def detect(self, image: np.ndarray) -> Detections:
        return self.results.pop(0)


def _image(width: int = 320, height: int = 240) -> np.ndarray:
    return np.zeros((height, width, 3), np.uint8)


def test_step_is_the_tracker_and_the_original_filters():
    config = TrackerConfig(frame_rate=10.0)
    frames = [_walkers(k) for k in range(12)]
    pipeline = CameraPipeline(config, ScriptedDetector(frames))
    tracker = JDETracker(config)
    for k, dets in enumerate(frames):
        outcome = pipeline.step(_image(), k / 10.0)
        expected = tracker.update(dets.boxes, dets.scores, dets.embeddings, k / 10.0)
        shown = filter_tracks(expected, config.min_box_area, config.max_aspect_ratio)
        assert [t.track_id for t in outcome.tracks] == [t.track_id for t in shown]
        assert [t.track_id for t in outcome.activated] == [t.track_id for t in expected]
        for got, want in zip(outcome.tracks, shown, strict=True):
            np.testing.assert_array_equal(got.tlwh, want.tlwh)
        assert [t.track_id for t in outcome.store] == [t.track_id for t in tracker.all_tracks()]
        assert outcome.events == FrameEvents() and outcome.size == (320, 240)
        assert outcome.detections is dets and outcome.detect_s >= 0 and outcome.track_s > 0
    assert len(outcome.tracks) == 1 and len(outcome.activated) == 2  # the wide box is hidden


def test_stamps_going_back_empty_the_store_and_say_so():
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0))
    for k in range(3):
        outcome = pipeline.step(_image(), 5.0 + k / 10, detections=_walkers(k))
    ids = [t.track_id for t in outcome.store]
    outcome = pipeline.step(_image(), 1.0, detections=_walkers(0))  # the bag played again
    assert outcome.events.store_emptied == STORE_TIME_REVERSAL and outcome.events.time_reversal
    assert not outcome.events.other_clock
    assert min(t.track_id for t in outcome.store) > max(ids)  # ids keep counting
    assert pipeline.step(_image(), 1.1, detections=_walkers(1)).events == FrameEvents()


def test_a_new_image_size_empties_the_store_and_ids_restart():
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0))
    for k in range(3):
        pipeline.step(_image(), k / 10, detections=_walkers(k))
    outcome = pipeline.step(_image(640, 480), 0.3, detections=_walkers(3))
    assert outcome.events.store_emptied == STORE_SIZE_CHANGE
    assert outcome.events.previous_size == (320, 240) and outcome.size == (640, 480)
    assert sorted(t.track_id for t in outcome.store) == [1, 2]


def test_a_second_clock_on_the_stream_is_named_with_the_other_source():
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0))
    pipeline.step(_image(), 100.0, b"camera", _walkers(0))
    events = pipeline.step(_image(), 3.0, b"bag", _walkers(1)).events  # a new source: a bag
    assert events.time_reversal and not events.other_clock
    pipeline.step(_image(), 100.1, b"camera", _walkers(2))  # the first one again: two clocks
    events = pipeline.step(_image(), 3.1, b"bag", _walkers(3)).events
    assert events.time_reversal and events.other_clock and events.previous_source == b"camera"


def test_the_cap_reports_the_removed_tracks_of_that_frame():
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0, max_tracks=3))
    boxes = [(10 + 40 * i, 10, 30 + 40 * i, 60) for i in range(5)]
    outcome = pipeline.step(_image(), 0.0, detections=_detections(boxes))
    assert outcome.events.capped == 2 and len(outcome.store) == 3
    assert pipeline.tracker.capped_tracks == 2  # the tracker's running total agrees


def test_tracker_step_reports_its_events():
    tracker = JDETracker(TrackerConfig(frame_rate=10.0))
    dets = _detections([(10, 10, 30, 60), (50, 50, 50, 90)])  # the second has no width
    update = tracker.step(dets.boxes, dets.scores, dets.embeddings, 1.0)
    assert (update.time_reversal, update.capped, update.invalid_detections) == (False, 0, 1)
    assert [t.track_id for t in update.tracks] == [1]
    update = tracker.step(dets.boxes, dets.scores, dets.embeddings, 0.5)
    assert update.time_reversal and tracker.time_reversals == 1


def test_configure_reset_and_camera_motion_follow_the_config():
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0))
    assert pipeline.motion is None
    for k in range(3):
        pipeline.step(_image(), k / 10, detections=_walkers(k))
    assert pipeline.live_tracks() == 2
    assert pipeline.configure(TrackerConfig(frame_rate=10.0, camera_motion="sparse_flow")) is False
    assert pipeline.motion is not None and pipeline.live_tracks() == 2
    assert pipeline.configure(TrackerConfig(frame_rate=20.0)) is True  # timing: store emptied
    assert pipeline.motion is None and pipeline.live_tracks() == 0
    pipeline.step(_image(), 1.0, detections=_walkers(0))
    assert pipeline.reset() == 2 and pipeline.live_tracks() == 0
    with pytest.raises(ValueError, match="no detector"):
        pipeline.step(_image(), 2.0)


def test_a_publisher_counts_as_returning_only_after_its_images_were_tracked() -> None:
    # moved from test_node_diagnostics: the publisher history is now the pipeline's sources
    camera = CameraPipeline(TrackerConfig())
    assert camera.sources.note(b"live") is False
    assert camera.sources.note(b"bag") is False  # a new publisher: a restarted bag, say
    assert camera.sources.note(b"live") is True  # the first one again: two take turns
    assert camera.sources.note(None) is False
    for k in range(100):
        camera.sources.note(bytes([k]))
    assert len(camera.sources.sources) == 64 and b"live" not in camera.sources.sources


def test_the_pipeline_imports_without_ros_or_torch(repo_root):
    """Everything the pipeline and the two loops built on it load, with ROS and torch blocked
    (as ``test_core_imports`` does for the rest of the core)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("rclpy", "sensor_msgs", "vision_msgs", "std_msgs",
                                          "builtin_interfaces", "fairmot_ros_msgs", "torch"):
                    raise ImportError(f"{name} is blocked in this test")
                return None

        sys.meta_path.insert(0, Blocker())
        import fairmot_ros.pipeline, fairmot_ros.evaluation.cli, fairmot_ros.bench.pipeline
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True,
        env={"PYTHONPATH": str(repo_root), "PATH": "/usr/bin:/bin"}, timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
