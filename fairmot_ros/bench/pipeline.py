"""``fairmot-bench pipeline``: the ROS-free core per frame, stage by stage.

    fairmot-bench pipeline [--model M.onnx] [--sequence pets:401-795 | --synthetic 1920x1080]
                           [--resize WxH] [--encoding bgr8] [--threads 2] [--provider cpu]
                           [--reid-memory S]

Frames (PETS09-S2L1 by default, or synthetic) are encoded once, untimed, as the bytes of a
raw ``sensor_msgs/Image`` would hold them; each timed frame then goes through what the node
does with it, without DDS: image conversion (``raw_to_bgr``, the node's own), then the node's
``CameraPipeline.step``: letterbox and input tensor, inference, decoding, tracking (camera
motion, tracker, output filters). Stage times come from the cheap timing hooks of the detector
(``Detector.last_timings``) and of the step (``FrameOutcome.track_s``), so the figures are the
node's code path. This is the
former ``python -m fairmot_ros.evaluation.benchmark``; ``fps`` is computed the same way.
"""

from __future__ import annotations

import argparse
import time

STAGES = ("conversion", "letterbox", "inference", "decode", "tracking")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model and ONNX Runtime options shared with the node benchmarks."""
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2,
                        help="ONNX Runtime intra-op threads (0: its default)")  # fmt: skip
    parser.add_argument("--provider", default="cpu",
                        help="cpu (default), cuda, tensorrt; the CPU is the fallback")  # fmt: skip
    parser.add_argument("--heads", choices=("peaks", "dense"), default="peaks",
                        help="box/offset/re-ID heads at the decoded peaks only (the node's "
                        "default) or over the whole map")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--spin", choices=("off", "on", "ort"), default="off",
                        help="intra-op threads busy-wait: off (the engine's default), on, or "
                        "ONNX Runtime's own default")  # fmt: skip
    parser.add_argument("--sequence", default="pets:401-795",
                        help="MOT sequence, video or 'pets' (default pets:401-795)")  # fmt: skip
    parser.add_argument("--synthetic", default=None, metavar="WxH",
                        help="synthetic frames of this size instead of a sequence")  # fmt: skip
    parser.add_argument("--resize", default=None, metavar="WxH",
                        help="scale sequence frames to this size first (untimed)")  # fmt: skip
    parser.add_argument("--encoding", default="bgr8", help="raw encoding of the frames "
                        "(bgr8, rgb8, bgra8, mono8, ...; default bgr8)")  # fmt: skip
    parser.add_argument("--frames", type=int, default=100, help="timed frames (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for the tracker (0: the library default)")  # fmt: skip
    parser.add_argument("--reid-memory", type=float, default=0.0, metavar="S",
                        help="track with the re-identification gallery (tracker.reid_memory_s; "
                        "default 0: off)")  # fmt: skip


def parse_size(text: str) -> tuple[int, int]:
    from fairmot_ros.bench.common import BenchError

    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BenchError(f"size {text!r} is not WIDTHxHEIGHT") from None
    if width <= 0 or height <= 0:
        raise BenchError(f"size {text!r} must be positive")
    return width, height


def synthetic_frame(width: int, height: int, step: int):
    """Grey frame with two white squares that move a little every frame (the node benchmark's
    frame, so figures at one size compare)."""
    import numpy as np

    frame = np.full((height, width, 3), 128, np.uint8)
    side = max(8, min(width, height) // 60)
    for k, (x0, y0) in enumerate(((0.2, 0.3), (0.6, 0.6))):
        x = int((x0 * width + 4 * step * (1 if k else -1)) % max(1, width - side))
        y = int(y0 * height)
        frame[y : y + side, x : x + side] = 255
    return frame


def load_frames(args: argparse.Namespace) -> tuple[list, float, str]:
    """(BGR frames, frame rate, source description); sequence frames resized if asked."""
    import cv2

    count = args.frames + args.warmup
    if args.synthetic:
        width, height = parse_size(args.synthetic)
        return ([synthetic_frame(width, height, i) for i in range(count)], 30.0,
                f"synthetic {width}x{height}")  # fmt: skip
    from fairmot_ros.sequences import SequenceError, open_sequence

    try:
        sequence = open_sequence(args.sequence)
        frames = []
        for _, image in sequence.frames():
            frames.append(image)
            if len(frames) >= count:
                break
    except SequenceError as exc:
        raise FileNotFoundError(f"{exc} (or use --synthetic WxH)") from None
    if not frames:
        raise FileNotFoundError(f"no frames in {args.sequence}")
    while len(frames) < count:  # short sequences are cycled
        frames.extend(frames[: count - len(frames)])
    if args.resize:
        width, height = parse_size(args.resize)
        frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in frames]
    return frames, sequence.frame_rate or 30.0, args.sequence


def encode_raw(image, encoding: str) -> tuple[bytes, int]:
    """The ``data`` and ``step`` a raw ``sensor_msgs/Image`` of this encoding would carry."""
    from fairmot_ros.bench.common import BenchError
    from fairmot_ros.image_bytes import raw_fields

    try:
        return raw_fields(image, encoding)
    except ValueError as exc:
        raise BenchError(str(exc)) from None


def make_detector(args: argparse.Namespace):
    """The detector the node would build from these options (model, provider, threads)."""
    from fairmot_ros.bench.common import BenchError
    from fairmot_ros.default_model import default_model_path
    from fairmot_ros.detector import Detector
    from fairmot_ros.engine import EngineError, canonical_provider

    model = args.model or str(default_model_path())
    providers = list(dict.fromkeys([canonical_provider(args.provider), "CPUExecutionProvider"]))
    spin = {"off": False, "on": True, "ort": None}[getattr(args, "spin", "off")]
    try:
        detector = Detector(model, providers=providers, threads=args.threads or None,
                            spin_wait=spin, heads_at_peaks=heads_at_peaks(args))  # fmt: skip
        return detector, model
    except EngineError as exc:  # a missing or unreadable model is bad input
        raise BenchError(str(exc)) from None


def heads_at_peaks(args: argparse.Namespace) -> bool:
    return getattr(args, "heads", "peaks") == "peaks"


def model_facts(detector) -> dict:
    engine = detector.engine
    contract = detector.contract
    return {
        "path": str(engine.model_path),
        "name": contract.model_name,
        "arch": contract.arch,
        "input": f"{contract.input_width}x{contract.input_height}",
        "input_format": contract.input_format,
        "precision": contract.precision,
        "topk_in_graph": contract.topk,
        "heads": engine.heads,
        "dense_heads_reason": engine.dense_heads_reason,
        "provider": engine.active_provider,
        "providers": engine.providers,
    }


def run(args: argparse.Namespace) -> dict:
    import numpy as np

    from fairmot_ros.bench.common import BenchError, document, load_average, rss_mb, summarize_ms
    from fairmot_ros.image_bytes import raw_to_bgr
    from fairmot_ros.pipeline import CameraPipeline
    from fairmot_ros.tracking import TrackerConfig

    if args.frames <= 0 or args.warmup < 0:
        raise BenchError("--frames must be positive and --warmup >= 0")
    start_load = load_average()
    frames, frame_rate, source = load_frames(args)
    height, width = frames[0].shape[:2]
    raw = [encode_raw(frame, args.encoding) for frame in frames]
    detector, model = make_detector(args)
    try:
        config = TrackerConfig(frame_rate=frame_rate, reid_memory_s=args.reid_memory).checked()
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    pipeline = CameraPipeline(config, detector)
    reidentified = 0
    parts: dict[str, list[float]] = {name: [] for name in STAGES}
    total: list[float] = []
    detections: list[int] = []
    rss_start = rss_mb()
    for i, (data, step) in enumerate(raw):
        start = time.perf_counter()
        image = raw_to_bgr(args.encoding, height, width, step, False, data)
        converted = time.perf_counter()
        outcome = pipeline.step(image, i / frame_rate)
        end = time.perf_counter()
        if i < args.warmup:
            continue
        reidentified += len(outcome.events.reidentified)
        timings = detector.last_timings
        parts["conversion"].append((converted - start) * 1e3)
        parts["letterbox"].append(timings["preprocess"] * 1e3)
        parts["inference"].append(timings["inference"] * 1e3)
        parts["decode"].append(timings["decode"] * 1e3)
        parts["tracking"].append(outcome.track_s * 1e3)
        total.append((end - start) * 1e3)
        detections.append(len(outcome.detections))
    stages = {name: summarize_ms(values) for name, values in parts.items()}
    without_network = [t - inf for t, inf in zip(total, parts["inference"], strict=True)]
    settings = {"frames": args.frames, "warmup": args.warmup, "threads": args.threads,
                "provider_requested": args.provider, "encoding": args.encoding,
                "spin_wait": args.spin,
                "source": source, "image_size": f"{width}x{height}",
                "blas_threads": args.blas_threads, "reid_memory_s": args.reid_memory}  # fmt: skip
    return document(
        "pipeline", settings, load_average_start=start_load, model=model_facts(detector),
        provider=detector.engine.active_provider, n=len(total),
        fps=round(1e3 * len(total) / sum(total), 2), total=summarize_ms(total),
        without_inference=summarize_ms(without_network), stages=stages,
        ms_median={name: stats["p50_ms"] for name, stats in stages.items()},
        mean_detections=round(float(np.mean(detections)), 1), reidentified=reidentified,
        rss_mb={"start": rss_start, "end": rss_mb()}, model_path=str(model),
    )  # fmt: skip
