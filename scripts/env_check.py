"""Check that fairmot_ros's ROS 2 environment is real, and show what it is made of.

    scripts/ros-env python scripts/env_check.py            # report (JSON) + DDS round trip
    scripts/ros-env python scripts/env_check.py publish    # publish sample messages (tests)

``report`` prints where ROS, vision_msgs (installed or our fallback build) and fairmot_ros_msgs
come from, which ONNX Runtime build and execution providers are present, and then sends
``vision_msgs/Detection2DArray`` and ``fairmot_ros_msgs/TrackArray`` messages from a publisher
node to a subscriber node over DDS and compares what arrives with what was sent. It exits
non-zero when the round trip fails.

``publish`` is the publishing half on its own: it waits for a subscriber on both topics, then
publishes ``--count`` numbered sample messages of each type. test/test_env_dds.py runs it as a
separate process, the way users start ROS programs, and checks the fields it receives.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from pathlib import Path

import rclpy
from builtin_interfaces.msg import Duration, Time
from fairmot_ros_msgs.msg import Track, TrackArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
)

DETECTIONS_TOPIC = "detections"
TRACKS_TOPIC = "tracks"
DEFAULT_NAMESPACE = "/fairmot_ros_env_check"
QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def _box(cx: float, cy: float, width: float, height: float) -> BoundingBox2D:
    box = BoundingBox2D(size_x=width, size_y=height)
    box.center.position.x = cx
    box.center.position.y = cy
    return box


def sample_messages(seq: int) -> tuple[Detection2DArray, TrackArray]:
    """Message number ``seq`` of the sample stream; every field depends on ``seq`` or is fixed.

    Two people: track 1 is tracked and moves 1 px per message to the right, track 2 is lost and
    carries a (two-value) embedding, so that every field kind of both messages is exercised.
    """
    header = Header(stamp=Time(sec=1000 + seq, nanosec=500), frame_id="camera_optical")
    boxes = [_box(100.5 + seq, 200.25, 40.0, 80.5), _box(300.0, 210.0, 38.0, 76.0)]
    detections = Detection2DArray(header=header)
    for number, box in enumerate(boxes, start=1):
        hypothesis = ObjectHypothesisWithPose(
            hypothesis=ObjectHypothesis(class_id="person", score=0.75)
        )
        detections.detections.append(
            Detection2D(header=header, results=[hypothesis], bbox=box, id=str(number))
        )
    tracked = Track(
        id="1", track_id=1, state=Track.STATE_TRACKED, score=0.75, bbox=boxes[0],
        velocity_x=12.5, velocity_y=-3.0, start_stamp=Time(sec=1000),
        age=Duration(sec=seq, nanosec=500), time_since_update=Duration(),
    )
    lost = Track(
        id="2", track_id=2, state=Track.STATE_LOST, score=0.5, bbox=boxes[1],
        start_stamp=Time(sec=990), age=Duration(sec=10 + seq, nanosec=500),
        time_since_update=Duration(sec=2), embedding=[0.6, 0.8],
    )
    return detections, TrackArray(header=header, tracks=[tracked, lost])


def _wait(node: Node, condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        rclpy.spin_once(node, timeout_sec=0.05)
    return True


def publish(
    namespace: str, count: int, period: float, wait_subscribers: float, linger: float
) -> int:
    """Publish ``count`` sample messages of each type once both topics have a subscriber."""
    rclpy.init()
    node = rclpy.create_node("fairmot_ros_env_publisher", namespace=namespace)
    try:
        det_pub = node.create_publisher(Detection2DArray, DETECTIONS_TOPIC, QOS)
        trk_pub = node.create_publisher(TrackArray, TRACKS_TOPIC, QOS)
        matched = _wait(
            node,
            lambda: det_pub.get_subscription_count() > 0 and trk_pub.get_subscription_count() > 0,
            wait_subscribers,
        )
        if not matched:
            print("no subscriber appeared on both topics", file=sys.stderr)
            return 1
        for seq in range(count):
            detections, tracks = sample_messages(seq)
            det_pub.publish(detections)
            trk_pub.publish(tracks)
            _wait(node, lambda: False, period)
        # Reliable delivery needs the publisher alive until the subscriber has acknowledged.
        _wait(node, lambda: False, linger)
        return 0
    finally:
        node.destroy_node()
        rclpy.shutdown()


def round_trip(count: int = 5, timeout: float = 10.0) -> dict:
    """Publisher and subscriber nodes in this process; rclpy delivers through DDS even so.

    The topics live in a namespace of their own (with this process id) so that other programs
    on the same ROS domain neither disturb nor see the check.
    """
    namespace = f"{DEFAULT_NAMESPACE}_{os.getpid()}"
    rclpy.init()
    pub_node = rclpy.create_node("fairmot_ros_env_check_pub", namespace=namespace)
    sub_node = rclpy.create_node("fairmot_ros_env_check_sub", namespace=namespace)
    received: dict[str, list] = {"detections": [], "tracks": []}
    try:
        sub_node.create_subscription(
            Detection2DArray, DETECTIONS_TOPIC, received["detections"].append, QOS
        )
        sub_node.create_subscription(TrackArray, TRACKS_TOPIC, received["tracks"].append, QOS)
        det_pub = pub_node.create_publisher(Detection2DArray, DETECTIONS_TOPIC, QOS)
        trk_pub = pub_node.create_publisher(TrackArray, TRACKS_TOPIC, QOS)
        executor = SingleThreadedExecutor()
        executor.add_node(pub_node)
        executor.add_node(sub_node)

        def spin_until(condition, limit: float) -> bool:
            deadline = time.monotonic() + limit
            while not condition() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            return condition()

        spin_until(
            lambda: det_pub.get_subscription_count() > 0 and trk_pub.get_subscription_count() > 0,
            timeout,
        )
        sent = [sample_messages(seq) for seq in range(count)]
        for detections, tracks in sent:
            det_pub.publish(detections)
            trk_pub.publish(tracks)
        spin_until(
            lambda: len(received["detections"]) >= count and len(received["tracks"]) >= count,
            timeout,
        )
    finally:
        pub_node.destroy_node()
        sub_node.destroy_node()
        rclpy.shutdown()
    # Generated messages compare field by field with ==.
    intact = [d for d, _ in sent] == received["detections"] and [
        t for _, t in sent
    ] == received["tracks"]
    return {
        "topics": [f"{namespace}/{DETECTIONS_TOPIC}", f"{namespace}/{TRACKS_TOPIC}"],
        "sent_per_topic": count,
        "received_detections": len(received["detections"]),
        "received_tracks": len(received["tracks"]),
        "fields_intact": intact,
        "ok": intact,
    }


def _package_info(name: str) -> dict:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = Path(get_package_prefix(name))
    except PackageNotFoundError:
        return {"found": False}
    info: dict = {"found": True, "prefix": str(prefix)}
    manifest = prefix / "share" / name / "package.xml"
    if name == "vision_msgs" and manifest.is_file():
        info["fallback_build"] = "fairmot_ros:fallback-vision_msgs" in manifest.read_text()
    return info


def _onnxruntime_info() -> dict:
    try:
        import onnxruntime
    except ImportError as error:
        return {"importable": False, "error": str(error)}
    builds = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            builds.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "importable": True,
        "package": builds,
        # The CUDA build lists CUDA even where CUDA libraries are missing; sessions then fall
        # back to the CPU, which only InferenceSession.get_providers() reveals.
        "available_providers": onnxruntime.get_available_providers(),
    }


def report() -> int:
    console_scripts = sorted(
        ep.name
        for ep in importlib.metadata.distribution("fairmot_ros").entry_points
        if ep.group == "console_scripts"
    )
    bin_dir = Path(sys.prefix) / "bin"
    summary = {
        "python": sys.version.split()[0],
        "prefix": sys.prefix,
        "ros_distro": os.environ.get("ROS_DISTRO"),
        "rmw_implementation": os.environ.get("RMW_IMPLEMENTATION"),
        "ros_domain_id": os.environ.get("ROS_DOMAIN_ID", "0"),
        "rclpy": importlib.metadata.version("ros-rclpy"),
        "packages": {
            name: _package_info(name) for name in ("vision_msgs", "fairmot_ros_msgs", "fairmot_ros")
        },
        "onnxruntime": _onnxruntime_info(),
        "console_scripts": {name: (bin_dir / name).exists() for name in console_scripts},
        "dds_round_trip": round_trip(),
    }
    print(json.dumps(summary, indent=2))
    return 0 if summary["dds_round_trip"]["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("report", help="environment report and DDS round trip (default)")
    pub = sub.add_parser("publish", help="publish numbered sample messages on both topics")
    pub.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the topics")
    pub.add_argument("--count", type=int, default=5)
    pub.add_argument("--period", type=float, default=0.05, help="seconds between messages")
    pub.add_argument("--wait-subscribers", type=float, default=30.0, help="seconds")
    pub.add_argument("--linger", type=float, default=1.0, help="seconds to stay up at the end")
    args = parser.parse_args(argv)
    if args.command == "publish":
        return publish(args.namespace, args.count, args.period, args.wait_subscribers, args.linger)
    return report()


if __name__ == "__main__":
    sys.exit(main())
