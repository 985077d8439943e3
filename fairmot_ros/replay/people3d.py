"""People in 3D through bags and the live node: an RGB-D input bag, the node, the score.

``fairmot-bag people3d`` does what a robotics team does with a recording:

1. **The input bag** (:func:`rgbd_bag`, made once into ``.cache/bags/``): the sequence's
   frames as ``sensor_msgs/Image`` (bgr8) on ``/camera/image_raw`` with the calibration's
   ``CameraInfo`` on ``/camera/camera_info``, and in depth mode a depth image registered to
   the colour image on ``/camera/depth/image`` (``16UC1``, rendered from the calibration and
   the ground truth by :mod:`fairmot_ros.evaluation.rgbd`, with a stereo sensor's noise and
   holes) and its ``CameraInfo`` on ``/camera/depth/camera_info``. Stamps are ``frame / fps``
   like ``fairmot-bag from-video``; depth and CameraInfo carry the colour frame's stamp and are
   logged one and a half frames before it: played in lock-step they leave before the previous
   colour frame, so they are at the node when their colour frame comes (played at the recorded
   rate, a depth frame that comes after its colour frame is counted as ``depth_behind``).
2. **The node**: ``tracker_node`` with ``spatial.mode`` set and the camera's pose as a static
   transform of the optical frame in the calibration's ``world`` frame (the outputs too), the bag
   played to it in lock-step on the colour images, its ``~/detections``,
   ``~/detections_3d``, ``~/tracks`` and ``/diagnostics`` recorded into an output bag.
3. **The score** (:func:`recorded_positions`, also ``fairmot-bag eval3d`` on any output bag):
   the recorded ``Detection3D`` centres (x, y in ``world``) and the ``Track`` velocities
   against the ground truth's foot points (:mod:`fairmot_ros.evaluation.positions`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fairmot_ros.bags import BagError, BagReader, BagWriter, message_class, serialize
from fairmot_ros.evaluation.metrics import emit_report
from fairmot_ros.evaluation.mot_io import FRAME, read_mot
from fairmot_ros.evaluation.positions import GroundRows, ground_truth_positions, score_positions
from fairmot_ros.evaluation.rgbd import (
    DEPTH_ENCODING,
    DepthRenderer,
    StereoNoise,
    people_from_boxes,
)
from fairmot_ros.locations import cache_dir
from fairmot_ros.replay.frames import (
    FIRST_FRAME_KEY,
    IMAGE_QOS,
    IMAGE_TYPE,
    SOURCE_KEY,
    frame_stamp_ns,
    image_message_bytes,
    message_header,
)
from fairmot_ros.sequences import MotSequence
from fairmot_ros.spatial.calibration import Calibration

__all__ = ["InputBag", "node_parameters", "recorded_positions", "rgbd_bag", "run_through_node"]

IMAGE_TOPIC = "/camera/image_raw"
INFO_TOPIC = "/camera/camera_info"
DEPTH_TOPIC = "/camera/depth/image"
DEPTH_INFO_TOPIC = "/camera/depth/camera_info"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DETECTIONS_3D_TYPE = "vision_msgs/msg/Detection3DArray"
TRACKS_TYPE = "fairmot_ros_msgs/msg/TrackArray"
FRAME_ID = "camera"
WORLD_FRAME = "world"
OUTPUT_BAG = "outputs_bag"


@dataclass
class InputBag:
    path: Path
    frames: int
    first_frame: int
    last_frame: int
    fps: float
    depth: bool


def camera_info_bytes(calibration: Calibration, stamp_ns: int) -> bytes:
    """The calibration's camera as a ``sensor_msgs/CameraInfo`` (CDR bytes)."""
    camera = calibration.camera
    projection = np.zeros((3, 4))
    projection[:, :3] = camera.k
    roi = message_class("sensor_msgs/msg/RegionOfInterest")(
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    msg = message_class(CAMERA_INFO_TYPE)(
        header=message_header(stamp_ns, FRAME_ID), height=camera.height, width=camera.width,
        distortion_model=camera.distortion_model, d=np.asarray(camera.d, dtype=np.float64),
        k=camera.k.ravel().astype(np.float64), r=np.eye(3).ravel(), p=projection.ravel(),
        binning_x=0, binning_y=0, roi=roi)
    return serialize(msg, CAMERA_INFO_TYPE)


def depth_bytes(millimetres: np.ndarray, stamp_ns: int) -> bytes:
    """A ``16UC1`` depth image (uint16 millimetres, 0 invalid) as CDR bytes."""
    height, width = millimetres.shape
    msg = message_class(IMAGE_TYPE)(
        header=message_header(stamp_ns, FRAME_ID), height=height, width=width,
        encoding=DEPTH_ENCODING, is_bigendian=0, step=2 * width,
        data=np.frombuffer(np.ascontiguousarray(millimetres, dtype="<u2").tobytes(), np.uint8))
    return serialize(msg, IMAGE_TYPE)


def rgbd_bag(sequence: MotSequence, calibration: Calibration, out: Path,
             gt_rows: np.ndarray | None = None, noise: StereoNoise | None = None,
             seed: int = 0, overwrite: bool = False,
             progress: Callable[[int], None] | None = None) -> InputBag:
    """Write the colour frames with their CameraInfo, and depth when ``gt_rows`` are given
    (see the module doc)."""
    fps = sequence.frame_rate if sequence.frame_rate > 0 else 30.0
    renderer = DepthRenderer(calibration, noise) if gt_rows is not None else None
    early = round(1.5e9 / fps)
    custom = {FIRST_FRAME_KEY: str(sequence.first), SOURCE_KEY: sequence.name or
              str(sequence.source)}
    count, first, last = 0, 0, 0
    with BagWriter(out, "mcap", overwrite, custom_data=custom) as writer:
        writer.add_topic(IMAGE_TOPIC, IMAGE_TYPE, [IMAGE_QOS])
        writer.add_topic(INFO_TOPIC, CAMERA_INFO_TYPE, [IMAGE_QOS])
        if renderer is not None:
            writer.add_topic(DEPTH_TOPIC, IMAGE_TYPE, [IMAGE_QOS])
            writer.add_topic(DEPTH_INFO_TOPIC, CAMERA_INFO_TYPE, [IMAGE_QOS])
        for frame, image in sequence.frames():
            if (image.shape[1], image.shape[0]) != calibration.camera.size:
                raise BagError(f"frame {frame} is {image.shape[1]}x{image.shape[0]}, the "
                               f"calibration {calibration.camera.width}x"
                               f"{calibration.camera.height}")
            stamp = frame_stamp_ns(frame, fps)
            info = camera_info_bytes(calibration, stamp)
            writer.write(INFO_TOPIC, stamp - early, info)
            if renderer is not None:
                people = people_from_boxes(gt_rows[gt_rows[:, FRAME] == frame], calibration)
                pixels = renderer.render(people, np.random.default_rng([seed, frame]))
                writer.write(DEPTH_INFO_TOPIC, stamp - early, info)
                writer.write(DEPTH_TOPIC, stamp - early, depth_bytes(pixels, stamp))
            _, data = image_message_bytes(image, stamp, FRAME_ID)
            writer.write(IMAGE_TOPIC, stamp, data)
            count, last = count + 1, frame
            first = first or frame
            if progress is not None:
                progress(count)
    if not count:
        raise BagError("the frame range selects no frames of the source")
    return InputBag(out, count, first, last, fps, renderer is not None)


def node_parameters(calibration: Calibration, mode: str, fps: float) -> list[str]:
    """``tracker_node`` parameters for a replay: 3D on, the calibration's pose as a static
    transform of the optical frame in ``world``, outputs in ``world``."""
    pose = calibration.pose.inverse()  # the optical frame in the world frame

    def array(values: np.ndarray) -> str:
        return "[" + ",".join(repr(float(v)) for v in values) + "]"

    return ["qos_reliability:=reliable", f"tracker.frame_rate:={float(fps)!r}",
            f"spatial.mode:={mode}", "spatial.pose_source:=transform",
            f"spatial.ground_frame:={WORLD_FRAME}", f"spatial.target_frame:={WORLD_FRAME}",
            f"spatial.camera_translation:={array(pose.translation)}",
            f"spatial.camera_rotation:={array(pose.as_quaternion())}"]


def run_through_node(bag: InputBag, out: Path, params: list[str], domain_id: int,
                     namespace: str = "fairmot_people3d", frame_timeout: float = 30.0,
                     startup_timeout: float = 120.0,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Play ``bag`` to a ``tracker_node`` in lock-step and record its outputs into
    ``out/outputs_bag``; returns what the player and the node's last report said."""
    from fairmot_ros.replay.eval import input_frame_numbers
    from fairmot_ros.replay.lockstep import NodeObserver
    from fairmot_ros.replay.node_process import ReplayError, TrackerNodeProcess
    from fairmot_ros.replay.player import BagPlayer, PlayOptions
    from fairmot_ros.replay.recorder import BagRecorder
    from fairmot_ros.replay.session import node_session
    from fairmot_ros.ros import diagnostic_keys as keys

    out.mkdir(parents=True, exist_ok=True)
    reader = BagReader(bag.path)
    _, numbers = input_frame_numbers(reader, [IMAGE_TOPIC])
    stamps = sorted(numbers.by_stamp)
    node = TrackerNodeProcess(params, domain_id, namespace, out / "tracker_node.log")
    try:
        with node_session(node, domain_id, "fairmot_people3d_player") as session, \
                ExitStack() as cleanup:
            observer = NodeObserver(session, namespace, numbers.by_stamp, debug_image=False)
            prefix = observer.image_topic.rsplit("/", 1)[0]
            remap = {IMAGE_TOPIC: observer.image_topic, INFO_TOPIC: f"{prefix}/camera_info",
                     DEPTH_TOPIC: f"{prefix}/depth/image",
                     DEPTH_INFO_TOPIC: f"{prefix}/depth/camera_info"}
            topics = [t for t in (IMAGE_TOPIC, INFO_TOPIC, DEPTH_TOPIC, DEPTH_INFO_TOPIC)
                      if t in reader.topics]
            player = BagPlayer(session, reader, PlayOptions(
                topics=topics, remap=remap, lockstep=True, timeout=frame_timeout,
                reliability="reliable", image_topic=IMAGE_TOPIC))
            log(f"tracker_node: {node.wait_until_started(startup_timeout)}")
            observer.connect(player, IMAGE_TOPIC, bag_image_size(reader), stamps[0],
                             startup_timeout)
            observer.reports.settle(session.spin_until)
            base = observer.node_base
            recorded = [observer.detections_topic, f"{base}/detections_3d",
                        observer.tracks_topic]
            recorder = BagRecorder(session, BagWriter(out / OUTPUT_BAG, overwrite=True),
                                   [*recorded, "/diagnostics"])
            cleanup.callback(recorder.close)
            if not session.spin_until(lambda: recorder.ready(recorded), startup_timeout):
                raise ReplayError(f"the recorder found no publisher of {', '.join(recorded)}")
            log(f"playing {bag.path} (lock-step, frames {bag.first_frame}-{bag.last_frame}, "
                f"depth {'on' if bag.depth else 'off'}) into {out / OUTPUT_BAG}")
            started = time.perf_counter()
            stats = player.play(answered=observer.answered, on_image=observer.sent,
                                reports=observer.reports)
            seconds = time.perf_counter() - started
            final = observer.wait_for_final_diagnostics(timeout=3.0)
            session.spin_until(lambda: recorder.counts.get(f"{base}/detections_3d", 0)
                               >= len(observer.results), 5.0)
    finally:
        reader.close()
    exit_code = node.exit_code
    camera = final.camera if final is not None else {}
    return {
        "frames_sent": len(stats.images_sent),
        "frames_answered": len(observer.results),
        "frames_timed_out": len(stats.timed_out),
        "seconds": round(seconds, 1),
        "node_exit_code": exit_code,
        "node_3d": {key: camera.get(key) for key in (
            keys.SPATIAL_MODE, keys.SPATIAL_POSE_SOURCE, keys.SPATIAL_FRAMES,
            keys.SPATIAL_FAILURES)},
        "output_bag": str(out / OUTPUT_BAG),
    }


def bag_image_size(reader: BagReader) -> tuple[int, int]:
    message = next(reader.messages([IMAGE_TOPIC]))
    msg = reader.decode(message)
    return int(msg.width), int(msg.height)


def recorded_positions(output_bag: Path, frames_by_stamp: dict[int, int]) -> GroundRows:
    """The recorded ``Detection3D`` centres (x, y) with the ``Track`` velocities of the same
    id and stamp (NaN where none), frame numbers by stamp."""
    velocities: dict[tuple[int, str], tuple[float, float]] = {}
    rows, keys_ = [], []
    with BagReader(output_bag) as reader:
        for message in reader.messages():
            if message.type not in (DETECTIONS_3D_TYPE, TRACKS_TYPE):
                continue
            msg = reader.decode(message)
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            frame = frames_by_stamp.get(stamp)
            if frame is None:
                continue  # the warm-up frame
            if message.type == TRACKS_TYPE:
                for track in msg.tracks:
                    if track.position_valid:
                        velocities[(frame, track.id)] = (track.velocity_3d.x,
                                                         track.velocity_3d.y)
                continue
            for detection in msg.detections:
                position = detection.bbox.center.position
                rows.append((frame, int(detection.id.rsplit("/", 1)[-1]), position.x,
                             position.y))
                keys_.append((frame, detection.id))
    velocity = np.array([velocities.get(key, (np.nan, np.nan)) for key in keys_],
                        dtype=np.float64).reshape(-1, 2)
    return GroundRows.from_rows(rows, velocity)


def score_output(output_bag: Path, input_bag: Path, calibration: Calibration,
                 gt_path: Path, radius: float = 1.0) -> dict[str, Any]:
    """Positions of a recorded run against the ground truth over the input bag's frames."""
    from fairmot_ros.replay.eval import input_frame_numbers

    with BagReader(input_bag) as reader:
        _, numbers = input_frame_numbers(reader, [IMAGE_TOPIC])
    stamps = sorted(numbers.by_stamp)
    fps = (len(stamps) - 1) * 1e9 / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 10.0
    hyp = recorded_positions(output_bag, numbers.by_stamp)
    gt = ground_truth_positions(read_mot(gt_path), calibration)
    return score_positions(gt, hyp, numbers.first, numbers.last, radius=radius,
                           frame_rate=round(fps, 6))


def input_bag_path(sequence: MotSequence, depth: bool, seed: int,
                   cache: Path | None = None) -> Path:
    """Where the input bag of a sequence range goes in the cache (one per range and mode)."""
    kind = f"rgbd-s{seed}" if depth else "rgb"
    name = f"people3d_{sequence.name or 'seq'}_{sequence.first}-{sequence.last}_{kind}"
    return (cache or cache_dir() / "bags") / name




def _fingerprint(*paths: Path) -> str:
    """A short hash of files (the renderer's source, the calibration, the ground truth), so a
    changed input makes a new bag instead of reusing a stale one."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:10]


def cmd_people3d(args: Any) -> int:
    """``fairmot-bag people3d``: input bag (cached), the live node, the score; prints JSON."""
    import os

    from fairmot_ros.evaluation import rgbd
    from fairmot_ros.evaluation.people3d import PETS_CALIBRATION
    from fairmot_ros.replay.demo import large_data_transport
    from fairmot_ros.sequences import open_sequence
    from fairmot_ros.spatial.calibration import load_calibration

    calibration_path = Path(args.calibration or PETS_CALIBRATION)
    calibration = load_calibration(calibration_path)
    sequence = open_sequence(f"{args.sequence}:{args.frames}", args.gt)
    if sequence.gt_path is None:
        raise BagError(f"{args.sequence} has no ground truth (--gt)")
    depth = "depth" in args.mode
    noise = StereoNoise.none() if args.exact_depth else None
    tag = _fingerprint(Path(rgbd.__file__), calibration_path, sequence.gt_path)
    path = args.input or Path(f"{input_bag_path(sequence, depth, args.seed)}_{tag}")
    if not (path / "metadata.yaml").is_file() or args.rebuild or args.exact_depth:
        if args.exact_depth:
            path = path.with_name(path.name + "_exact")
        def progress(count: int) -> None:
            if count % 100 == 0:
                print(f"input bag: {count} frames", file=sys.stderr, flush=True)

        bag = rgbd_bag(sequence, calibration, path, read_mot(sequence.gt_path) if depth
                       else None, noise, args.seed, overwrite=True, progress=progress)
    else:
        with BagReader(path) as reader:
            count = reader.topics[IMAGE_TOPIC].count
        fps = sequence.frame_rate if sequence.frame_rate > 0 else 30.0
        bag = InputBag(path, count, sequence.first, sequence.first + count - 1, fps,
                       DEPTH_TOPIC in BagReader(path).topics)
    if depth and not bag.depth:
        raise BagError(f"{bag.path} has no depth topic; depth mode needs an RGB-D bag")
    out = Path(args.out).expanduser().resolve()
    domain = args.domain_id if args.domain_id is not None else int(
        os.environ.get("ROS_DOMAIN_ID", "0") or 0)
    params = node_parameters(calibration, args.mode, bag.fps) + list(args.param)
    # Megabyte colour and depth images both ways: Fast DDS's default UDP transport loses
    # fragments on a busy machine and a depth frame repaired late misses its colour frame.
    saved = os.environ.get("FASTDDS_BUILTIN_TRANSPORTS")
    transport = large_data_transport()
    try:
        run = run_through_node(bag, out, params, domain, frame_timeout=args.frame_timeout,
                               log=lambda text: print(text, file=sys.stderr, flush=True))
    finally:
        if saved is None:
            os.environ.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    run["transport"] = transport
    score = score_output(Path(run["output_bag"]), bag.path, calibration, sequence.gt_path,
                         args.radius)
    report = {"mode": args.mode, "input_bag": str(bag.path), "frames": f"{bag.first_frame}-"
              f"{bag.last_frame}", "calibration": str(calibration_path), "run": run, **score}
    emit_report(report, args.json)
    return 0 if run["frames_answered"] == run["frames_sent"] else 1


def cmd_eval3d(args: Any) -> int:
    """``fairmot-bag eval3d``: score a recorded run's 3D outputs; prints JSON."""
    from fairmot_ros.evaluation.people3d import PETS_CALIBRATION
    from fairmot_ros.spatial.calibration import load_calibration

    calibration = load_calibration(args.calibration or PETS_CALIBRATION)
    report = score_output(args.output_bag, args.input, calibration, Path(args.gt), args.radius)
    emit_report(report, args.json)
    return 0
