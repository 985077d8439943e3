"""``fairmot-demo``: the tracker node on PETS09-S2L1 over real DDS, ending in pictures and scores.

    fairmot-demo [--model M.onnx] [--frames 401-795] [--out DIR] [--realtime] [--domain-id N]

What it does:

1. finds the input, by default the PETS09-S2L1 video (fetched into ``.cache/`` with the
   sequences helper when it is not installed), frames 401-795: the part the shipped model
   never trained on;
2. starts ``tracker_node`` (the console script, ``config/tracker.yaml``, the shipped model
   unless ``--model``) in namespace ``/fairmot_demo`` with reliable input and the video's frame
   rate, and waits for its start-up line;
3. publishes the frames as ``sensor_msgs/Image`` (bgr8, ``frame_id`` camera, stamp
   ``frame / fps``), by default in lock-step (frame k+1 leaves when the detections of frame k
   are back), with ``--realtime`` at the camera rate; collects ``~/detections``,
   ``~/tracks``, ``~/debug_image`` and ``/diagnostics``;
4. writes into ``--out`` (default ``.cache/demo``): ``tracked.mp4`` (``.avi`` or none when no
   codec opens), ``snapshot.png`` (the frame with the most tracks), ``contact_sheet.png``,
   ``node_debug_image.png`` (the node's own rendering of that frame), ``results.txt`` (MOT
   format), ``detections.jsonl`` (every answer as received), ``summary.json`` and
   ``tracker_node.log``;
5. scores ``results.txt`` with TrackEval against the ground truth when it is available
   (``../shared/data/pets09-s2l1/gt.txt`` for PETS) and prints a summary.

Exit status: 0 when every frame was answered (lock-step) or the run completed (realtime),
1 when frames went unanswered in lock-step, 2 when the demo could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fairmot_ros.evaluation.mot_io import write_mot_results
from fairmot_ros.ros.demo_process import DemoError, TrackerNodeProcess
from fairmot_ros.ros.demo_render import FrameResult, mot_rows, render_outputs
from fairmot_ros.sequences import (
    CACHE_DIR,
    PETS_TEST_RANGE,
    MotSequence,
    SequenceError,
    fetch_pets_video,
    locate_pets_video,
    open_sequence,
    parse_range,
)

__all__ = ["build_parser", "main", "run_demo"]

DEFAULT_FRAMES = f"{PETS_TEST_RANGE[0]}-{PETS_TEST_RANGE[1]}"
DEFAULT_OUT = CACHE_DIR / "demo"
DEFAULT_NAMESPACE = "fairmot_demo"
PROGRESS_EVERY = 50


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fairmot-demo",
        description="Run tracker_node on PETS09-S2L1 (or another MOT sequence/video) over DDS "
        "and write an annotated video, a snapshot, MOT results, metrics and a summary.",
    )
    parser.add_argument("--model", default=None,
                        help="exported ONNX model (default: the model shipped in the package)")
    parser.add_argument("--sequence", default="pets", metavar="SEQ",
                        help="'pets' (default), a MOT sequence folder, an image folder or a video")
    parser.add_argument("--gt", default=None, help="ground truth for --sequence (MOT format)")
    parser.add_argument("--frames", default=DEFAULT_FRAMES, metavar="FIRST-LAST",
                        help=f"1-based inclusive frame range (default {DEFAULT_FRAMES})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--realtime", action="store_true",
                        help="publish at the camera rate instead of waiting for each answer; "
                        "frames the node skips are reported as dropped")
    parser.add_argument("--domain-id", type=int,
                        default=int(os.environ.get("ROS_DOMAIN_ID", "0") or 0),
                        help="ROS domain of the node and the player (default $ROS_DOMAIN_ID or 0)")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                        help=f"namespace of the node and the image topic (default "
                        f"{DEFAULT_NAMESPACE}; '/' for none)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra tracker_node parameter, e.g. tracker.conf_thres:=0.5")
    parser.add_argument("--frame-timeout", type=float, default=30.0,
                        help="seconds to wait for the answer to one frame (default 30)")
    parser.add_argument("--startup-timeout", type=float, default=120.0,
                        help="seconds to wait for the node to start (default 120)")
    parser.add_argument("--no-debug-image", action="store_true",
                        help="do not subscribe to ~/debug_image (the node then skips drawing)")
    return parser


# ----- input ---------------------------------------------------------------------------------
def resolve_model(model: str | None) -> Path | None:
    """The model to pass to the node, None for the node's own default; both are checked here
    with the node's rules, so a missing file is reported before anything starts."""
    from fairmot_ros.ros.runtime import StartupError, resolve_model_path

    try:
        path = resolve_model_path(model or "")
    except StartupError as exc:
        raise DemoError(f"{exc}; pass --model" if not model else str(exc)) from None
    return path.resolve() if model else None


def open_input(spec: str, frames: str, gt: str | None) -> MotSequence:
    """The sequence to play; PETS09-S2L1 is fetched into the cache when it is not there."""
    first, last = parse_range(frames)
    text = f"{first}-{last}" if last else f"{first}-"
    if spec.lower() in ("pets", "pets09-s2l1") and locate_pets_video() is None:
        print("PETS09-S2L1 video not found; fetching it (apt-get download opencv-doc) ...",
              flush=True)
        try:
            fetch_pets_video()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise DemoError(f"cannot fetch the PETS09-S2L1 video: {exc}") from None
    try:
        return open_sequence(f"{spec}:{text}", gt)
    except SequenceError as exc:
        raise DemoError(str(exc)) from None


def _peek(frames: Iterator[tuple[int, np.ndarray]]) -> tuple[tuple[int, np.ndarray], Iterator]:
    try:
        first = next(frames)
    except StopIteration:
        raise DemoError("the frame range selects no frames of the sequence") from None
    return first, chain([first], frames)


# ----- figures -------------------------------------------------------------------------------
def _ms_stats(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    ms = 1000.0 * np.asarray(seconds)
    return {"mean": round(float(ms.mean()), 1), "p50": round(float(np.percentile(ms, 50)), 1),
            "p90": round(float(np.percentile(ms, 90)), 1), "max": round(float(ms.max()), 1)}


def _track_lengths(results: dict[int, FrameResult]) -> Counter:
    return Counter(track_id for result in results.values() for track_id in result.ids)


def node_figures(player: Any, final: Any) -> dict[str, Any]:
    """The node's own view from /diagnostics: counters of the last report, latencies averaged
    over the reporting periods weighted by their output rate."""
    if final is None:
        return {"available": False}
    periods = [d for d in player.diagnostics if d.number("output rate (Hz)") > 0]
    weights = np.array([d.number("output rate (Hz)") for d in periods])

    def weighted(key: str) -> float | None:
        if not periods:
            return None
        values = np.array([d.number(key) for d in periods])
        return round(float(np.average(values, weights=weights)), 1)

    processing = weighted("processing latency mean (ms)")
    return {
        "available": True,
        "execution_provider": final.engine.get("execution provider", "unknown"),
        "model_name": final.engine.get("model name", ""),
        "input_size": final.engine.get("input size (WxH)", ""),
        "frames_received": int(final.number("frames received")),
        "frames_published": int(final.number("frames published")),
        "frames_dropped_busy": int(final.number("frames dropped (replaced while busy)")),
        "frames_missed_before_node": int(
            final.number("frames missed before the node (sequence gaps)")),
        "frames_rejected": int(final.number("frames rejected (undecodable)")),
        "warmup_frames_answered": player._warmup_answers,
        "processing_ms_mean": processing,
        "processing_ms_max": round(max((d.number("processing latency max (ms)")
                                        for d in periods), default=0.0), 1),
        "receive_to_publish_ms_mean": weighted("receive to publish latency mean (ms)"),
        "processing_capacity_fps": round(1000.0 / processing, 1) if processing else None,
    }


def score(sequence: MotSequence, rows: list, first: int, last: int) -> dict[str, Any] | None:
    """TrackEval metrics of the node's rows, or None without ground truth."""
    if sequence.gt_path is None:
        return None
    from fairmot_ros.evaluation.metrics import evaluate_mot

    result_rows = np.array([[f, i, *tlwh, 1, -1, -1, -1] for f, i, tlwh in rows],
                           dtype=np.float64).reshape(-1, 10)
    metrics = evaluate_mot(sequence.ground_truth(), result_rows, first, last)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in metrics.items()}


# ----- outputs -------------------------------------------------------------------------------
def write_answers(path: Path, results: dict[int, FrameResult], frame_ids: dict[int, str]) -> Path:
    """Every ``Detection2DArray`` as received: stamp, frame_id and the detections."""
    with path.open("w") as handle:
        for frame in sorted(results):
            result = results[frame]
            record = {
                "frame": frame,
                "stamp": {"sec": result.stamp_ns // 1_000_000_000,
                          "nanosec": result.stamp_ns % 1_000_000_000},
                "frame_id": frame_ids.get(frame, ""),
                "round_trip_ms": round(1000 * result.round_trip_s, 2)
                if result.round_trip_s is not None else None,
                "detections": [
                    {"id": i, "tlwh": [round(float(v), 2) for v in box],
                     "score": round(float(s), 4)}
                    for i, box, s in zip(result.ids, result.tlwh, result.scores, strict=True)
                ],
            }
            handle.write(json.dumps(record) + "\n")
    return path


def print_summary(summary: dict[str, Any]) -> None:
    run, node, ids = summary["run"], summary["node"], summary["tracks"]
    lines = [
        "",
        "=== fairmot_ros demo ===",
        f"input      {summary['input']['name']} frames {run['first_frame']}-{run['last_frame']} "
        f"at {summary['input']['fps']:g} fps, {run['mode']}",
        f"model      {summary['model']['started']}",
        f"frames     sent {run['frames_sent']}, answered {run['frames_answered']}, "
        f"unanswered {len(run['unanswered_frames'])}"
        + (" (skipped by the busy node: it tracks the newest frame)"
           if run["mode"] == "realtime" and run["unanswered_frames"] else "")
        + f"; {run['warmup_frames']} warm-up frame(s) before the run",
        f"tracks     {ids['distinct_ids']} distinct ids, {ids['detections']} boxes, "
        f"longest track {ids['longest_track_frames']} frames",
        f"timing     {run['seconds']:.1f} s for {run['frames_answered']} frames = "
        f"{run['throughput_fps']:.1f} fps end to end; round trip ms {run['round_trip_ms']}",
    ]
    if node.get("available"):
        lines.append(
            f"node       {node['execution_provider']}: processing {node['processing_ms_mean']} ms "
            f"mean / {node['processing_ms_max']} ms max (capacity "
            f"{node['processing_capacity_fps']} fps), received {node['frames_received']}, "
            f"published {node['frames_published']}, dropped {node['frames_dropped_busy']}, "
            f"missed {node['frames_missed_before_node']}, rejected {node['frames_rejected']}"
        )
    else:
        lines.append("node       no /diagnostics received")
    metrics = summary["metrics"]
    if metrics is None:
        lines.append(f"metrics    skipped: {summary['metrics_note']}")
    else:
        lines.append(
            "metrics    " + ", ".join(f"{k} {metrics[k]}" for k in
                                      ("MOTA", "IDF1", "HOTA", "precision", "recall", "IDSW",
                                       "MT", "ML", "gt_ids"))
        )
    for name, path in summary["outputs"].items():
        lines.append(f"{name:<10} {path}")
    print("\n".join(lines), flush=True)


# ----- the run -------------------------------------------------------------------------------
def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Everything in the module doc; returns the summary (also written as summary.json)."""
    wall_start = time.perf_counter()
    model = resolve_model(args.model)
    sequence = open_input(args.sequence, args.frames, args.gt)
    fps = sequence.frame_rate if sequence.frame_rate > 0 else 30.0
    (first_frame, first_image), frames = _peek(sequence.frames())
    out: Path = args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = ["qos_reliability:=reliable", f"tracker.frame_rate:={float(fps)!r}"]
    if model is not None:
        params.append(f"model:={model}")
    params += args.param
    node = TrackerNodeProcess(params, args.domain_id, args.namespace, out / "tracker_node.log")
    from fairmot_ros.ros.demo_player import FramePlayer, frame_stamp_ns

    node.start()
    player = None
    try:
        player = FramePlayer(args.domain_id, args.namespace, not args.no_debug_image, node.alive)
        started = node.wait_until_started(args.startup_timeout)
        print(f"tracker_node: {started}", flush=True)
        height, width = first_image.shape[:2]
        player.connect((width, height), frame_stamp_ns(first_frame, fps), args.startup_timeout)
        mode = "realtime" if args.realtime else "lock-step"
        print(f"playing {sequence.name or sequence.source} from frame {first_frame} ({mode}, "
              f"{fps:g} fps stamps) to {player.image_topic}", flush=True)

        def progress(frame: int) -> None:
            count = len(player.stats.sent)
            if count % PROGRESS_EVERY == 0:
                answered = len(player.results)
                tracks = len(player.results[frame]) if frame in player.results else "-"
                print(f"  frame {frame}: sent {count}, answered {answered}, tracks {tracks}",
                      flush=True)

        play = player.play_realtime if args.realtime else player.play_lockstep
        play(frames, fps, args.frame_timeout, progress)
        final = player.wait_for_final_diagnostics(timeout=3.0)
        summary = _summarise(args, sequence, fps, started, player, final)
    except DemoError as exc:
        if node.process is not None and not node.alive():
            raise node.failure(str(exc)) from None
        raise
    finally:
        if player is not None:
            player.close()
        exit_code = node.stop()
    summary["node"]["exit_code"] = exit_code
    summary["outputs"] = _write_outputs(sequence, player, out, fps, summary)
    summary["wall_seconds"] = round(time.perf_counter() - wall_start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _summarise(args: argparse.Namespace, sequence: MotSequence, fps: float, started: str,
               player: Any, final: Any) -> dict[str, Any]:
    stats, results = player.stats, player.results
    lengths = _track_lengths(results)
    sent = stats.sent
    answered = len(results)
    last_states = player.store_states.get(max(player.store_states), Counter()) \
        if player.store_states else Counter()
    return {
        "input": {"name": sequence.name or str(sequence.source), "source": str(sequence.source),
                  "fps": fps, "ground_truth": str(sequence.gt_path) if sequence.gt_path else None},
        "model": {"path": args.model or "shipped default", "started": started},
        "run": {
            "mode": "realtime" if args.realtime else "lock-step",
            "domain_id": args.domain_id,
            "dds_transport": getattr(args, "transport", ""),
            "image_topic": player.image_topic,
            "first_frame": sent[0] if sent else None,
            "last_frame": sent[-1] if sent else None,
            "frames_sent": len(sent),
            "frames_answered": answered,
            "unanswered_frames": sorted(set(sent) - set(results)),
            "timed_out_frames": stats.timed_out,
            "warmup_frames": stats.warmup_frames,
            "late_publishes": stats.late_publishes,
            "duplicate_answers": stats.duplicate_answers,
            "answers_with_wrong_frame_id": stats.wrong_frame_id,
            "published_ids_not_tracked_in_store": stats.ids_missing_from_store,
            "seconds": round(stats.seconds, 2),
            "throughput_fps": round(answered / stats.seconds, 2) if stats.seconds else 0.0,
            "round_trip_ms": _ms_stats([r.round_trip_s for r in results.values()
                                        if r.round_trip_s is not None]),
        },
        "tracks": {
            "detections": int(sum(lengths.values())),
            "distinct_ids": len(lengths),
            "longest_track_frames": max(lengths.values(), default=0),
            "ids_seen_in_5_or_more_frames": sum(n >= 5 for n in lengths.values()),
            "store_at_last_frame": dict(last_states),
        },
        "node": node_figures(player, final),
    }


def _write_outputs(sequence: MotSequence, player: Any, out: Path, fps: float,
                   summary: dict[str, Any]) -> dict[str, str]:
    results = player.results
    outputs: dict[str, str] = {}
    rows = mot_rows(results)
    outputs["results"] = str(write_mot_results(out / "results.txt", rows))
    outputs["answers"] = str(write_answers(out / "detections.jsonl", results, player.frame_ids))
    run = summary["run"]
    summary["metrics"], summary["metrics_note"] = None, ""
    if run["frames_sent"]:
        sent = set(player.stats.sent)
        frames = ((i, image) for i, image in sequence.frames() if i in sent)
        title = f"{sequence.name or sequence.source} via tracker_node"
        rendered = render_outputs(frames, results, out, fps, title)
        if rendered.video is not None:
            outputs["video"] = str(rendered.video)
        if rendered.snapshot is not None:
            outputs["snapshot"] = f"{rendered.snapshot} (frame {rendered.snapshot_frame})"
        outputs["contact"] = str(rendered.contact_sheet)
        if player.debug_image is not None:
            from fairmot_ros.ros.image_codec import ImageDecoder

            path = out / "node_debug_image.png"
            cv2.imwrite(str(path), ImageDecoder(use_cv_bridge=False).image(player.debug_image))
            outputs["node_debug"] = f"{path} (frame {player.debug_image_frame})"
        if sequence.gt_path is None:
            summary["metrics_note"] = "no ground truth for this sequence (for PETS09-S2L1: " \
                "../shared/data/pets09-s2l1/gt.txt is absent)"
        else:
            summary["metrics"] = score(sequence, rows, run["first_frame"], run["last_frame"])
    outputs["summary"] = str(out / "summary.json")
    outputs["node_log"] = str(out / "tracker_node.log")
    return outputs


def large_data_transport() -> str:
    """Let Fast DDS carry the megabyte images over shared memory / TCP (``LARGE_DATA``).

    With the default UDP transport, full-size images flowing both ways (frames in, debug
    images out) lose fragments on a busy machine, and each loss costs a heartbeat period
    (about 3 s) of reliable repair. An explicit ``FASTDDS_BUILTIN_TRANSPORTS`` is respected;
    the value is inherited by the node process. Returns the setting in effect.
    """
    rmw = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if rmw.startswith("rmw_fastrtps"):
        return os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    return f"{rmw} defaults"


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``fairmot-demo``; returns the exit status (see the module doc)."""
    args = build_parser().parse_args(argv)
    args.transport = large_data_transport()
    try:
        summary = run_demo(args)
    except (DemoError, SequenceError) as exc:
        print(f"fairmot-demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fairmot-demo: interrupted", file=sys.stderr)
        return 130
    print_summary(summary)
    print(f"total      {summary['wall_seconds']} s", flush=True)
    unanswered = summary["run"]["unanswered_frames"]
    return 1 if unanswered and not args.realtime else 0


if __name__ == "__main__":
    sys.exit(main())
