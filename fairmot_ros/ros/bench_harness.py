"""Latency of the running tracker node, measured over real DDS; prints one JSON object.

    python -m fairmot_ros.ros.bench_node --model model.onnx [--frames 200] [--size 640x480]

Starts ``tracker_node`` as a subprocess (console script, shipped YAML, its own ROS domain),
publishes synthetic frames one at a time (the next frame goes out when the previous one's
detections arrived, so nothing queues) and reports:

* ``round_trip_ms``: publish of the image to receipt of its ``Detection2DArray`` in this
  process (serialisation, DDS both ways, decode, inference, tracking, message building);
* ``node_processing_ms``: the node's own decode-to-publish time from ``/diagnostics``;
* ``node_age_at_publish_ms``: the node's "image age at publish" (publish time - image stamp).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _frame(width: int, height: int, step: int) -> np.ndarray:
    """Grey frame with two white squares that move a little every frame."""
    frame = np.full((height, width, 3), 128, np.uint8)
    for k, (x0, y0) in enumerate(((0.2, 0.3), (0.6, 0.6))):
        x = int((x0 * width + 4 * step * (1 if k else -1)) % (width - 16))
        y = int(y0 * height)
        frame[y : y + 8, x : x + 8] = 255
    return frame


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = np.asarray(values, dtype=float)
    return {
        "mean": round(float(ordered.mean()), 3),
        "p50": round(float(np.percentile(ordered, 50)), 3),
        "p90": round(float(np.percentile(ordered, 90)), 3),
        "max": round(float(ordered.max()), 3),
    }


def run(model: Path, frames: int, width: int, height: int, domain: int, reliable: bool) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from fairmot_ros.ros.image_codec import byte_array

    repo = Path(__file__).resolve().parents[2]
    script = shutil.which("tracker_node") or str(Path(sys.executable).with_name("tracker_node"))
    command = [
        script, "--ros-args", "--params-file", str(repo / "config" / "tracker.yaml"),
        "-p", f"model:={model}",
        "-p", f"qos_reliability:={'reliable' if reliable else 'best_effort'}",
    ]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    node_process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("fairmot_bench", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received: dict[tuple[int, int], float] = {}
    diagnostics: list = []
    node.create_subscription(
        Detection2DArray, "/fairmot_tracker/detections",
        lambda m: received.setdefault((m.header.stamp.sec, m.header.stamp.nanosec),
                                      time.perf_counter()), 50,
    )
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 50)
    policy = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
    publisher = node.create_publisher(Image, "/image", QoSProfile(depth=1, reliability=policy))

    def spin_until(predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or node_process.poll() is not None:
                return False
            executor.spin_once(timeout_sec=0.01)
        return True

    def message(index: int) -> Image:
        pixels = _frame(width, height, index)
        msg = Image(height=height, width=width, encoding="bgr8", step=width * 3)
        now = time.time_ns()  # the node's clock is system time: its image age is meaningful
        msg.header.stamp.sec, msg.header.stamp.nanosec = now // 1_000_000_000, now % 1_000_000_000
        msg.header.frame_id = "camera"
        msg.data = byte_array(pixels)
        return msg

    round_trips: list[float] = []
    try:
        if not spin_until(lambda: publisher.get_subscription_count() > 0, 120):
            raise RuntimeError(f"tracker_node did not subscribe: {node_process.stderr.read()}")
        warm = message(0)
        key = (warm.header.stamp.sec, warm.header.stamp.nanosec)
        for _ in range(30):  # discovery may drop the first frames
            publisher.publish(warm)
            if spin_until(lambda: key in received, 1.0):
                break
        else:
            raise RuntimeError("no detections came back for 30 s: check QoS and transports")
        # The period holding the warm-up frame (and its retries) is skewed: wait until it has
        # been reported, then drop it.
        seen = len(diagnostics)
        spin_until(lambda: len(diagnostics) > seen, 3.0)
        diagnostics.clear()
        for index in range(1, frames + 1):
            msg = message(index)
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            sent = time.perf_counter()
            publisher.publish(msg)
            if spin_until(lambda k=key: k in received, 10.0):
                round_trips.append((received[key] - sent) * 1e3)
        last = time.monotonic() + 1.5  # one more diagnostics period covering the last frames
        spin_until(lambda: time.monotonic() > last, 2.0)
    finally:
        node_process.send_signal(signal.SIGINT)
        try:
            node_process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node_process.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)

    processing, ages = [], []
    provider = ""
    for array in diagnostics:
        for status in array.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name.endswith(": cam0") and float(values["output rate (Hz)"]) > 0:
                processing.append(float(values["processing latency mean (ms)"]))
                ages.append(float(values["image age at publish mean (ms)"]))
            provider = values.get("execution provider", provider)
    return {
        "model": str(model),
        "image_size": f"{width}x{height}",
        "qos": "reliable" if reliable else "best_effort",
        "frames": frames,
        "answered": len(round_trips),
        "provider": provider,
        "round_trip_ms": _percentiles(round_trips) if round_trips else None,
        "node_processing_ms_per_period_mean": (
            round(statistics.fmean(processing), 3) if processing else None
        ),
        "node_age_at_publish_ms_per_period_mean": round(statistics.fmean(ages), 3)
        if ages else None,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or "unknown"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="exported ONNX model")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", default="640x480", help="published image WxH")
    parser.add_argument(
        "--reliable", action="store_true",
        help="reliable publisher and subscription (large raw images between processes need "
        "it with Fast DDS's default transports)",
    )
    parser.add_argument("--domain", type=int, default=87, help="ROS domain id for the run")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    result = run(args.model.resolve(), args.frames, width, height, args.domain, args.reliable)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
