"""The ROS 2 environment is real: messages cross DDS between separately started processes.

The publisher is started the way users start things (``scripts/ros-env python ...``); the
subscriber lives in the test process on its own rclpy context. Each run takes a random ROS
domain and localhost-only discovery, so parallel runs and other programs do not cross-talk.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not importable: run through scripts/ros-env")
vision_msgs_msg = pytest.importorskip("vision_msgs.msg")
fairmot_ros_msgs_msg = pytest.importorskip("fairmot_ros_msgs.msg")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

COUNT = 5


@pytest.fixture()
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    domain = random.randint(1, 101)  # ports of domains > 101 fall in Linux's ephemeral range
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


def _run_env(repo_root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(repo_root / "scripts" / "ros-env"), *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def test_imports_in_the_documented_environment(repo_root: Path) -> None:
    result = _run_env(
        repo_root, "python", "-c",
        "import rclpy, vision_msgs.msg, fairmot_ros_msgs.msg, fairmot_ros; "
        "from fairmot_ros_msgs.msg import Track, TrackArray; "
        "from vision_msgs.msg import Detection2DArray; print('ok')",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_publisher_process_to_subscriber_over_dds(repo_root: Path, ros_domain: int) -> None:
    namespace = f"/env_test_{os.getpid()}_{ros_domain}"
    publisher = subprocess.Popen(
        [
            str(repo_root / "scripts" / "ros-env"), "python",
            str(repo_root / "scripts" / "env_check.py"), "publish",
            "--namespace", namespace, "--count", str(COUNT), "--wait-subscribers", "30",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    detections: list = []
    tracks: list = []
    try:
        node = rclpy.create_node("env_test_subscriber", namespace=namespace, context=context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(
            vision_msgs_msg.Detection2DArray, "detections", detections.append, qos
        )
        node.create_subscription(fairmot_ros_msgs_msg.TrackArray, "tracks", tracks.append, qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 60
        while (len(detections) < COUNT or len(tracks) < COUNT) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if publisher.poll() is not None and publisher.returncode != 0:
                break
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        try:
            _, err = publisher.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            publisher.kill()
            _, err = publisher.communicate()
    assert publisher.returncode == 0, err
    assert len(detections) == COUNT and len(tracks) == COUNT, err

    for seq, (det_array, track_array) in enumerate(zip(detections, tracks, strict=True)):
        for header in (det_array.header, track_array.header):
            assert (header.stamp.sec, header.stamp.nanosec) == (1000 + seq, 500)
            assert header.frame_id == "camera_optical"
        first, second = det_array.detections
        assert (first.id, second.id) == ("1", "2")
        assert first.header == det_array.header
        assert first.bbox.center.position.x == 100.5 + seq
        assert first.bbox.center.position.y == 200.25
        assert (first.bbox.size_x, first.bbox.size_y) == (40.0, 80.5)
        assert second.bbox.center.position.x == 300.0
        hypothesis = first.results[0].hypothesis
        assert (hypothesis.class_id, hypothesis.score) == ("person", 0.75)

        tracked, lost = track_array.tracks
        Track = fairmot_ros_msgs_msg.Track
        assert (tracked.id, tracked.track_id, tracked.state) == ("1", 1, Track.STATE_TRACKED)
        assert tracked.bbox == first.bbox
        assert (tracked.velocity_x, tracked.velocity_y) == (12.5, -3.0)
        assert (tracked.start_stamp.sec, tracked.age.sec, tracked.age.nanosec) == (1000, seq, 500)
        assert len(tracked.embedding) == 0
        assert (lost.id, lost.track_id, lost.state, lost.score) == ("2", 2, Track.STATE_LOST, 0.5)
        assert lost.time_since_update.sec == 2
        assert list(lost.embedding) == pytest.approx([0.6, 0.8])


def test_environment_report_round_trip(repo_root: Path, ros_domain: int) -> None:
    """`make demo`'s check: in-process publisher and subscriber nodes, report in JSON."""
    import json

    result = _run_env(repo_root, "python", str(repo_root / "scripts" / "env_check.py"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dds_round_trip"]["fields_intact"] is True
    assert report["ros_domain_id"] == str(ros_domain)
    assert report["rmw_implementation"] == "rmw_fastrtps_cpp"
    assert report["packages"]["vision_msgs"]["found"]
    assert report["packages"]["fairmot_ros_msgs"]["found"]
    assert report["python"] == sys.version.split()[0]
