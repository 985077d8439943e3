"""``fairmot-bench spatial`` on a few PETS frames: the report says what 3D added per frame,
part by part, and bad input is one line and exit 2. No timing goal is asserted."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rclpy", reason="rclpy is not importable: run through scripts/ros-env")
pytest.importorskip("sensor_msgs.msg")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("visualization_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from test_bench_cli import check_common_fields, check_stats, run_cli  # noqa: E402

from fairmot_ros.evaluation.people3d import PETS_CALIBRATION  # noqa: E402
from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video  # noqa: E402
from fairmot_ros.spatial.reasons import DEPTH_NONE  # noqa: E402

FEW = ["--sequence", "pets:401-410", "--frames", "5", "--warmup", "1"]
PARTS = ("scene", "stage", "add_positions", "publish")


@pytest.fixture(scope="module", autouse=True)
def pets_data():
    if not PETS_GT_PATH.is_file() or not PETS_CALIBRATION.is_file():
        pytest.skip("PETS09-S2L1 ground truth or calibration not in ../shared/data")
    if locate_pets_video() is None:
        pytest.skip("PETS09-S2L1 video not available (python -m fairmot_ros.sequences fetch-pets)")


def check_report(report: dict, mode: str, markers: bool) -> None:
    check_common_fields(report, "spatial")
    settings = report["settings"]
    assert (settings["mode"], settings["markers"], settings["image_size"]) == (
        mode, markers, "640x480")
    assert report["n"] == 5 and settings["target_frame"] == "world"
    total = report["image_thread_total"]
    check_stats(total, 5)
    for name in PARTS:  # every part timed each frame, and each is within the total
        part = report["image_thread_parts"][name]
        check_stats(part, 5)
        assert part["p50_ms"] <= total["p50_ms"] and part["max_ms"] <= total["max_ms"]
    serialize = report["serialize_within_publish"]
    check_stats(serialize, 5)
    assert serialize["max_ms"] <= report["image_thread_parts"]["publish"]["max_ms"]
    assert report["tracks_per_frame"] > 0 and report["people_measured"] > 0
    assert report["message_bytes"]["detections_3d"] > 0
    assert (report["message_bytes"]["markers"] is not None) == markers
    assert set(report["ms_median"]) >= {"total", *PARTS}


def test_ground_mode_tracks_with_the_shipped_model(tmp_path):
    target = tmp_path / "spatial.json"
    code, out, err = run_cli(["spatial", *FEW, "--threads", "1", "--json", str(target)])
    assert code == 0, err
    report = json.loads(out)
    assert json.loads(target.read_text()) == report
    check_report(report, "ground", markers=False)
    assert report["executor_on_depth"] is None and report["tracking"]["source"] == "model"


@pytest.mark.parametrize("mode", ["depth", "depth+ground"])
def test_depth_modes_with_markers_from_a_result_file(mode):
    code, out, err = run_cli(["spatial", *FEW, "--mode", mode, "--markers",
                              "--results", str(PETS_GT_PATH)])
    assert code == 0, err
    report = json.loads(out)
    check_report(report, mode, markers=True)
    check_stats(report["executor_on_depth"], 5)
    assert report["tracking"]["source"] == "results"
    assert DEPTH_NONE not in report["reasons"]  # every frame found its depth image


@pytest.mark.parametrize("argv", [
    ["--mode", "off"], ["--size", "640"], ["--frames", "0"], ["--warmup", "-1"],
    ["--sequence", "pets:401-405"], ["--results", "/no/such/results.txt"],
    ["--calibration", "/no/such/calibration.yaml"],
])
def test_bad_input_is_one_line_and_exit_2(argv):
    code, out, err = run_cli(["spatial", *argv])
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "error" in err
