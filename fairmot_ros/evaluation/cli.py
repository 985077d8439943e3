"""``fairmot-eval``: run an exported model through the core over a sequence and score it.

The loop is the original ``eval_seq`` (spec section 5.6) on the ROS-free core, one
``CameraPipeline.step`` per frame (the node's own loop): letterbox + ONNX Runtime + decoding
(``Detector``), ``JDETracker`` with default settings and timestamps ``frame / fps``, Kalman
boxes kept when w*h > 100 and not w/h > 1.6, MOT result lines. The
default is the shipped model on PETS09-S2L1 frames 401-795, the range never used to train it.
``--perturb`` wraps the frame source in a perturbation chain (``perturb.py``), so the same
loop measures robustness to noise, blur, compression and exposure changes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fairmot_ros.evaluation.metrics import emit_report
from fairmot_ros.evaluation.mot_io import write_mot_results
from fairmot_ros.evaluation.perturb import parse_perturbations, perturb_sequence
from fairmot_ros.sequences import PETS_TEST_RANGE, MotSequence, SequenceError, open_sequence
from fairmot_ros.tracking.config import CAMERA_MOTION_METHODS, TrackerConfig

if TYPE_CHECKING:
    from fairmot_ros.spatial.stage import Scene, SpatialFrame, SpatialSettings

DEFAULT_SEQUENCE = f"pets:{PETS_TEST_RANGE[0]}-{PETS_TEST_RANGE[1]}"


def track_sequence(
    model: str | Path,
    sequence: MotSequence,
    conf_thres: float = 0.4,
    threads: int | None = None,
    providers: tuple[str, ...] | None = None,
    camera_motion: str = "none",
    warp_log: list[tuple[int, np.ndarray | None]] | None = None,
    spatial: SpatialSettings | None = None,
    scene: Callable[[int, float], Scene] | None = None,
    spatial_log: list[tuple[int, list[int], SpatialFrame]] | None = None,
    reid_memory_s: float = 0.0,
    reid_max_distance: float | None = None,
) -> tuple[list[tuple[int, int, np.ndarray]], dict[str, float]]:
    """Result rows ``(frame, track_id, tlwh)`` for the sequence and timing figures.

    Timing follows the original log: network + decoding + association per frame, image
    reading excluded (letterboxing is inside ``Detector`` and therefore included here).
    ``camera_motion`` other than "none" estimates each frame's camera motion (masked by this
    frame's detections) and hands the warp to the tracker, as the node does; the estimate is
    included in the timing, and ``warp_log`` (if given) receives ``(frame, warp)``. With
    ``spatial`` settings the pipeline also locates the reported tracks in 3D, each frame in the
    ``scene(frame, stamp)`` returns (included in the timing); ``spatial_log`` receives
    ``(frame, reported track ids, SpatialFrame)``. ``reid_memory_s`` > 0 turns the
    re-identification gallery on (``TrackerConfig.reid_memory_s``; ``reid_max_distance``
    None keeps the default distance); the rows then carry published ids and the timing
    counts the re-identifications.
    """
    from fairmot_ros.detector import Detector
    from fairmot_ros.pipeline import CameraPipeline

    engine_kwargs: dict = {"threads": threads}
    if providers:
        engine_kwargs["providers"] = providers
    detector = Detector(model, conf_thres=conf_thres, **engine_kwargs)
    fps = sequence.frame_rate if sequence.frame_rate > 0 else 30.0
    config = TrackerConfig(frame_rate=fps, conf_thres=conf_thres, camera_motion=camera_motion,
                           reid_memory_s=reid_memory_s)
    if reid_max_distance is not None:
        config = config.with_values(reid_max_distance=reid_max_distance)
    pipeline = CameraPipeline(config.checked(), detector, spatial)
    reidentified = 0
    rows: list[tuple[int, int, np.ndarray]] = []
    busy = 0.0
    frames = 0
    for frame_index, image in sequence.frames():
        stamp = frame_index / fps
        outcome = pipeline.step(image, stamp,
                                scene=scene(frame_index, stamp) if scene is not None else None)
        if spatial_log is not None and outcome.spatial is not None:
            spatial_log.append((frame_index, [t.track_id for t in outcome.tracks],
                                outcome.spatial))
        if warp_log is not None:
            warp_log.append((frame_index, outcome.warp))
        busy += outcome.detect_s + outcome.track_s
        frames += 1
        reidentified += len(outcome.events.reidentified)
        for track in outcome.tracks:
            rows.append((frame_index, int(track.track_id), np.asarray(track.tlwh, dtype=float)))
    timing = {
        "frames": frames,
        "seconds": round(busy, 3),
        "fps": round(frames / busy, 2) if busy > 0 else 0.0,
        "provider": detector.engine.active_provider,
    }
    if pipeline.gallery is not None:
        timing["reidentified"] = reidentified
    estimator = pipeline.motion
    if estimator is not None:
        timing["camera_motion_failures"] = estimator.failures
        timing["camera_motion_ms_mean"] = round(1000 * estimator.seconds / max(frames, 1), 3)
    return rows, timing


def score_sequence(
    sequence: MotSequence, rows: list[tuple[int, int, np.ndarray]]
) -> dict[str, object]:
    """TrackEval metrics of ``track_sequence`` rows over the sequence's range ({} without gt).

    An open-ended range (``last = 0``) is scored up to the last ground-truth frame.
    """
    if sequence.gt_path is None:
        return {}
    from fairmot_ros.evaluation.metrics import METRICS_LIBRARY, evaluate_mot
    from fairmot_ros.evaluation.mot_io import FRAME, read_mot, result_rows

    gt = sequence.ground_truth()
    last = sequence.last or int(read_mot(sequence.gt_path)[:, FRAME].max())
    return {"last_frame": last,
            "metrics": evaluate_mot(gt, result_rows(rows), sequence.first, last),
            "metrics_library": METRICS_LIBRARY}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fairmot-eval",
        description="Track a MOT-format sequence with an exported FairMOT ONNX model and score "
        "it with TrackEval (MOTA, IDF1, HOTA, IDSW, precision, recall, MT/ML).",
    )
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped model)")
    parser.add_argument("--sequence", default=DEFAULT_SEQUENCE, metavar="SEQ[:FIRST-LAST]",
                        help=f"sequence folder, video or 'pets' (default {DEFAULT_SEQUENCE})")
    parser.add_argument("--gt", default=None, help="ground truth file (default: the sequence's)")
    parser.add_argument("--conf-thres", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime CPU threads")
    parser.add_argument("--cpu", action="store_true", help="use the CPU provider only")
    parser.add_argument("--results", default=None, metavar="TXT", help="write MOT results here")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write metrics here")
    parser.add_argument("--perturb", default=None, metavar="SPEC",
                        help="perturb every frame first, e.g. noise:8 or blur:1.5+jpeg:40")
    parser.add_argument("--perturb-seed", type=int, default=0, metavar="N",
                        help="seed of random perturbations (with the frame index; default 0)")
    parser.add_argument("--camera-motion", default="none", choices=CAMERA_MOTION_METHODS,
                        help="camera-motion compensation (default none: the original tracker)")
    add_reid_arguments(parser)
    return parser


def add_reid_arguments(parser: argparse.ArgumentParser) -> None:
    """``--reid-memory`` and ``--reid-distance``: the re-identification gallery's settings."""
    defaults = TrackerConfig()
    parser.add_argument("--reid-memory", type=float, default=0.0, metavar="S",
                        help="remember people whose track was removed for S seconds and give "
                        "a new track that looks like one of them its id back (default 0: "
                        "the original tracker)")  # fmt: skip
    parser.add_argument("--reid-distance", type=float, default=defaults.reid_max_distance,
                        metavar="D", help="largest cosine distance of a re-identification "
                        f"(default {defaults.reid_max_distance:g})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        chain = parse_perturbations(args.perturb, args.perturb_seed) if args.perturb else None
        if args.model is None:
            from fairmot_ros.default_model import default_model_path

            model = default_model_path()
        else:
            model = Path(args.model)
        sequence = open_sequence(args.sequence, args.gt)
        if chain is not None:
            sequence = perturb_sequence(sequence, chain)
        providers = ("CPUExecutionProvider",) if args.cpu else None
        rows, timing = track_sequence(model, sequence, args.conf_thres, args.threads, providers,
                                      camera_motion=args.camera_motion,
                                      reid_memory_s=args.reid_memory,
                                      reid_max_distance=args.reid_distance)
    except (SequenceError, FileNotFoundError, ValueError) as exc:
        print(f"fairmot-eval: {exc}", file=sys.stderr)
        return 2
    if args.results:
        write_mot_results(args.results, rows)
    report: dict = {"model": str(model), "sequence": sequence.name or str(sequence.source),
                    "first_frame": sequence.first, "timing": timing,
                    "perturbation": chain.describe() if chain else None,
                    "camera_motion": args.camera_motion,
                    "reid_memory_s": args.reid_memory,
                    "reid_max_distance": args.reid_distance if args.reid_memory > 0 else None}
    report.update(score_sequence(sequence, rows))
    emit_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
