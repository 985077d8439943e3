"""Micro-benchmark of ``JDETracker.update``: milliseconds per frame for 10, 50 and 200 tracks.

``python -m fairmot_ros.bench_tracker`` prints one JSON object. Scenes are synthetic walkers
(``fairmot_ros.tracking.synthetic``) with 128-d embeddings, box jitter, occasional occlusions
and false positives, so every association stage does real work. Detection generation is not
timed; the first frames (store filling up) are excluded.

BLAS runs single-threaded unless ``--blas-threads`` says otherwise: the tracker's matrices are
small, and a multi-threaded BLAS pool on a busy machine made one 200x128x200 product ~80x
slower in our measurements. The setting must be made before numpy loads, hence the late
imports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence

_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def bench(n_tracks: int, frames: int, warmup: int, seed: int, dim: int) -> dict[str, float]:
    import numpy as np

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
    ms = np.array(times)
    return {
        "median_ms": round(float(np.median(ms)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "mean_live_tracks": round(float(np.mean(live)), 1),
        "mean_output_tracks": round(float(np.mean(outputs)), 1),
        "frames": len(ms),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--frames", type=int, default=200, help="timed frames per size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames first")
    parser.add_argument("--dim", type=int, default=128, help="embedding width")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--blas-threads", type=int, default=1, help="BLAS threads (0: the library default)"
    )
    args = parser.parse_args(argv)
    if min(args.tracks) <= 0 or args.frames <= 0 or args.warmup < 0 or args.dim <= 0:
        parser.error("tracks, frames and dim must be positive, warmup >= 0")
    if args.blas_threads > 0:
        for name in _BLAS_THREAD_VARIABLES:
            os.environ[name] = str(args.blas_threads)
    import numpy as np

    results = {str(n): bench(n, args.frames, args.warmup, args.seed, args.dim) for n in args.tracks}
    report = {
        "benchmark": "JDETracker.update",
        "unit": "ms per frame",
        "results": results,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "blas_threads": args.blas_threads or "default",
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
