"""People in 3D through bags and the live node: an RGB-D bag of PETS09-S2L1, tracker_node, the
score (CI's short range of ``fairmot-bag people3d``), and ``eval3d`` on the recorded run."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")

from node_support import domain_id  # noqa: E402

from fairmot_ros.bags import BagReader  # noqa: E402
from fairmot_ros.replay import cli  # noqa: E402
from fairmot_ros.replay.people3d import DEPTH_TOPIC, IMAGE_TOPIC, INFO_TOPIC  # noqa: E402


@pytest.fixture(scope="module")
def pets(shared_dir):
    from fairmot_ros.sequences import locate_pets_video

    if locate_pets_video() is None:
        pytest.skip("PETS09-S2L1 video not available")
    return shared_dir / "data" / "pets09-s2l1"


@pytest.mark.parametrize("mode", ["ground", "depth"])
def test_people3d_through_the_node(mode, pets, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    status = cli.main(["people3d", "--mode", mode, "--frames", "401-420", "--out",
                       str(tmp_path / "run"), "--input", str(tmp_path / "input_bag"),
                       "--domain-id", str(domain_id(5)), "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert status == 0, capsys.readouterr().err
    run = report["run"]
    assert run["frames_sent"] == run["frames_answered"] == 20
    assert run["node_3d"]["3D mode"] == mode
    # only the warm-up frame (before any CameraInfo) misses its 3D
    assert run["node_3d"]["3D failures by reason"] in ("none", "no_camera_info=1")
    assert report["position_error_m"]["count"] > 40
    assert report["position_error_m"]["median"] < 0.3
    assert report["metrics"]["MOTA"] > 70
    with BagReader(tmp_path / "input_bag") as reader:
        topics = set(reader.topics)
    assert {IMAGE_TOPIC, INFO_TOPIC} <= topics and (DEPTH_TOPIC in topics) == (mode == "depth")
    # the recorded run scores the same through eval3d
    capsys.readouterr()
    assert cli.main(["eval3d", run["output_bag"], "--input", str(tmp_path / "input_bag"),
                     "--gt", str(pets / "gt.txt")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["position_error_m"] == report["position_error_m"]
    assert again["metrics"] == report["metrics"]
