"""A moving-camera recording replayed as a bag through the live node, as robot teams test.

Twenty frames of a moving-camera view of PETS09-S2L1 (real people, the shipped model) become
an MCAP bag (``video_to_bag``, what ``fairmot-bag from-video`` does); ``fairmot-demo --bag``
plays it in lock-step into ``tracker_node`` with ``tracker.camera_motion:=sparse_flow``,
records the outputs into a bag and writes them as MOT rows. Those rows must equal the core
loop's (``fairmot-eval`` with the same setting), and differ from the uncompensated loop's, so a
node or a replay path that dropped the setting would be noticed. Skipped without the PETS
video and its ground truth.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from fairmot_ros.default_model import DEFAULT_MODEL_PATH  # noqa: E402
from fairmot_ros.evaluation.cli import track_sequence  # noqa: E402
from fairmot_ros.evaluation.mot_io import read_mot  # noqa: E402
from fairmot_ros.evaluation.moving_camera import CameraPath, make_sequence  # noqa: E402
from fairmot_ros.replay.frames import video_to_bag  # noqa: E402
from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video, open_sequence  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FPS = 10.0
FRAMES = 20
# A small view (small messages) at the default path's magnification, panning fast.
PATH = CameraPath(width=320, height=240, zoom_min=0.5, zoom_max=0.55, pan_period=(10.0, 16.0),
                  shake_px=2.0)


def _rows(rows) -> np.ndarray:
    return np.array([[f, i, *tlwh] for f, i, tlwh in rows]).reshape(-1, 6)


def test_moving_camera_bag_through_the_node_equals_the_core_loop(tmp_path):
    if locate_pets_video() is None or not PETS_GT_PATH.is_file():
        pytest.skip("PETS09-S2L1 video or ground truth not available")
    if not DEFAULT_MODEL_PATH.is_file():
        pytest.skip("the shipped default model is not present")
    folder = tmp_path / "moving"
    make_sequence(f"pets:401-{400 + FRAMES}", folder, PATH, seed=5)
    sequence = open_sequence(folder)
    core = {
        method: _rows(track_sequence(DEFAULT_MODEL_PATH, sequence, threads=1,
                                     providers=("CPUExecutionProvider",),
                                     camera_motion=method)[0])
        for method in ("none", "sparse_flow")
    }
    assert core["none"].shape != core["sparse_flow"].shape or not np.array_equal(
        core["none"], core["sparse_flow"]), "the view does not move enough to tell"

    bag = tmp_path / "moving_bag"
    video_to_bag(open_sequence(folder / "img1"), bag, fps=FPS)
    out = tmp_path / "run"
    # domains 1..19 like the demo test: below node_support's 20..99
    command = [sys.executable, "-m", "fairmot_ros.replay.demo", "--bag", str(bag),
               "--gt", str(folder / "gt" / "gt.txt"), "--frames", f"1-{FRAMES}",
               "--out", str(out), "--domain-id", str(1 + (os.getpid() + 7) % 19),
               "--no-debug-image", "--param", "tracker.camera_motion:=sparse_flow",
               "--param", f"tracker.frame_rate:={FPS}", "--param", "intra_op_threads:=1",
               "--param", "providers:=[CPUExecutionProvider]"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "outputs_bag" / "metadata.yaml").is_file()
    published = read_mot(out / "results.txt")
    expected = core["sparse_flow"]
    assert published.shape[0] == expected.shape[0] > 0
    np.testing.assert_array_equal(published[:, :2], expected[:, :2])
    np.testing.assert_allclose(published[:, 2:6], expected[:, 2:6], atol=0.006)
