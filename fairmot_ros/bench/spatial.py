"""``fairmot-bench spatial``: what people in 3D add to the node's image thread per frame.

    fairmot-bench spatial [--mode ground|depth|depth+ground] [--size 640x480] [--markers]
                          [--sequence pets:401-795] [--results MOT.txt] [--frames 200]

The 3D goal is a time per frame of the node, not of the stage alone, so this runs the node's
own 3D code without DDS: a :class:`~fairmot_ros.ros.spatial_node.SpatialCamera` configured
from ``spatial.*`` parameter values as ``fairmot-bag people3d`` sets them (the calibration's
pose as a static transform of the optical frame, the outputs in its ground frame), fed the
calibration's ``CameraInfo`` and, in depth modes, ``16UC1`` depth images rendered untimed by
people3d's :class:`~fairmot_ros.evaluation.people3d.SyntheticDepth`. Everything is resampled
to ``--size`` as people3d's ``--size`` does.

The tracks are the shipped model's on the sequence (or ``--results``), tracked untimed before
the timed loop at the sequence's size, then resampled. In the loop each frame's rows are the
detections of the node's ``CameraPipeline.step`` (score 1, one embedding per id, so the tracker
gives them back under their ids and with a real store, lost tracks included). Per frame, with
``time.perf_counter``: ``on_depth`` (the executor thread: reported apart), then the image
thread's parts as ``ImageThread._process`` and ``_publish`` run them: ``scene``, the stage
(``outcome.spatial.seconds``), ``add_positions`` on the node's ``TrackArray`` (built untimed:
that is 2D's cost) and ``publish``, whose publishers serialize each message
(``rclpy.serialization``: what ``Publisher.publish`` does before DDS; ``serialize`` is that
part of ``publish``). The markers are built only with ``--markers`` (a subscriber).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import replace
from typing import Any

MODES = ("ground", "depth", "depth+ground")
CLASS_ID = "person"  # the node's default class_id
EMBEDDING_DIM = 32
IMAGE_THREAD_PARTS = ("scene", "stage", "add_positions", "publish")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fairmot_ros.evaluation.people3d import PETS_CALIBRATION

    parser.add_argument("--mode", choices=MODES, default="ground", help="spatial.mode")
    parser.add_argument("--size", default="640x480", metavar="WxH",
                        help="resample boxes, depth and calibration (default 640x480)")
    parser.add_argument("--markers", action="store_true",
                        help="~/markers has a subscriber: build and serialize the markers too")
    parser.add_argument("--sequence", default="pets:401-795", metavar="SEQ[:FIRST-LAST]",
                        help="frames, frame rate and ground truth (default pets:401-795)")
    parser.add_argument("--results", default=None, metavar="TXT",
                        help="MOT result rows of an earlier run instead of tracking")
    parser.add_argument("--calibration", default=str(PETS_CALIBRATION), metavar="YAML")
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2,
                        help="ONNX Runtime threads of the untimed tracking")
    parser.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames first")


class SerializingPublisher:
    """A publisher that does what ``Publisher.publish`` does before DDS (serialize), timed,
    and says whether something subscribes (decides the markers)."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.seconds = 0.0
        self.sizes: list[int] = []

    def publish(self, msg: Any) -> None:
        from rclpy.serialization import serialize_message

        start = time.perf_counter()
        data = serialize_message(msg)
        self.seconds += time.perf_counter() - start
        self.sizes.append(len(data))

    def get_subscription_count(self) -> int:
        return self.subscribers


def node_values(calibration: Any, mode: str) -> dict[str, Any]:
    """The node's ``spatial.*`` parameter values: the defaults, then those ``fairmot-bag
    people3d`` gives the node (the calibration's pose as a static transform, outputs in its
    world frame)."""
    import yaml

    from fairmot_ros.replay.people3d import node_parameters
    from fairmot_ros.ros.spatial_parameters import SPATIAL_PARAMETERS

    values = {spec.name: spec.default for spec in SPATIAL_PARAMETERS}
    for argument in node_parameters(calibration, mode, fps=10.0):
        name, _, text = argument.partition(":=")
        if name in values:
            values[name] = yaml.safe_load(text)
    return values


def received(data: bytes, msg_type: Any) -> Any:
    """A message as the node receives it from a replayed ``fairmot-bag people3d`` bag: the
    bag writer's CDR bytes (its CameraInfo and depth images) deserialized by rclpy."""
    from rclpy.serialization import deserialize_message

    return deserialize_message(data, msg_type)


def as_detections(rows: list[tuple[int, Any]]) -> Any:
    """One frame's tracked boxes as detections that the tracker gives back under their ids
    (score 1; the same unit embedding for an id in every frame)."""
    import numpy as np

    from fairmot_ros.decode import Detections

    if not rows:
        return Detections.empty(EMBEDDING_DIM)
    tlwh = np.array([box for _, box in rows], dtype=np.float32)
    boxes = np.concatenate([tlwh[:, :2], tlwh[:, :2] + tlwh[:, 2:4]], axis=1)
    features = np.stack([np.random.default_rng(track_id).standard_normal(EMBEDDING_DIM)
                         for track_id, _ in rows]).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    return Detections(boxes, np.ones(len(rows), np.float32), features)


def tracked_rows(args: argparse.Namespace, sequence: Any, first: int, last: int
                 ) -> tuple[list, dict[str, Any]]:
    """The tracked rows ``(frame, id, tlwh)`` of ``[first, last]`` at the sequence's size:
    ``--results`` or the model's tracking (untimed here; how it was made is reported)."""
    from fairmot_ros.evaluation.mot_io import read_mot

    if args.results:
        rows = [(int(r[0]), int(r[1]), r[2:6]) for r in read_mot(args.results)
                if first <= r[0] <= last]
        return rows, {"source": "results", "path": args.results}
    from fairmot_ros.default_model import default_model_path
    from fairmot_ros.evaluation.cli import track_sequence

    model = args.model or str(default_model_path())
    rows, timing = track_sequence(model, replace(sequence, first=first, last=last),
                                  threads=args.threads or None)
    return rows, {"source": "model", "path": str(model), **timing}


def _check(args: argparse.Namespace) -> tuple[int, int]:
    from fairmot_ros.bench.common import BenchError
    from fairmot_ros.bench.pipeline import parse_size

    if args.frames <= 0 or args.warmup < 0:
        raise BenchError("--frames must be positive and --warmup >= 0")
    if args.threads < 0:
        raise BenchError("--threads must be >= 0")
    return parse_size(args.size)


def run(args: argparse.Namespace) -> dict:
    import numpy as np
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from fairmot_ros.bench.common import BenchError, document, load_average, rss_mb, summarize_ms
    from fairmot_ros.evaluation.mot_io import read_mot
    from fairmot_ros.evaluation.people3d import SyntheticDepth, by_frame, resampled
    from fairmot_ros.pipeline import CameraPipeline
    from fairmot_ros.replay.people3d import FRAME_ID, camera_info_bytes, depth_bytes
    from fairmot_ros.ros.spatial_node import ParameterPoses, SpatialCamera
    from fairmot_ros.ros.spatial_settings import spatial_settings
    from fairmot_ros.ros.track_messages import time_from_seconds, track_array
    from fairmot_ros.sequences import open_sequence
    from fairmot_ros.spatial.calibration import CalibrationError, load_calibration
    from fairmot_ros.stamps import seconds_to_ns
    from fairmot_ros.tracking import TrackerConfig

    width, height = _check(args)
    start_load = load_average()
    try:
        calibration = load_calibration(args.calibration)
    except CalibrationError as exc:
        raise BenchError(str(exc)) from None
    sequence = open_sequence(args.sequence)
    count = args.warmup + args.frames
    first, last = sequence.first, sequence.first + count - 1
    if sequence.last and last > sequence.last:
        raise BenchError(f"{args.sequence} has {sequence.last - first + 1} frames; --warmup "
                         f"and --frames need {count}")
    depth_on = "depth" in args.mode
    if depth_on and sequence.gt_path is None:
        raise BenchError(f"{args.sequence} has no ground truth to render depth from")
    gt_rows = read_mot(sequence.gt_path) if sequence.gt_path else np.zeros((0, 9))
    rows, tracking = tracked_rows(args, sequence, first, last)
    calibration, rows, gt_rows = resampled(f"{width}x{height}", calibration, rows, gt_rows)
    depth = SyntheticDepth(calibration, gt_rows) if depth_on else None
    detections = by_frame(rows)
    fps = sequence.frame_rate if sequence.frame_rate > 0 else 30.0

    settings, problems = spatial_settings(node_values(calibration, args.mode), ["image_raw"])
    if problems:
        raise BenchError("; ".join(problems))
    camera = SpatialCamera(settings, 0, ParameterPoses(settings))
    camera.detections_pub = detections_pub = SerializingPublisher(1)
    camera.markers_pub = markers_pub = SerializingPublisher(1 if args.markers else 0)
    info = received(camera_info_bytes(calibration, 0), CameraInfo)
    camera.on_camera_info(info)
    camera.on_depth_info(info)
    pipeline = CameraPipeline(TrackerConfig(frame_rate=fps), spatial=settings.core)
    image = np.zeros((height, width, 3), np.uint8)  # the tracker reads its size only

    parts: dict[str, list[float]] = {name: [] for name in (*IMAGE_THREAD_PARTS, "serialize")}
    on_depth: list[float] = []
    total: list[float] = []
    tracks, store, people = [], [], []
    reasons: Counter = Counter()
    rss_start = rss_mb()
    for index, frame in enumerate(range(first, last + 1)):
        stamp = frame / fps
        header = Header(stamp=time_from_seconds(stamp), frame_id=FRAME_ID)
        dets = as_detections(detections.get(frame, []))
        msg = (received(depth_bytes(depth.pixels(frame), seconds_to_ns(stamp)), Image)
               if depth is not None else None)
        serialized = detections_pub.seconds + markers_pub.seconds
        t0 = time.perf_counter()
        if msg is not None:
            camera.on_depth(msg)
        t1 = time.perf_counter()
        scene = camera.scene(header, stamp)
        t2 = time.perf_counter()
        outcome = pipeline.step(image, stamp, None, dets, scene)
        tracks_msg = track_array(outcome.store, header)
        t3 = time.perf_counter()
        camera.add_positions(tracks_msg, outcome)
        t4 = time.perf_counter()
        camera.publish(header, outcome, CLASS_ID, "")
        t5 = time.perf_counter()
        if index < args.warmup:
            continue
        times = {"scene": t2 - t1, "stage": outcome.spatial.seconds, "add_positions": t4 - t3,
                 "publish": t5 - t4,
                 "serialize": detections_pub.seconds + markers_pub.seconds - serialized}
        for name, seconds in times.items():
            parts[name].append(1e3 * seconds)
        total.append(1e3 * sum(times[name] for name in IMAGE_THREAD_PARTS))
        if msg is not None:
            on_depth.append(1e3 * (t1 - t0))
        tracks.append(len(outcome.tracks))
        store.append(len(outcome.store))
        people.append(len(outcome.spatial.people))
        reasons.update(outcome.spatial.reasons)

    stats = {name: summarize_ms(values) for name, values in parts.items()}
    depth_stats = summarize_ms(on_depth) if depth is not None else None
    medians = {"total": summarize_ms(total)["p50_ms"],
               **{name: s["p50_ms"] for name, s in stats.items()}}
    if depth_stats is not None:
        medians["on_depth"] = depth_stats["p50_ms"]
    timed = slice(args.warmup, None)
    run_settings = {
        "mode": args.mode, "image_size": f"{width}x{height}", "markers": args.markers,
        "frames": args.frames, "warmup": args.warmup, "sequence": args.sequence,
        "first_frame": first, "last_frame": last, "frame_rate": fps,
        "calibration": args.calibration, "pose_source": "transform",
        "target_frame": settings.target_frame, "threads": args.threads,
        "depth_sensor": vars(depth.renderer.noise) if depth is not None else None,
    }
    return document(
        "spatial", run_settings, load_average_start=start_load, n=len(total),
        image_thread_total=summarize_ms(total),
        image_thread_parts={name: stats[name] for name in IMAGE_THREAD_PARTS},
        serialize_within_publish=stats["serialize"],
        executor_on_depth=depth_stats, ms_median=medians,
        tracks_per_frame=round(float(np.mean(tracks)), 2),
        store_per_frame=round(float(np.mean(store)), 2),
        people_per_frame=round(float(np.mean(people)), 2), people_measured=int(sum(people)),
        reasons=dict(sorted(reasons.items())),
        message_bytes={"detections_3d": _mean(detections_pub.sizes[timed]),
                       "markers": _mean(markers_pub.sizes[timed]) if args.markers else None},
        tracking=tracking, rss_mb={"start": rss_start, "end": rss_mb()},
    )


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None
