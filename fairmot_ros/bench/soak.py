"""``fairmot-bench soak``: a long run of the tracker; does memory or the track store grow?

    fairmot-bench soak [--frames 20000] [--people 20] [--stay 150] [--warmup 2000]

People arrive, walk and leave for ``--frames`` frames (``synthetic.walker_stream``: thousands
of identities pass while about ``--people`` are in view, with occlusions and false
positives), fed to one ``JDETracker`` at 30 Hz timestamps. The stream itself keeps nothing per
departed person, so whatever grows is the tracker's. The report has the process RSS at the
start, after ``--warmup`` frames and at the end, samples of RSS, the track store (tracked,
lost, removed-id history) and the id counter along the way, and ``rss_growth_after_warmup_mb``
against ``--limit-mb`` (20 MB, the reliability goal). A benchmark, not a test: it reports.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=20000, help="frames (default 20000)")
    parser.add_argument("--people", type=float, default=20.0,
                        help="mean people in view (default 20)")  # fmt: skip
    parser.add_argument("--stay", type=int, default=150,
                        help="mean frames a person stays in view (default 150)")  # fmt: skip
    parser.add_argument("--warmup", type=int, default=2000,
                        help="frames before the reference RSS is read (default 2000)")  # fmt: skip
    parser.add_argument("--samples", type=int, default=20, help="store samples in the report")
    parser.add_argument("--dim", type=int, default=128, help="embedding width")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-mb", type=float, default=20.0,
                        help="allowed RSS growth after warm-up (default 20)")  # fmt: skip
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations (slower): growth not due to the "
                        "allocator keeping freed memory")  # fmt: skip
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (0: the library default)")  # fmt: skip


def store_sizes(tracker) -> dict[str, int]:
    """Sizes of every collection the tracker keeps between frames, its id counter and, where
    the tracker has a hard cap, how many tracks the cap removed."""
    sizes = {
        "tracked": len(tracker._tracked),
        "lost": len(tracker._lost),
        "removed_id_history": len(tracker._removed_ids),
        "ids_issued": tracker._next_id - 1,
    }
    if hasattr(tracker, "capped_tracks"):
        sizes["capped_tracks"] = tracker.capped_tracks
    return sizes


def run(args: argparse.Namespace) -> dict:
    from fairmot_ros.bench.common import BenchError, document, load_average, rss_mb, summarize_ms
    from fairmot_ros.tracking import JDETracker, TrackerConfig
    from fairmot_ros.tracking.synthetic import walker_stream

    if args.frames <= 0 or not 0 <= args.warmup < args.frames or args.people <= 0:
        raise BenchError("--frames and --people must be positive, 0 <= --warmup < --frames")
    if args.stay < 2 or args.samples < 1 or args.dim <= 0:
        raise BenchError("--stay must be >= 2, --samples and --dim positive")
    start_load = load_average()
    gc.collect()
    rss_start = rss_mb()
    tracker = JDETracker(TrackerConfig(frame_rate=30.0))
    every = max(1, args.frames // args.samples)
    samples, times = [], []
    largest = {"tracked": 0, "lost": 0, "removed_id_history": 0}
    rss_warm = rss_max = rss_start
    traced_warm = None
    if args.tracemalloc:
        tracemalloc.start()
    people_seen = -1
    stream = walker_stream(args.frames, mean_people=args.people, mean_stay=args.stay,
                           seed=args.seed, dim=args.dim)  # fmt: skip
    wall = time.perf_counter()
    for f, frame in enumerate(stream):
        start = time.perf_counter()
        tracker.update(frame.boxes, frame.scores, frame.embeddings, f / 30.0)
        times.append((time.perf_counter() - start) * 1e3)
        if len(frame.person_ids):
            people_seen = max(people_seen, int(frame.person_ids.max()))
        sizes = store_sizes(tracker)
        for key in largest:
            largest[key] = max(largest[key], sizes[key])
        if f + 1 == args.warmup:
            gc.collect()
            rss_warm = rss_mb()
            traced_warm = tracemalloc.get_traced_memory()[0] if args.tracemalloc else None
        if (f + 1) % every == 0 or f + 1 == args.frames:
            rss = rss_mb()
            rss_max = max(rss_max or 0, rss or 0)
            samples.append({"frame": f + 1, "rss_mb": rss, **sizes})
    wall = time.perf_counter() - wall
    gc.collect()
    rss_end = rss_mb()
    traced = None
    if args.tracemalloc:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced = {"after_warmup_mb": round((traced_warm or 0) / 2**20, 3),
                  "end_mb": round(current / 2**20, 3), "peak_mb": round(peak / 2**20, 3)}
    growth = None if rss_end is None or rss_warm is None else round(rss_end - rss_warm, 2)
    settings = {"frames": args.frames, "people_in_view": args.people, "mean_stay_frames":
                args.stay, "warmup": args.warmup, "dim": args.dim, "seed": args.seed,
                "frame_rate": 30.0, "blas_threads": args.blas_threads,
                "source": "synthetic walker stream (people enter and leave)"}  # fmt: skip
    return document(
        "soak", settings, load_average_start=start_load, n=len(times),
        people_passed=people_seen + 1, seconds=round(wall, 1),
        rss_mb={"start": rss_start, "after_warmup": rss_warm, "end": rss_end, "max": rss_max},
        rss_growth_after_warmup_mb=growth, limit_mb=args.limit_mb,
        within_limit=growth is not None and growth < args.limit_mb,
        python_allocations=traced, store_end=store_sizes(tracker), store_largest=largest,
        update=summarize_ms(times),
        samples=samples,
    )  # fmt: skip
