"""People in 3D through the live node over DDS: depth, fallback to the ground, outputs, counts.

``tracker_node`` runs the dot model (``node_support``) with ``spatial.mode:=depth+ground``, the
camera's pose from parameters (3 m above ``base_footprint``, pitched down) and the outputs in
``base_footprint``. The test publishes a CameraInfo, depth images for the first frames only
(registered 16UC1, every pixel 6 m) and colour frames of one person walking. Every frame must
still give its 2D detections; ``~/detections_3d`` carries the same ids, from depth while depth
comes and from the ground plane after; ``~/tracks`` carries the 3D state, ``~/markers`` a
cylinder and a label, and ``/diagnostics`` counts the frames without depth by reason.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("visualization_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from fairmot_ros_msgs.msg import TrackArray  # noqa: E402
from node_support import (  # noqa: E402
    INPUT_H,
    INPUT_W,
    Bench,
    NodeProcess,
    domain_id,
    dot_frame,
    dot_model,
    image_msg,
    stamp_of,
)
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from vision_msgs.msg import Detection2DArray, Detection3DArray  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from fairmot_ros.image_bytes import byte_array  # noqa: E402
from fairmot_ros.ros import diagnostic_keys as keys  # noqa: E402

NODE = "/fairmot_tracker"
PARAMS = ["qos_reliability:=reliable", "tracker.frame_rate:=10.0",
          "providers:=[CPUExecutionProvider]", "spatial.mode:=depth+ground",
          "spatial.pose_source:=height_pitch_roll", "spatial.camera_height:=3.0",
          "spatial.camera_pitch:=0.3", "spatial.target_frame:=base_footprint"]
FRAMES, WITH_DEPTH = 8, 4
DEPTH_M = 6.0


def _camera_info() -> CameraInfo:
    info = CameraInfo(width=INPUT_W, height=INPUT_H, distortion_model="plumb_bob",
                      d=[0.0] * 5, k=[150.0, 0.0, INPUT_W / 2, 0.0, 150.0, INPUT_H / 2,
                                      0.0, 0.0, 1.0])
    info.header.frame_id = "camera"
    return info


def _depth(seconds: float) -> Image:
    pixels = np.full((INPUT_H, INPUT_W), int(DEPTH_M * 1000), np.uint16)
    msg = Image(height=INPUT_H, width=INPUT_W, encoding="16UC1", is_bigendian=0,
                step=2 * INPUT_W, data=byte_array(pixels))
    msg.header.stamp = stamp_of(seconds)
    msg.header.frame_id = "camera"
    return msg


def _stamp(msg) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    domain = domain_id(4)
    node = NodeProcess(dot_model(), domain, PARAMS, log_dir=tmp_path_factory.mktemp("p3d"))
    bench = Bench(domain)
    try:
        log = node.wait_for_log("tracking with", timeout=120)
        outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
        outputs_3d = bench.collect(Detection3DArray, f"{NODE}/detections_3d")
        stores = bench.collect(TrackArray, f"{NODE}/tracks")
        markers = bench.collect(MarkerArray, f"{NODE}/markers")
        diagnostics = bench.collect(DiagnosticArray, "/diagnostics")
        images = bench.publisher(Image, "/image", reliable=True)
        depth = bench.publisher(Image, "/depth/image", reliable=True)
        info = bench.publisher(CameraInfo, "/camera_info", reliable=True)
        depth_info = bench.publisher(CameraInfo, "/depth/camera_info", reliable=True)
        bench.spin_until(lambda: all(p.get_subscription_count() > 0
                                     for p in (images, depth, info, depth_info)), 30,
                         "the node's subscriptions")
        for _ in range(5):  # CameraInfo is sent once per frame by drivers; a few are enough
            info.publish(_camera_info())
            depth_info.publish(_camera_info())
            bench.spin_for(0.1)
        for k in range(WITH_DEPTH):
            depth.publish(_depth(20.0 + k / 10))
        bench.spin_for(0.5)
        frames = []
        for k in range(FRAMES):
            msg = image_msg(dot_frame([(14 + k, 16)]), 20.0 + k / 10)
            frames.append(bench.send_and_wait(images, msg, outputs_3d, timeout=30,
                                              resend_every=2.0 if k == 0 else None))
        bench.spin_until(lambda: len(outputs) >= FRAMES and len(stores) >= FRAMES, 10,
                         "2D outputs")
        counts = bench.camera_values_after_now(diagnostics)
    finally:
        bench.close()
        node.kill()
    return log, frames, outputs, stores, markers, counts


def test_3d_outputs_carry_the_2d_ids(run):
    log, frames, outputs, stores, _, _ = run
    assert "people in 3D: depth+ground, pose from height_pitch_roll" in log
    by_stamp = {_stamp(o): o for o in outputs}
    located = 0
    for frame in frames:
        assert frame.header.frame_id == "base_footprint"
        ids_2d = {d.id for d in by_stamp[_stamp(frame)].detections}
        ids_3d = {d.id for d in frame.detections}
        assert ids_3d <= ids_2d  # never an id the 2D topic does not have
        located += len(ids_3d)
        for detection in frame.detections:
            assert detection.header.stamp == frame.header.stamp
            position = detection.bbox.center.position
            assert math.isfinite(position.x) and position.x > 0  # ahead of the camera
    assert located >= FRAMES - 1  # the first frame only confirms the track
    store = stores[-1]
    assert store.position_frame_id == "base_footprint"
    assert any(t.position_valid for t in store.tracks)


def test_depth_then_the_ground(run):
    _, frames, _, _, _, counts = run
    with_depth = [d for f in frames[:WITH_DEPTH] for d in f.detections]
    # depth 6 m along a ray pitched 0.3 rad down from 3 m: about 5.7 m ahead (+ the offset)
    assert with_depth and all(5.0 < d.bbox.center.position.x < 7.5 for d in with_depth)
    failures = keys.parse_reasons(counts[keys.SPATIAL_FAILURES])
    missing = failures.get("depth_behind", 0) + failures.get("no_depth", 0)
    assert missing >= FRAMES - WITH_DEPTH
    assert failures["fallback_to_ground"] >= FRAMES - WITH_DEPTH
    assert counts[keys.SPATIAL_MODE] == "depth+ground"
    assert int(counts[keys.SPATIAL_FRAMES]) >= FRAMES


def test_markers_have_a_cylinder_and_an_id(run):
    _, _, _, _, markers, _ = run
    last = next(m for m in reversed(markers) if len(m.markers) > 1)
    assert last.markers[0].action == Marker.DELETEALL
    kinds = {m.type for m in last.markers[1:]}
    assert kinds == {Marker.CYLINDER, Marker.TEXT_VIEW_FACING}
    assert all(m.lifetime.sec == 0 and m.lifetime.nanosec > 0 for m in last.markers[1:])
