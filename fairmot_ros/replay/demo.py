"""``fairmot-demo``: the tracker node on PETS09-S2L1 through rosbags, ending in pictures and scores.

    fairmot-demo [--model M.onnx] [--frames 401-795] [--out DIR] [--realtime] [--domain-id N]

What it does, the way a robotics team replays a recording through its perception stack:

1. finds the input, by default the PETS09-S2L1 video (fetched into ``.cache/`` with the
   sequences helper when it is not installed), frames 401-795: the part the shipped model
   never trained on, and turns it into an input bag (``fairmot-bag from-video``: MCAP,
   ``sensor_msgs/Image`` bgr8, stamps ``frame / fps``), cached in ``.cache/bags/``;
2. starts ``tracker_node`` (the console script, ``config/tracker.yaml``, the shipped model
   unless ``--model``) in namespace ``/fairmot_demo`` with reliable input and the video's frame
   rate, and waits for its start-up line;
3. plays the bag to it (``fairmot-bag play``'s player), by default in lock-step (image k+1
   leaves when the detections of image k are back), with ``--realtime`` at the recorded rate
   with ``/clock`` and the node on ``use_sim_time``; records ``~/detections``, ``~/tracks`` and
   ``/diagnostics`` into an output bag (``fairmot-bag record``'s recorder, in this process)
   and watches ``~/debug_image``;
4. scores and draws the run from the two bags (``fairmot-bag eval`` / ``render``): into
   ``--out`` (default ``.cache/demo``) go ``outputs_bag/``, ``tracked.mp4`` (``.avi`` or none
   when no codec opens), ``snapshot.png`` (the frame with the most tracks),
   ``contact_sheet.png``, ``node_debug_image.png`` (the node's own rendering of that frame),
   ``results.txt`` (MOT format), ``detections.jsonl`` (every answer as recorded),
   ``summary.json`` and ``tracker_node.log``;
5. prints TrackEval's metrics against the ground truth when it is available
   (``../shared/data/pets09-s2l1/gt.txt`` for PETS) and where everything is.

Exit status: 0 when every frame was answered or reported refused or dropped by the node
(lock-step; the summary counts them by reason) or the run completed (realtime), 1 when frames
went unanswered in lock-step, 2 when the demo could not run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fairmot_ros.bags import BagError, BagReader, BagWriter
from fairmot_ros.evaluation.metrics import SUMMARY_METRICS
from fairmot_ros.evaluation.mot_io import write_mot_results
from fairmot_ros.replay.eval import input_frame_numbers, read_recorded_run, score_rows
from fairmot_ros.replay.frames import bag_frames, video_to_bag
from fairmot_ros.replay.node_process import ReplayError, TrackerNodeProcess
from fairmot_ros.replay.render import render_outputs
from fairmot_ros.replay.results import FrameResult, mot_rows
from fairmot_ros.ros import diagnostic_keys as keys
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
from fairmot_ros.stamps import NS_PER_SECOND, ns_to_stamp

__all__ = ["build_parser", "main", "run_demo"]

DEFAULT_FRAMES = f"{PETS_TEST_RANGE[0]}-{PETS_TEST_RANGE[1]}"
DEFAULT_OUT = CACHE_DIR / "demo"
DEFAULT_NAMESPACE = "fairmot_demo"
BAG_CACHE = CACHE_DIR / "bags"
OUTPUT_BAG = "outputs_bag"
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
    parser.add_argument("--bag", type=Path, default=None,
                        help="play this input bag instead of making one from --sequence "
                        "(its one image topic; --gt scores it)")
    return parser


# ----- input ---------------------------------------------------------------------------------
def resolve_model(model: str | None) -> Path | None:
    """The model to pass to the node, None for the node's own default; both are checked here
    with the node's rules, so a missing file is reported before anything starts."""
    from fairmot_ros.ros.runtime import StartupError, resolve_model_path

    try:
        path = resolve_model_path(model or "")
    except StartupError as exc:
        raise ReplayError(f"{exc}; pass --model" if not model else str(exc)) from None
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
            raise ReplayError(f"cannot fetch the PETS09-S2L1 video: {exc}") from None
    try:
        return open_sequence(f"{spec}:{text}", gt)
    except SequenceError as exc:
        raise ReplayError(str(exc)) from None


# ----- figures -------------------------------------------------------------------------------
def _ms_stats(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    ms = 1000.0 * np.asarray(seconds)
    return {"mean": round(float(ms.mean()), 1), "p50": round(float(np.percentile(ms, 50)), 1),
            "p90": round(float(np.percentile(ms, 90)), 1), "max": round(float(ms.max()), 1)}


def _track_lengths(results: dict[int, FrameResult]) -> Counter:
    return Counter(track_id for result in results.values() for track_id in result.ids)


def node_figures(observer: Any, final: Any) -> dict[str, Any]:
    """The node's own view from /diagnostics: counters of the last report, latencies averaged
    over the reporting periods weighted by their output rate."""
    if final is None:
        return {"available": False}
    periods = [d for d in observer.diagnostics if d.number(keys.OUTPUT_RATE) > 0]
    weights = np.array([d.number(keys.OUTPUT_RATE) for d in periods])

    def weighted(key: str) -> float | None:
        if not periods:
            return None
        values = np.array([d.number(key) for d in periods])
        return round(float(np.average(values, weights=weights)), 1)

    processing = weighted(keys.PROCESSING_MEAN)
    return {
        "available": True,
        "execution_provider": final.engine.get(keys.EXECUTION_PROVIDER, "unknown"),
        "model_name": final.engine.get(keys.MODEL_NAME, ""),
        "input_size": final.engine.get(keys.INPUT_SIZE, ""),
        "frames_received": int(final.number(keys.FRAMES_RECEIVED)),
        "frames_published": int(final.number(keys.FRAMES_PUBLISHED)),
        "frames_dropped_busy": int(final.number(keys.FRAMES_DROPPED)),
        "frames_missed_before_node": int(final.number(keys.FRAMES_MISSED)),
        "frames_rejected": int(final.number(keys.FRAMES_REJECTED)),
        "rejection_reasons": keys.parse_reasons(final.camera.get(keys.REJECTION_REASONS, "")),
        "warmup_frames_answered": observer.warmup_answers,
        "processing_ms_mean": processing,
        "processing_ms_max": round(max((d.number(keys.PROCESSING_MAX)
                                        for d in periods), default=0.0), 1),
        "receive_to_publish_ms_mean": weighted(keys.RECEIVE_TO_PUBLISH_MEAN),
        "processing_capacity_fps": round(1000.0 / processing, 1) if processing else None,
    }


def score(sequence: MotSequence | None, rows: list, first: int, last: int) -> dict | None:
    """TrackEval metrics of the node's rows, or None without ground truth."""
    if sequence is None or sequence.gt_path is None:
        return None
    return score_rows(sequence.ground_truth(), rows, first, last)


# ----- outputs -------------------------------------------------------------------------------
def write_answers(path: Path, results: dict[int, FrameResult], frame_ids: dict[int, str]) -> Path:
    """Every ``Detection2DArray`` as received: stamp, frame_id and the detections."""
    with path.open("w") as handle:
        for frame in sorted(results):
            result = results[frame]
            record = {
                "frame": frame,
                "stamp": dict(zip(("sec", "nanosec"), ns_to_stamp(result.stamp_ns),
                                  strict=True)),
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


def _reasons_text(counts: dict[str, int]) -> str:
    return f"{sum(counts.values())} (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")"


def print_summary(summary: dict[str, Any]) -> None:
    run, node, ids = summary["run"], summary["node"], summary["tracks"]
    lines = [
        "",
        "=== fairmot_ros demo ===",
        f"input      {summary['input']['name']} frames {run['first_frame']}-{run['last_frame']} "
        f"at {summary['input']['fps']:g} fps, {run['mode']}",
        f"model      {summary['model']['started']}",
        f"frames     sent {run['frames_sent']}, answered {run['frames_answered']}, "
        + (f"refused {_reasons_text(run['frames_refused'])}, "
           if run["frames_refused"] else "")
        + (f"dropped {len(run['dropped_frames'])}, " if run["dropped_frames"] else "")
        + f"unanswered {len(run['unanswered_frames'])}"
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
            "metrics    " + ", ".join(f"{k} {metrics[k]}" for k in SUMMARY_METRICS)
        )
    for name, path in summary["outputs"].items():
        lines.append(f"{name:<10} {path}")
    print("\n".join(lines), flush=True)


# ----- the input bag -------------------------------------------------------------------------
def _source_fingerprint(source: Path) -> str:
    """Short hash of where the frames come from and of each file's size and time, so that a
    folder remade in place (another seed, other frames) never reuses the bag of the old one."""
    digest = hashlib.sha256(str(source.resolve()).encode())
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(source) if path != source else ''}"
                      f":{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:10]


def _bag_name(sequence: MotSequence) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "_", (sequence.name or sequence.source.stem).lower())
    return (f"{name}_{sequence.first}-{sequence.last or 'end'}_"
            f"{_source_fingerprint(sequence.source)}")


def make_input_bag(sequence: MotSequence, cache: Path = BAG_CACHE) -> Path:
    """The sequence as an MCAP bag in ``cache`` (made once; a damaged cache is rebuilt).

    The bag is written under ``cache/.partial/`` and moved into place when complete, so an
    interrupted run never leaves a half bag that a later run would take for the input.
    """
    path = cache / _bag_name(sequence)
    if (path / "metadata.yaml").is_file():
        try:
            with BagReader(path) as reader:
                if reader.note is None and reader.image_topics():
                    return path
        except BagError:
            pass
    partial = cache / ".partial" / path.name
    partial.parent.mkdir(parents=True, exist_ok=True)
    print(f"writing the input bag {path} ...", flush=True)
    video_to_bag(sequence, partial, overwrite=True)
    if path.exists():
        shutil.rmtree(path)
    partial.rename(path)
    return path


# ----- the run -------------------------------------------------------------------------------
def _median_fps(stamps: list[int]) -> float:
    steps = np.diff(np.asarray(sorted(stamps), dtype=np.float64))
    step = float(np.median(steps)) if steps.size else 0.0
    return NS_PER_SECOND / step if step > 0 else 30.0


def run_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Everything in the module doc; returns the summary (also written as summary.json)."""
    wall_start = time.perf_counter()
    model = resolve_model(args.model)
    sequence = open_input(args.sequence, args.frames, args.gt) if args.bag is None else None
    try:
        bag = make_input_bag(sequence) if sequence is not None else args.bag.expanduser()
        reader = BagReader(bag)
        topic, numbers = input_frame_numbers(reader)
        first_image = next(bag_frames(reader, topic)).image
    except (BagError, StopIteration) as exc:
        raise ReplayError(str(exc) or f"{bag} has no images") from None
    stamps = sorted(numbers.by_stamp)
    fps = sequence.frame_rate if sequence is not None and sequence.frame_rate > 0 \
        else _median_fps(stamps)
    out: Path = args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    params = ["qos_reliability:=reliable", f"tracker.frame_rate:={float(fps)!r}"]
    if args.realtime:
        params.append("use_sim_time:=true")
    if model is not None:
        params.append(f"model:={model}")
    params += args.param
    node = TrackerNodeProcess(params, args.domain_id, args.namespace, out / "tracker_node.log")
    from fairmot_ros.replay.lockstep import NodeObserver
    from fairmot_ros.replay.player import DEFAULT_CLOCK_HZ, BagPlayer, PlayOptions
    from fairmot_ros.replay.recorder import BagRecorder
    from fairmot_ros.replay.session import node_session

    try:
        with node_session(node, args.domain_id, "fairmot_demo_player") as session, \
                ExitStack() as cleanup:
            observer = NodeObserver(session, args.namespace, numbers.by_stamp,
                                    not args.no_debug_image)
            options = PlayOptions(topics=[topic], remap={topic: observer.image_topic},
                                  clock_hz=DEFAULT_CLOCK_HZ if args.realtime else None,
                                  lockstep=not args.realtime, timeout=args.frame_timeout,
                                  reliability="reliable")
            player = BagPlayer(session, reader, options)
            started = node.wait_until_started(args.startup_timeout)
            print(f"tracker_node: {started}", flush=True)
            height, width = first_image.shape[:2]
            observer.connect(player, topic, (width, height), stamps[0], args.startup_timeout)
            if not args.realtime:  # the node's counters after the warm-up: lock-step's baseline
                observer.reports.settle(session.spin_until)
            recorded = [observer.detections_topic, observer.tracks_topic]
            recorder = BagRecorder(session, BagWriter(out / OUTPUT_BAG, overwrite=True),
                                   [*recorded, "/diagnostics"])
            cleanup.callback(recorder.close)
            if not session.spin_until(lambda: recorder.ready(recorded), args.startup_timeout):
                raise ReplayError(f"the recorder found no publisher of {', '.join(recorded)}")
            mode = "realtime" if args.realtime else "lock-step"
            print(f"playing {bag} ({mode}, {fps:g} fps stamps, frames {numbers.first}-"
                  f"{numbers.last}) to {observer.image_topic}, recording into "
                  f"{out / OUTPUT_BAG}", flush=True)

            def progress(count: int) -> None:
                if count % PROGRESS_EVERY == 0:
                    frame = observer.stats.sent_frames[-1]
                    tracks = len(observer.results[frame]) if frame in observer.results else "-"
                    print(f"  frame {frame}: sent {count}, answered {len(observer.results)}, "
                          f"tracks {tracks}", flush=True)

            stats = player.play(answered=observer.answered, on_image=observer.sent,
                                progress=progress, reports=observer.reports)
            if args.realtime and stats.images_sent:  # the newest frame is always processed
                last = stats.images_sent[-1]
                if not session.spin_until(lambda: observer.answered(last), args.frame_timeout):
                    stats.timed_out.append(last)
            final = observer.wait_for_final_diagnostics(timeout=3.0)
            session.spin_until(lambda: recorder.counts.get(observer.detections_topic, 0)
                               >= len(observer.results) + 0, 5.0)
            recorder.close()
            summary = _summarise(args, sequence, bag, fps, started, observer, stats, numbers,
                                 final)
    finally:
        reader.close()
    summary["node"]["exit_code"] = node.exit_code
    summary["outputs"] = _write_outputs(sequence, bag, observer, out, fps, summary, args.gt)
    summary["wall_seconds"] = round(time.perf_counter() - wall_start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _summarise(args: argparse.Namespace, sequence: MotSequence | None, bag: Path, fps: float,
               started: str, observer: Any, stats: Any, numbers: Any,
               final: Any) -> dict[str, Any]:
    results = observer.results
    lengths = _track_lengths(results)
    sent = observer.stats.sent_frames
    answered = len(results)
    from fairmot_ros.replay.node_reports import DROPPED

    # frames the node reported refused (by reason) or dropped instead of answering
    reported: dict[str, list[int]] = {}
    for stamp, outcome in stats.reported.items():
        frame = numbers.by_stamp.get(stamp)
        if frame is not None and frame not in results:
            reported.setdefault(outcome, []).append(frame)
    dropped = sorted(reported.pop(DROPPED, []))
    refused = {reason: sorted(frames) for reason, frames in sorted(reported.items())}
    accounted = set(results).union(dropped, *refused.values())
    last_states = observer.store_states.get(max(observer.store_states), Counter()) \
        if observer.store_states else Counter()
    name = (sequence.name or str(sequence.source)) if sequence is not None else bag.name
    return {
        "input": {"name": name, "source": str(sequence.source) if sequence else str(bag),
                  "bag": str(bag), "fps": fps,
                  "ground_truth": str(sequence.gt_path) if sequence and sequence.gt_path
                  else args.gt},
        "model": {"path": args.model or "shipped default", "started": started},
        "run": {
            "mode": "realtime" if args.realtime else "lock-step",
            "domain_id": args.domain_id,
            "dds_transport": getattr(args, "transport", ""),
            "image_topic": observer.image_topic,
            "first_frame": sent[0] if sent else None,
            "last_frame": sent[-1] if sent else None,
            "frames_sent": len(sent),
            "frames_answered": answered,
            "frames_refused": {reason: len(frames) for reason, frames in refused.items()},
            "refused_frames": refused,
            "dropped_frames": dropped,
            "unanswered_frames": sorted(set(sent) - accounted),
            "timed_out_frames": [numbers.by_stamp.get(s) for s in stats.timed_out],
            "warmup_frames": observer.stats.warmup_frames,
            "late_publishes": stats.late_publishes,
            "clock_messages": stats.clock_messages,
            "duplicate_answers": observer.stats.duplicate_answers,
            "answers_with_wrong_frame_id": observer.stats.wrong_frame_id,
            "published_ids_not_tracked_in_store": observer.stats.ids_missing_from_store,
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
        "node": node_figures(observer, final),
    }


def _same_results(a: FrameResult, b: FrameResult) -> bool:
    return a.ids == b.ids and np.array_equal(a.tlwh, b.tlwh) and np.array_equal(
        a.scores, b.scores, equal_nan=True)


def _write_outputs(sequence: MotSequence | None, bag: Path, observer: Any, out: Path,
                   fps: float, summary: dict[str, Any], gt: str | None) -> dict[str, str]:
    """MOT rows, metrics and pictures from the two bags (the recorded outputs, the input)."""
    outputs: dict[str, str] = {"input_bag": str(bag), "output_bag": str(out / OUTPUT_BAG)}
    run_info = summary["run"]
    recorded = read_recorded_run(out / OUTPUT_BAG, bag)
    results = recorded.results
    for frame, result in results.items():  # the round trips were timed by the observer
        seen = observer.results.get(frame)
        result.round_trip_s = seen.round_trip_s if seen is not None else None
    run_info["frames_recorded"] = len(results)
    run_info["recorded_equals_received"] = set(results) == set(observer.results) and all(
        _same_results(results[f], observer.results[f]) for f in results)
    rows = mot_rows(results)
    outputs["results"] = str(write_mot_results(out / "results.txt", rows))
    outputs["answers"] = str(write_answers(out / "detections.jsonl", results,
                                           {f: r.frame_id for f, r in results.items()}))
    summary["metrics"], summary["metrics_note"] = None, ""
    if run_info["frames_sent"]:
        sent = set(observer.stats.sent_frames)
        title = f"{summary['input']['name']} via tracker_node"
        with BagReader(bag) as reader:
            frames = ((recorded.frames.by_stamp[f.stamp_ns], f.image)
                      for f in bag_frames(reader, recorded.image_topic)
                      if recorded.frames.by_stamp[f.stamp_ns] in sent)
            rendered = render_outputs(frames, results, out, fps, title)
        if rendered.video is not None:
            outputs["video"] = str(rendered.video)
        if rendered.snapshot is not None:
            outputs["snapshot"] = f"{rendered.snapshot} (frame {rendered.snapshot_frame})"
        outputs["contact"] = str(rendered.contact_sheet)
        if observer.debug_image is not None:
            from fairmot_ros.ros.image_codec import ImageDecoder

            path = out / "node_debug_image.png"
            cv2.imwrite(str(path), ImageDecoder(use_cv_bridge=False).image(observer.debug_image))
            outputs["node_debug"] = f"{path} (frame {observer.debug_image_frame})"
        first, last = run_info["first_frame"], run_info["last_frame"]
        if sequence is not None and sequence.gt_path is not None:
            summary["metrics"] = score(sequence, rows, first, last)
        elif sequence is None and gt:
            from fairmot_ros.evaluation.mot_io import read_mot

            summary["metrics"] = score_rows(read_mot(gt), rows, first, last)
        else:
            summary["metrics_note"] = "no ground truth for this sequence (for PETS09-S2L1: " \
                "../shared/data/pets09-s2l1/gt.txt is absent)"
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
    except (ReplayError, SequenceError, BagError) as exc:
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
