"""The demo's output side: message-to-result conversion, MOT rows, video/snapshot/contact sheet."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fairmot_ros.evaluation.mot_io import read_mot, write_mot_results
from fairmot_ros.replay.render import busiest_frame, render_outputs
from fairmot_ros.replay.results import FrameResult, mot_rows, numeric_track_id


def _result(frame: int, ids: list[str], boxes: list[list[float]]) -> FrameResult:
    tlwh = np.array(boxes, dtype=float).reshape(-1, 4)
    return FrameResult(frame, frame * 100_000_000, ids, tlwh, np.full(len(ids), 0.9))


def test_published_ids_become_mot_ids():
    table: dict[str, int] = {}
    assert numeric_track_id("12", table) == 12
    assert numeric_track_id("cam0/3", table) == 1_000_000
    assert numeric_track_id("cam1/3", table) == 1_000_001
    assert numeric_track_id("cam0/3", table) == 1_000_000


def test_mot_rows_round_trip_through_the_result_file(tmp_path):
    results = {
        5: _result(5, ["2", "1"], [[10, 20, 30, 60], [100.5, 40.25, 20, 50]]),
        3: _result(3, ["1"], [[99, 41, 20, 50]]),
        4: _result(4, [], []),
    }
    rows = mot_rows(results)
    assert [(f, i) for f, i, _ in rows] == [(3, 1), (5, 2), (5, 1)]
    written = read_mot(write_mot_results(tmp_path / "r.txt", rows))
    np.testing.assert_allclose(written[:, 2:6], [[99, 41, 20, 50], [10, 20, 30, 60],
                                                 [100.5, 40.25, 20, 50]])
    assert busiest_frame(results) == 5
    assert busiest_frame({}) is None


def test_busiest_frame_prefers_the_earliest_of_equals():
    results = {9: _result(9, ["1"], [[0, 0, 5, 5]]), 7: _result(7, ["1"], [[0, 0, 5, 5]])}
    assert busiest_frame(results) == 7


def test_result_from_detections_inverts_the_node_conversion():
    pytest.importorskip("vision_msgs.msg")
    pytest.importorskip("fairmot_ros_msgs.msg")
    from std_msgs.msg import Header

    from fairmot_ros.replay.lockstep import result_from_detections
    from fairmot_ros.ros.track_messages import detection_array

    tracks = [SimpleNamespace(track_id=7, tlwh=np.array([10.5, 20.25, 30.0, 60.0]), score=0.8),
              SimpleNamespace(track_id=2, tlwh=np.array([300.0, 40.0, 22.0, 51.0]), score=0.55)]
    header = Header(frame_id="camera")
    header.stamp.sec, header.stamp.nanosec = 40, 100_000_000
    result = result_from_detections(detection_array(tracks, header, "person"), frame=401)
    assert (result.frame, result.stamp_ns, result.ids) == (401, 40_100_000_000, ["7", "2"])
    np.testing.assert_allclose(result.tlwh, [t.tlwh for t in tracks])
    np.testing.assert_allclose(result.scores, [0.8, 0.55], rtol=1e-6)


def test_render_writes_every_frame_and_marks_missing_answers(tmp_path):
    frames = [(i, np.full((96, 128, 3), 40 * i, np.uint8)) for i in range(1, 6)]
    results = {
        1: _result(1, ["1"], [[10, 10, 20, 40]]),
        2: _result(2, ["1", "2"], [[12, 10, 20, 40], [60, 30, 20, 40]]),
        4: _result(4, ["2"], [[64, 30, 20, 40]]),
        5: _result(5, [], []),
    }
    rendered = render_outputs(frames, results, tmp_path, fps=10.0, title="T")
    assert rendered.frames_drawn == 5 and rendered.frames_without_output == [3]
    assert rendered.snapshot_frame == 2
    snapshot = cv2.imread(str(rendered.snapshot))
    assert snapshot.shape == (96, 128, 3)
    assert not np.array_equal(snapshot, frames[1][1])  # boxes and caption were drawn
    capture = cv2.VideoCapture(str(rendered.video))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == 5
    sheet = cv2.imread(str(rendered.contact_sheet))
    assert sheet.shape[0] == 2 * round(96 / 3) and sheet.shape[1] == 4 * round(128 / 3)


def test_render_of_nothing_writes_nothing(tmp_path):
    rendered = render_outputs([], {}, tmp_path / "x", fps=10.0, title="T")
    assert rendered.video is None and rendered.snapshot is None and rendered.frames_drawn == 0
