"""Synthetic depth images of a calibrated camera, and the 3D evaluation on PETS09-S2L1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fairmot_ros.evaluation import people3d
from fairmot_ros.evaluation.rgbd import DepthRenderer, Person, StereoNoise
from fairmot_ros.spatial.calibration import Calibration
from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.ground import GroundPose

CAMERA = CameraModel.from_camera_info(320, 240, "plumb_bob", [], [300, 0, 160, 0, 300, 120,
                                                                  0, 0, 1], "cam")
POSE = GroundPose.from_height_pitch_roll(3.0, np.radians(15.0))
CALIBRATION = Calibration(CAMERA, POSE)


def test_exact_depth_of_ground_and_person():
    renderer = DepthRenderer(CALIBRATION, StereoNoise.none(), body_radius=0.2)
    person = Person(1, np.array([10.0, 0.0]), 1.8)
    depth = renderer.exact([person])
    # straight ahead, under the horizon: the ground; the person's axis at 10 m
    ground_row = 200
    ray = CAMERA.rays(np.array([[300.0, ground_row]]))[0] @ POSE.rotation
    assert depth[ground_row, 300] == pytest.approx(-3.0 / ray[2])
    centre = CAMERA.project(POSE.apply(np.array([[10.0, 0.0, 1.0]])))[0].round().astype(int)
    front = POSE.apply(np.array([[9.8, 0.0, 1.0]]))[0, 2]
    assert depth[centre[1], centre[0]] == pytest.approx(front, abs=0.02)
    assert np.isinf(depth[0, 0])  # above the horizon: nothing
    image = renderer.render([person], np.random.default_rng(0))
    assert image.dtype == np.uint16 and image[0, 0] == 0
    assert image[centre[1], centre[0]] == pytest.approx(1000 * depth[centre[1], centre[0]],
                                                        abs=1)


def test_sensor_noise_grows_with_distance_and_leaves_holes():
    renderer = DepthRenderer(CALIBRATION, StereoNoise(blobs=0))
    truth = renderer.exact([Person(1, np.array([8.0, 0.0]), 1.8)])
    image = renderer.sensor(truth, np.random.default_rng(3)).astype(float) / 1000
    valid = image > 0
    seen = np.isfinite(truth) & (truth < 60)
    holes = 1 - valid[seen].mean()
    assert 0.01 < holes < 0.2
    errors = (image - truth)[valid & seen]
    near = valid & seen & (truth < 8)
    far = valid & seen & (truth > 20)
    assert np.std((image - truth)[far]) > 4 * np.std((image - truth)[near])
    assert abs(np.median(errors)) < 0.02
    # the occlusion shadow: the second camera (to the right) does not see the ground just left
    # of the person (4 px here: 11 px of disparity on the person, 7 on the ground behind)
    rows = slice(100, 115)
    cols = np.flatnonzero(np.isfinite(truth[110]) & (truth[110] < 9))
    assert cols.size and (~valid[rows, cols[0] - 3:cols[0]]).mean() > 0.8
    assert valid[rows, cols[-1] + 1:cols[-1] + 4].mean() > 0.8


@pytest.mark.parametrize("mode", ["ground", "depth"])
def test_people3d_short_pets_range(mode, shared_dir, tmp_path, capsys):
    """A short PETS09-S2L1 range through the tracker and the 3D stage (CI's short run)."""
    from fairmot_ros.sequences import locate_pets_video

    if locate_pets_video() is None:
        pytest.skip("PETS09-S2L1 video not available")
    out = tmp_path / "report.json"
    assert people3d.main(["--mode", mode, "--sequence", "pets:401-430", "--json",
                          str(out)]) == 0
    report = json.loads(out.read_text())
    assert report == json.loads(capsys.readouterr().out)
    filtered = report["filtered"]
    assert filtered["position_error_m"]["count"] > 50
    assert filtered["position_error_m"]["median"] < 0.3
    assert filtered["metrics"]["MOTA"] > 70
    assert report["floor"]["position_error_m"]["count"] > 50
    assert report["measurements"] == {mode: report["measurements"][mode]}


def test_people3d_refuses_bad_input(tmp_path, capsys):
    missing = tmp_path / "none.yaml"
    assert people3d.main(["--calibration", str(missing), "--results", str(missing)]) == 2
    assert "people3d:" in capsys.readouterr().err
