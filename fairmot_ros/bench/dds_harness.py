"""The DDS side of ``fairmot-bench node`` and ``multi``: a node, publisher processes, results.

:func:`run_node_benchmark` starts ``tracker_node`` as the replay does
(:class:`fairmot_ros.replay.node_process.TrackerNodeProcess`: console script, the package's
parameters file, its own ROS domain) with one image topic per camera, then one *publisher
process* per camera (``python -m fairmot_ros.bench.dds_harness publish ...``); each process
has one :class:`fairmot_ros.replay.session.RosSession`. Each publisher sends synthetic
``bgr8`` frames stamped with the system clock at publish time and subscribes to its camera's
``Detection2DArray``; the round trip of a frame is receipt minus stamp, both read from the same
machine clock in the publisher process (serialisation, DDS both ways, the node's decode,
letterbox, inference, decoding, tracking and message building). Two modes:

* flat out (``rate`` 0): the next frame goes out when the previous one's detections came
  back, so nothing queues; the answer rate is the node's throughput;
* at a rate: frames go out on a fixed schedule whatever the node does; frames without an
  answer are drops (replaced in the node's one-slot mailbox while it was busy, or lost).

The parent process listens to ``/diagnostics`` for the node's own figures (processing time,
frames dropped and missed per camera) and reads the node's RSS before stopping it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairmot_ros.ros import diagnostic_keys as keys

__all__ = ["run_node_benchmark"]

_DISCOVERY_TIMEOUT = 120.0
_ANSWER_TIMEOUT = 2.0  # lock-step: a frame unanswered this long is a drop
# Longest wait between callbacks: the publishers sleep in the wait set between messages, since
# waking up every few milliseconds would take CPU time from the node on a machine with few cores.
_PUBLISHER_POLL = 0.1
_PARENT_POLL = 0.05


# ----- publisher process -----------------------------------------------------------------------
def _frames(width: int, height: int, count: int) -> list:
    """``count`` distinct frames (as message payloads) that are cycled: building a 4K frame
    per publish would time the generator, not the node."""
    from fairmot_ros.bench.pipeline import synthetic_frame
    from fairmot_ros.image_bytes import byte_array

    return [byte_array(synthetic_frame(width, height, i)) for i in range(count)]


def publish_main(argv: list[str]) -> int:
    """One camera's publisher: prints one JSON object with its sent/answered counts and
    round-trip times (ms)."""
    parser = argparse.ArgumentParser(prog="dds_harness publish")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--detections", required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--reliable", action="store_true")
    parser.add_argument("--start-at", type=float, default=0.0, help="time.time() to start at")
    args = parser.parse_args(argv)
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from fairmot_ros.replay.session import RosSession
    from fairmot_ros.stamps import ns_to_stamp, time_to_ns

    width, height = (int(v) for v in args.size.split("x"))
    payloads = _frames(width, height, 30)
    session = RosSession(None, f"fairmot_bench_pub_{os.getpid()}")  # ROS_DOMAIN_ID decides
    node = session.node
    answers: dict[int, int] = {}  # stamp ns -> receipt ns

    def on_detections(msg: Any) -> None:
        answers.setdefault(time_to_ns(msg.header.stamp), time.time_ns())

    node.create_subscription(Detection2DArray, args.detections, on_detections, 100)
    policy = ReliabilityPolicy.RELIABLE if args.reliable else ReliabilityPolicy.BEST_EFFORT
    publisher = node.create_publisher(Image, args.topic, QoSProfile(depth=1, reliability=policy))

    def spin_until(predicate, timeout: float, wake_at: float | None = None) -> bool:
        return session.spin_until(predicate, timeout, wake_at=wake_at, poll=_PUBLISHER_POLL)

    def send(index: int) -> int:
        msg = Image(height=height, width=width, encoding="bgr8", step=width * 3)
        msg.header.frame_id = "bench_camera"
        msg.data = payloads[index % len(payloads)]
        now = time.time_ns()  # the node's clock is system time: its image age is meaningful
        msg.header.stamp.sec, msg.header.stamp.nanosec = ns_to_stamp(now)
        publisher.publish(msg)
        return now

    result: dict[str, Any] = {"topic": args.topic, "pid": os.getpid()}
    try:
        if not spin_until(lambda: publisher.get_subscription_count() > 0, _DISCOVERY_TIMEOUT):
            raise RuntimeError(f"nothing subscribed to {args.topic} in {_DISCOVERY_TIMEOUT} s")
        for attempt in range(60):  # discovery of the way back may drop the first frames
            stamp = send(attempt)
            if spin_until(lambda s=stamp: s in answers, 1.0):
                break
        else:
            raise RuntimeError("no detections came back for 60 s: check QoS and transports")
        for index in range(args.warmup):  # lock-step, untimed
            stamp = send(index)
            spin_until(lambda s=stamp: s in answers, _ANSWER_TIMEOUT)
        if args.start_at:  # cameras of a multi run start together
            wait = max(0.0, args.start_at - time.time())
            spin_until(lambda: time.time() >= args.start_at, wait + 1.0,
                       wake_at=time.perf_counter() + wait)  # fmt: skip
        answers.clear()
        sent: list[int] = []
        begin = time.perf_counter()
        if args.rate <= 0:
            for index in range(args.frames):
                stamp = send(index)
                sent.append(stamp)
                spin_until(lambda s=stamp: s in answers, _ANSWER_TIMEOUT)
        else:
            period = 1.0 / args.rate
            for index in range(args.frames):
                due = begin + index * period
                spin_until(lambda d=due: time.perf_counter() >= d, period + 1.0, wake_at=due)
                sent.append(send(index))
            last = sent[-1]
            spin_until(lambda: last in answers, 2.0)  # stragglers
        duration = time.perf_counter() - begin
        round_trips = [(answers[s] - s) / 1e6 for s in sent if s in answers]
        result.update(sent=len(sent), answered=len(round_trips), seconds=round(duration, 3),
                      round_trips_ms=[round(v, 3) for v in round_trips])  # fmt: skip
    except RuntimeError as exc:
        result["error"] = str(exc)
    finally:
        # The result goes out before the teardown: Fast DDS's TCP transport (LARGE_DATA)
        # was seen to hang in destroy_node now and then, which must not lose a finished run.
        print(json.dumps(result), flush=True)
        status = 0 if "error" not in result else 1
        _teardown(session.close, status)
    return status


def _teardown(close: Any, status: int, timeout: float = 10.0) -> None:
    """Run ``close`` (the ROS teardown) for at most ``timeout`` s; a teardown that hangs ends
    the process (the run's result is already printed) instead of the benchmark."""
    done = threading.Event()

    def target() -> None:
        close()
        done.set()

    threading.Thread(target=target, daemon=True).start()
    if not done.wait(timeout):
        sys.stderr.write(f"ROS teardown did not finish in {timeout:g} s; exiting without it\n")
        sys.stderr.flush()
        os._exit(status)


# ----- the benchmark (parent process) ---------------------------------------------------------
def _detections_topic(name: str, cameras: int) -> str:
    """Where the node publishes a camera's detections (its own namespace only with several)."""
    return f"/fairmot_tracker/{name}/detections" if cameras > 1 else "/fairmot_tracker/detections"


def _camera_values(diagnostics: list, cameras: list[str]) -> dict[str, dict]:
    """Per camera: the last totals and the per-period means of the node's own timings."""
    out: dict[str, dict] = {name: {"processing_ms": [], "age_ms": [], "last": {}}
                            for name in cameras}  # fmt: skip
    for array in diagnostics:
        for status in array.status:
            values = {kv.key: kv.value for kv in status.values}
            name = status.name.removeprefix(keys.STATUS_PREFIX)
            if name not in out:
                continue
            out[name]["last"] = values
            if float(values.get(keys.OUTPUT_RATE, 0) or 0) > 0:
                out[name]["processing_ms"].append(float(values[keys.PROCESSING_MEAN]))
                out[name]["age_ms"].append(float(values[keys.AGE_AT_PUBLISH_MEAN]))
    return out


def _totals(values: dict[str, str]) -> dict[str, int]:
    totals = {"received": keys.FRAMES_RECEIVED, "published": keys.FRAMES_PUBLISHED,
              "dropped_busy": keys.FRAMES_DROPPED, "missed_before_node": keys.FRAMES_MISSED,
              "rejected": keys.FRAMES_REJECTED}  # fmt: skip
    return {short: int(values[key]) for short, key in totals.items() if key in values}


def run_node_benchmark(
    model: Path, cameras: int, width: int, height: int, frames: int, rate: float,
    reliable: bool, domain: int, threads: int, providers: list[str], warmup: int = 10,
    heads_at_peaks: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Run one node with ``cameras`` publishers; returns the raw per-camera results."""
    from diagnostic_msgs.msg import DiagnosticArray

    from fairmot_ros.bench.common import rss_mb
    from fairmot_ros.replay.node_process import TrackerNodeProcess
    from fairmot_ros.replay.session import RosSession

    names = [f"cam{i}" for i in range(cameras)]
    topics = [f"/bench/{name}/image" for name in names]
    qos = "reliable" if reliable else "best_effort"
    params = [f"model:={model}", f"qos_reliability:={qos}", f"intra_op_threads:={threads}",
              f"heads_at_peaks:={'true' if heads_at_peaks else 'false'}",
              f"image_topics:=[{','.join(topics)}]", f"camera_names:=[{','.join(names)}]",
              f"providers:=[{','.join(providers)}]"]  # fmt: skip
    log_path = Path(tempfile.gettempdir()) / f"fairmot_bench_node_{domain}_{os.getpid()}.log"
    tracker = TrackerNodeProcess(params, domain, "", log_path)
    tracker.start()
    session = RosSession(domain, "fairmot_bench")
    diagnostics: list = []
    reports = session.node.create_subscription(DiagnosticArray, "/diagnostics",
                                               diagnostics.append, 50)  # fmt: skip
    publishers: list[subprocess.Popen] = []
    results: list[dict] = []
    node_rss = None

    def spin_while(waiting: Callable[[], bool], seconds: float) -> None:
        """Run our callbacks while ``waiting()`` holds, the node lives and ``seconds`` last."""
        session.spin_until(lambda: not waiting() or not tracker.alive(), seconds,
                           poll=_PARENT_POLL)  # fmt: skip

    try:
        # hear the node's /diagnostics before any frame goes out: a short run on a loaded
        # machine would otherwise end before discovery and report no processing times
        spin_while(lambda: reports.get_publisher_count() == 0, _DISCOVERY_TIMEOUT)
        start_at = time.time() + 8.0 + 2.0 * cameras  # after every publisher's warm-up
        for name, topic in zip(names, topics, strict=True):
            args = [sys.executable, "-m", "fairmot_ros.bench.dds_harness", "publish",
                    "--topic", topic, "--detections", _detections_topic(name, cameras),
                    "--size", f"{width}x{height}", "--frames", str(frames), "--warmup",
                    str(warmup), "--rate", str(rate), "--start-at",
                    str(start_at if cameras > 1 else 0.0)]  # fmt: skip
            if reliable:
                args.append("--reliable")
            publishers.append(subprocess.Popen(args, env=tracker.env, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True))  # fmt: skip
        while any(p.poll() is None for p in publishers):
            session.executor.spin_once(timeout_sec=_PARENT_POLL)
            if not tracker.alive():
                break
            rss = rss_mb(tracker.process.pid)
            node_rss = rss if rss is not None else node_rss
        for publisher in publishers:
            try:
                out, err = publisher.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                publisher.kill()
                out, err = publisher.communicate()
            lines = [line for line in out.splitlines() if line.startswith("{")]
            missing = {"error": f"publisher gave no result: {err.strip()[-300:]}"}
            results.append(json.loads(lines[-1]) if lines else missing)
        # one more diagnostics period covering the last frames: at least 1.5 s, and until a
        # report arrived after the publishers ended (a loaded machine discovers late), <= 10 s
        heard, settle = len(diagnostics), time.monotonic() + 1.5
        spin_while(lambda: time.monotonic() < settle or len(diagnostics) == heard, 10.0)
    finally:
        for publisher in publishers:
            if publisher.poll() is None:
                publisher.kill()
        tracker.stop()
        session.close()
        node_log = tracker.log_text()
        log_path.unlink(missing_ok=True)
    per_camera = _camera_values(diagnostics, names)
    provider = ""
    for array in diagnostics:
        for status in array.status:
            for kv in status.values:
                if kv.key == keys.EXECUTION_PROVIDER:
                    provider = kv.value
    if any("error" in r for r in results) and not any(r.get("answered") for r in results):
        tail = " ".join(node_log.strip().splitlines()[-3:])[-400:]
        raise RuntimeError(f"{results[0].get('error', 'no result')}; node log: {tail}")
    return {
        "provider": provider,
        "node_rss_mb_end": node_rss,
        "cameras": [
            {
                "name": name,
                **result,
                "node_processing_ms_period_means": per_camera[name]["processing_ms"],
                "node_age_at_publish_ms_period_means": per_camera[name]["age_ms"],
                "node_totals": _totals(per_camera[name]["last"]),
            }
            for name, result in zip(names, results, strict=True)
        ],
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "publish":
        raise SystemExit(publish_main(sys.argv[2:]))
    raise SystemExit("usage: python -m fairmot_ros.bench.dds_harness publish ... "
                     "(the benchmark itself is fairmot-bench node / multi)")  # fmt: skip
