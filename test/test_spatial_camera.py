"""Camera models from CameraInfo fields, their validation, and the PETS09-S2L1 calibration."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.spatial import reasons
from fairmot_ros.spatial.calibration import CalibrationError, load_calibration
from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.reasons import SpatialError

K = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
MODELS = {
    "plumb_bob": [-0.2, 0.05, 0.001, -0.002, 0.01],
    "rational_polynomial": [-0.2, 0.05, 0.001, -0.002, 0.01, 0.02, -0.01, 0.003],
    "equidistant": [0.05, -0.01, 0.002, -0.0005],
}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_undistort_inverts_projection(model):
    camera = CameraModel.from_camera_info(640, 480, model, MODELS[model], K, "cam")
    u, v = np.meshgrid(np.linspace(0, 639, 9), np.linspace(0, 479, 7))
    pixels = np.stack([u.ravel(), v.ravel()], axis=1)
    rays = camera.rays(pixels)
    assert np.allclose(rays[:, 2], 1.0)
    assert np.abs(camera.project(rays * 3.0) - pixels).max() < 1e-6
    # the distortion is applied: the corner ray differs from the pinhole one
    pinhole = (pixels - [320.0, 240.0]) / [500.0, 510.0]
    assert np.abs(rays[:, :2] - pinhole).max() > 1e-3


def test_empty_d_means_no_distortion():
    camera = CameraModel.from_camera_info(640, 480, "plumb_bob", [], K)
    assert np.allclose(camera.rays(np.array([[420.0, 291.0]]))[0], [0.2, 0.1, 1.0])


@pytest.mark.parametrize(
    ("k", "model", "d", "size", "reason"),
    [
        ([0.0] * 9, "plumb_bob", [], (640, 480), reasons.K_INVALID),
        ([np.nan, *K[1:]], "plumb_bob", [], (640, 480), reasons.K_INVALID),
        ([-500.0, *K[1:]], "plumb_bob", [], (640, 480), reasons.K_INVALID),
        (K[:8], "plumb_bob", [], (640, 480), reasons.K_INVALID),
        ([*K[:6], 1.0, 0.0, 1.0], "plumb_bob", [], (640, 480), reasons.K_INVALID),
        (K, "fisheye_magic", [], (640, 480), reasons.DISTORTION_UNSUPPORTED),
        (K, "plumb_bob", [0.1, np.inf, 0, 0, 0], (640, 480), reasons.D_INVALID),
        (K, "plumb_bob", [0.1, 0.2, 0.3], (640, 480), reasons.D_INVALID),
        (K, "equidistant", [0.1] * 5, (640, 480), reasons.D_INVALID),
        (K, "plumb_bob", [], (0, 480), reasons.SIZE_INVALID),
    ],
)
def test_unusable_camera_info_is_refused_with_its_reason(k, model, d, size, reason):
    with pytest.raises(SpatialError) as info:
        CameraModel.from_camera_info(size[0], size[1], model, d, k)
    assert info.value.reason == reason


def test_pixel_rays_of_the_whole_image_match_single_rays():
    camera = CameraModel.from_camera_info(64, 48, "plumb_bob", MODELS["plumb_bob"],
                                          [50, 0, 32, 0, 51, 24, 0, 0, 1])
    grid = camera.pixel_rays()
    assert grid.shape == (48, 64, 3)
    assert np.allclose(grid[10, 20], camera.rays(np.array([[20.0, 10.0]]))[0])
    assert camera.pixel_rays() is grid


def test_pets_calibration_checks(shared_dir):
    """The check values of calibration.yaml: foot pixels land on the ground within 2 mm."""
    calibration = load_calibration(shared_dir / "data" / "pets09-s2l1" / "calibration.yaml")
    assert len(calibration.checks) == 4
    for foot_px, ground_m in calibration.checks:
        assert np.abs(calibration.ground_of_pixels(foot_px[None])[0] - ground_m).max() < 2e-3
    assert calibration.pose.height == pytest.approx(7.06565763, abs=1e-6)
    # the same camera at 640x480 puts the same (scaled) pixels on the same ground points
    small = calibration.scaled(640, 480)
    for foot_px, ground_m in small.checks:
        assert np.abs(small.ground_of_pixels(foot_px[None])[0] - ground_m).max() < 2e-3


def test_calibration_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("camera_info: {width: 10, height: 10, k: [0,0,0,0,0,0,0,0,0]}\n"
                    "world_to_camera: {r: [[1,0,0],[0,1,0],[0,0,1]], t: [0,0,1]}\n")
    with pytest.raises(CalibrationError, match="camera_info_k_invalid"):
        load_calibration(path)
    with pytest.raises(CalibrationError, match="missing"):
        load_calibration(tmp_path / "missing.yaml")
