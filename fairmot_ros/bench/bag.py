"""``fairmot-bench bag``: can ``fairmot-bag play`` keep a camera's rate, and ``record`` keep up?

A bag of synthetic frames (default 1920x1080 bgr8 at 30 Hz, 6.2 MB a message) is written,
then played at the recorded rate by ``fairmot-bag play`` (a process, as users run it) while
``fairmot-bag record`` (another process) records the same topic over DDS, reliable, with
the large-data transport the demo uses. Reported, as JSON:

* ``write``: how fast the input bag was written (frames/s, MB/s);
* ``play``: the player's achieved rate and how often it fell behind (``late_publishes``);
* ``record``: messages received against published (``lost``), the receive rate, and the
  intervals between receptions (median/p90/max ms; 33.3 ms is on pace);
* ``outputs``: the same for a stream the size of the node's outputs (one
  ``Detection2DArray`` of 20 boxes per image) recorded beside the images;
* the machine and its load average, since the figures are only as quiet as the machine was.

Nothing here is a pass/fail test: the figures are printed, and doc/replay.md quotes them
("Speed of play and record").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fairmot_ros.bags import BagReader, BagWriter, QosSpec, message_class, serialize
from fairmot_ros.bench.common import load_average, machine, summarize_ms
from fairmot_ros.replay.frames import (
    IMAGE_QOS,
    IMAGE_TYPE,
    frame_stamp_ns,
    image_message_bytes,
    message_header,
)
from fairmot_ros.stamps import ns_to_seconds

__all__ = ["add_arguments", "run"]

IMAGE_TOPIC = "/bench/image_raw"
OUTPUT_TOPIC = "/bench/detections"
OUTPUT_TYPE = "vision_msgs/msg/Detection2DArray"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the bag")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                        help="storage of the input and the recorded bag")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="ROS domain (default $ROS_DOMAIN_ID)")
    parser.add_argument("--keep", default=None, metavar="DIR",
                        help="write the bags here and keep them (default: a temporary folder)")


def _detections(stamp_ns: int, boxes: int = 20) -> bytes:
    cls = message_class
    header = message_header(stamp_ns, "camera")
    pose = cls("geometry_msgs/msg/PoseWithCovariance")(
        pose=cls("geometry_msgs/msg/Pose")(
            position=cls("geometry_msgs/msg/Point")(x=0.0, y=0.0, z=0.0),
            orientation=cls("geometry_msgs/msg/Quaternion")(x=0.0, y=0.0, z=0.0, w=1.0)),
        covariance=np.zeros(36))
    detections = [cls("vision_msgs/msg/Detection2D")(
        header=header, id=str(i), bbox=cls("vision_msgs/msg/BoundingBox2D")(
            center=cls("vision_msgs/msg/Pose2D")(
                position=cls("vision_msgs/msg/Point2D")(x=10.0 * i, y=20.0), theta=0.0),
            size_x=30.0, size_y=80.0),
        results=[cls("vision_msgs/msg/ObjectHypothesisWithPose")(
            hypothesis=cls("vision_msgs/msg/ObjectHypothesis")(class_id="person", score=0.8),
            pose=pose)]) for i in range(boxes)]
    return serialize(cls(OUTPUT_TYPE)(header=header, detections=detections), OUTPUT_TYPE)


def write_input(path: Path, args: argparse.Namespace) -> dict:
    """The input bag: moving noise frames (so nothing compresses) plus small outputs."""
    count = max(2, round(args.seconds * args.fps))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (args.height, args.width + count, 3), dtype=np.uint8)
    started = time.perf_counter()
    with BagWriter(path, args.storage) as writer:
        writer.add_topic(IMAGE_TOPIC, IMAGE_TYPE, [IMAGE_QOS])
        writer.add_topic(OUTPUT_TOPIC, OUTPUT_TYPE, [QosSpec()])
        for frame in range(1, count + 1):
            stamp = frame_stamp_ns(frame, args.fps)
            image = np.ascontiguousarray(base[:, frame : frame + args.width])
            writer.write(IMAGE_TOPIC, stamp, image_message_bytes(image, stamp, "camera")[1])
            writer.write(OUTPUT_TOPIC, stamp + 1, _detections(stamp))
    seconds = time.perf_counter() - started
    size = args.width * args.height * 3 * count / 1e6
    return {"frames": count, "seconds": round(seconds, 2),
            "frames_per_s": round(count / seconds, 1), "MB_per_s": round(size / seconds, 1)}


def _intervals(log_times: list[int], fps: float) -> dict:
    times = ns_to_seconds(np.asarray(sorted(log_times), dtype=np.float64))
    if times.size < 2:
        return {"received": int(times.size)}
    span = times[-1] - times[0]
    return {"received": int(times.size),
            "rate_hz": round((times.size - 1) / span, 2) if span > 0 else None,
            "target_hz": fps, "intervals": summarize_ms(np.diff(times) * 1000.0)}


def _cli(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fairmot_ros.replay.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(args: argparse.Namespace) -> dict:
    """Write, play and record; the JSON document of the module doc."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(args.domain_id)
    if env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps"):
        env.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    with tempfile.TemporaryDirectory(prefix="fairmot-bench-bag-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        source, recorded = root / "input", root / "recorded"
        load_before = load_average()
        written = write_input(source, args)
        recorder = _cli(env, "record", str(recorded), IMAGE_TOPIC, OUTPUT_TOPIC, "--storage",
                        args.storage, "--overwrite")
        try:  # the player starts once the recorder has subscribed to both of its topics
            player = _cli(env, "play", str(source), "--wait", "60")
            play_out, play_err = player.communicate(timeout=args.seconds * 10 + 120)
            time.sleep(1.0)
        finally:
            recorder.send_signal(signal.SIGINT)
            rec_out, rec_err = recorder.communicate(timeout=60)
        if player.returncode != 0:
            raise RuntimeError(f"fairmot-bag play failed: {play_err.strip()[-500:]}")
        played = json.loads(play_out.strip().splitlines()[-1])
        with BagReader(recorded) as reader:
            logs: dict[str, list[int]] = {IMAGE_TOPIC: [], OUTPUT_TOPIC: []}
            for message in reader.messages():
                logs[message.topic].append(message.log_time_ns)
        published = played["published"]
        report = {
            "benchmark": "bag",
            "image": {"width": args.width, "height": args.height, "encoding": "bgr8",
                      "MB_per_message": round(args.width * args.height * 3 / 1e6, 2)},
            "storage": args.storage,
            "transport": env.get("FASTDDS_BUILTIN_TRANSPORTS", ""),
            "write": written,
            "play": {"published": published.get(IMAGE_TOPIC, 0), "seconds": played["seconds"],
                     "rate_hz": round(published.get(IMAGE_TOPIC, 0) / played["seconds"], 2)
                     if played["seconds"] else None, "late_publishes": played["late_publishes"],
                     "target_hz": args.fps, "bag_seconds": args.seconds},
            "record": {**_intervals(logs[IMAGE_TOPIC], args.fps),
                       "lost": published.get(IMAGE_TOPIC, 0) - len(logs[IMAGE_TOPIC])},
            "outputs": {**_intervals(logs[OUTPUT_TOPIC], args.fps),
                        "lost": published.get(OUTPUT_TOPIC, 0) - len(logs[OUTPUT_TOPIC])},
            "recorder_warnings": [line for line in rec_err.splitlines() if "warning" in line],
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "machine": machine(),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m fairmot_ros.bench.bag``); ``fairmot-bench bag`` calls
    :func:`add_arguments` and :func:`run` the same way."""
    parser = argparse.ArgumentParser(prog="python -m fairmot_ros.bench.bag",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
