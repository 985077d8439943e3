"""``fairmot-bench tracker``: milliseconds per ``JDETracker.update`` at 10..500 live tracks.

Scenes are synthetic walkers (``fairmot_ros.tracking.synthetic``) with 128-d embeddings, box
jitter, occasional occlusions and about one false positive per frame, so every association
stage does real work. Everyone stays in view, so the store holds about ``--tracks`` tracks.
Detection generation is not timed; the first ``--warmup`` frames (store filling up) are
excluded. These are the scenes of the earlier ``bench_tracker`` module, so figures compare.

BLAS runs single-threaded unless ``--blas-threads`` says otherwise: the tracker's matrices are
small, and a multi-threaded BLAS pool on a busy machine made one 200x128x200 product ~80x
slower in our measurements. The CLI applies the setting before numpy loads.
"""

from __future__ import annotations

import argparse
import gc
import time

DEFAULT_TRACKS = (10, 50, 200, 500)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracks", type=int, nargs="+", default=list(DEFAULT_TRACKS),
                        help="people in view, one measurement each (default 10 50 200 500)")
    parser.add_argument("--frames", type=int, default=200, help="timed frames per size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames first")
    parser.add_argument("--dim", type=int, default=128, help="embedding width")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (0: the library default)")  # fmt: skip


def bench(n_tracks: int, frames: int, warmup: int, seed: int, dim: int) -> dict:
    """One scene size: per-update statistics and how full the store was."""
    import numpy as np

    from fairmot_ros.bench.common import summarize_ms
    from fairmot_ros.tracking import JDETracker, TrackerConfig
    from fairmot_ros.tracking.synthetic import random_scene

    scene = random_scene(
        n_tracks, frames + warmup, seed=seed, dim=dim, occlusion_rate=0.005,
        occlusion_frames=(1, 20), false_positive_rate=1.0, always_present=True,
    )  # fmt: skip
    tracker = JDETracker(TrackerConfig())
    times, live, outputs = [], [], []
    for f, frame in enumerate(scene):
        start = time.perf_counter()
        out = tracker.update(frame.boxes, frame.scores, frame.embeddings, f / 30.0)
        elapsed = time.perf_counter() - start
        if f >= warmup:
            times.append(elapsed * 1e3)
            live.append(len(tracker.all_tracks()))
            outputs.append(len(out))
    stats = summarize_ms(times)
    stats["median_ms"] = stats["p50_ms"]  # the key of earlier reports
    return {
        **stats,
        "p90_over_p50": round(stats["p90_ms"] / stats["p50_ms"], 2) if stats["p50_ms"] else None,
        "updates_per_second": round(1e3 / stats["mean_ms"], 1) if stats["mean_ms"] else None,
        "mean_live_tracks": round(float(np.mean(live)), 1),
        "mean_output_tracks": round(float(np.mean(outputs)), 1),
        "mean_detections": round(float(np.mean([len(f.scores) for f in scene[warmup:]])), 1),
        "frames": len(times),
    }


def run(args: argparse.Namespace) -> dict:
    from fairmot_ros.bench.common import BenchError, document, load_average

    if min(args.tracks) <= 0 or args.frames <= 0 or args.warmup < 0 or args.dim <= 0:
        raise BenchError("tracks, frames and dim must be positive, warmup >= 0")
    start_load = load_average()
    gc.collect()
    results = {str(n): bench(n, args.frames, args.warmup, args.seed, args.dim)
               for n in args.tracks}  # fmt: skip
    settings = {"tracks": args.tracks, "frames": args.frames, "warmup": args.warmup,
                "dim": args.dim, "seed": args.seed, "blas_threads": args.blas_threads,
                "scene": "synthetic walkers, always in view, occlusion 0.005/frame, "
                         "1 false positive per frame"}  # fmt: skip
    return document("tracker", settings, unit="ms per JDETracker.update",
                    load_average_start=start_load, results=results)  # fmt: skip
