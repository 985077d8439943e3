"""The node with ``tracker.camera_motion:=sparse_flow`` reproduces the core loop exactly.

Fifteen frames of a moving-camera view of PETS09-S2L1 (real people, the shipped model) go
through the real node over DDS in lock-step; its published detections (ids and boxes) must
equal the rows of ``fairmot-eval``'s loop with the same setting. The same frames without
compensation give other ids, so the comparison would notice a node that ignored the
parameter. Skipped without the PETS video and its ground truth.
"""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from node_support import Bench, NodeProcess, domain_id, image_msg  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from fairmot_ros.default_model import default_model_path  # noqa: E402
from fairmot_ros.evaluation.cli import track_sequence  # noqa: E402
from fairmot_ros.evaluation.moving_camera import CameraPath, make_sequence  # noqa: E402
from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video, open_sequence  # noqa: E402

NODE = "/fairmot_tracker"
FPS = 10.0
# A small view (small messages) at the same magnification as the default path, panning fast.
PATH = CameraPath(width=320, height=240, zoom_min=0.5, zoom_max=0.55, pan_period=(10.0, 16.0),
                  shake_px=2.0)


def _boxes(rows) -> dict[int, dict[str, tuple[float, ...]]]:
    frames: dict[int, dict[str, tuple[float, ...]]] = {}
    for frame, track_id, (x, y, w, h) in rows:
        frames.setdefault(frame, {})[str(track_id)] = (x + w / 2, y + h / 2, w, h)
    return frames


def test_node_equals_core_on_a_moving_camera(tmp_path, monkeypatch):
    if locate_pets_video() is None or not PETS_GT_PATH.is_file():
        pytest.skip("PETS09-S2L1 video or ground truth not available")
    folder = tmp_path / "moving"
    make_sequence("pets:401-415", folder, PATH, seed=21)
    sequence = open_sequence(folder)
    model = default_model_path()
    core = {}
    for method in ("none", "sparse_flow"):
        rows, _ = track_sequence(model, sequence, threads=1, providers=("CPUExecutionProvider",),
                                 camera_motion=method)
        core[method] = _boxes(rows)
    assert core["none"] != core["sparse_flow"]

    # Fast DDS carries the images over shared memory instead of fragmenting them over UDP.
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    domain = domain_id(3)
    node = NodeProcess(model, domain, log_dir=tmp_path, params=[
        "tracker.camera_motion:=sparse_flow", f"tracker.frame_rate:={FPS}",
        "providers:=[CPUExecutionProvider]",
    ])
    bench = Bench(domain)
    try:
        node.wait_for_log("tracking with", timeout=90)
        outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
        publisher = bench.publisher(Image, "/image", reliable=True)
        bench.spin_until(lambda: publisher.get_subscription_count() > 0, 30, "node subscription")
        published = {}
        for k, (index, image) in enumerate(sequence.frames()):
            msg = image_msg(image, index / FPS)
            out = bench.send_and_wait(publisher, msg, outputs, timeout=60,
                                      resend_every=2.0 if k == 0 else None)
            published[index] = {
                d.id: (d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x,
                       d.bbox.size_y)
                for d in out.detections
            }
    finally:
        bench.close()
        node.kill()
    expected = core["sparse_flow"]
    assert len(published) == 15
    for index, tracks in published.items():
        assert set(tracks) == set(expected.get(index, {})), index
        for track_id, box in tracks.items():
            assert box == pytest.approx(expected[index][track_id], abs=1e-3), (index, track_id)
