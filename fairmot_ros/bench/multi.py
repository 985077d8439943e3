"""``fairmot-bench multi``: one node serving 1, 2, 4 ... cameras at a fixed rate.

    fairmot-bench multi [--cameras 1 2 4] [--rate 30] [--size 640x480] [--seconds 10]

For each camera count one ``tracker_node`` is started with that many image topics (one ONNX
Runtime session; frames waiting together go through the network as one batch) and one
publisher process per camera sends ``--rate`` frames per second, all starting at the same
moment. Reported per count: frames sent and answered per camera, drops (frames never
answered), the node's own dropped/missed counters, round trips, and the node's processing
time. A camera count the machine cannot serve shows up as drops, not as a failure.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fairmot_ros.bench.node import add_dds_arguments
    from fairmot_ros.bench.pipeline import add_model_arguments

    add_model_arguments(parser)
    add_dds_arguments(parser)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4],
                        help="camera counts, one run each (default 1 2 4)")  # fmt: skip
    parser.add_argument("--rate", type=float, default=30.0, help="Hz per camera (default 30)")
    parser.add_argument("--size", default="640x480", help="image WxH (default 640x480)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="timed seconds per run (default 10)")  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    from fairmot_ros.bench.common import BenchError, document, load_average, summarize_ms
    from fairmot_ros.bench.dds_harness import run_node_benchmark
    from fairmot_ros.bench.node import (
        dds_transport,
        domain_for,
        model_facts,
        resolve_model,
        summarize_run,
    )
    from fairmot_ros.bench.pipeline import parse_size
    from fairmot_ros.engine import canonical_provider

    width, height = parse_size(args.size)
    if min(args.cameras) <= 0 or args.rate <= 0 or args.seconds <= 0:
        raise BenchError("--cameras, --rate and --seconds must be positive")
    frames = max(1, round(args.rate * args.seconds))
    start_load = load_average()
    transport = dds_transport(args)
    providers = list(dict.fromkeys([canonical_provider(args.provider), "CPUExecutionProvider"]))
    results = {}
    with tempfile.TemporaryDirectory(prefix="fairmot_bench_") as scratch:
        model, kind = resolve_model(args, Path(scratch))
        facts = model_facts(model, args.threads, args.provider, args.heads)
        for count in args.cameras:
            raw = run_node_benchmark(model, count, width, height, frames, args.rate,
                                     args.reliable, domain_for(args), args.threads, providers,
                                     args.warmup, args.heads == "peaks")  # fmt: skip
            summary = summarize_run(raw)
            cameras = summary["cameras"]
            trips = [c["round_trip"] for c in cameras if c["round_trip"].get("n")]
            sent = sum(c.get("sent", 0) for c in cameras)
            answered = sum(c.get("answered", 0) for c in cameras)
            results[str(count)] = {
                "sent": sent, "answered": answered, "drops": sent - answered,
                "drop_fraction": round((sent - answered) / sent, 4) if sent else None,
                "node_dropped_busy": sum(c["node_totals"].get("dropped_busy", 0)
                                         for c in cameras),
                "node_missed_before": sum(c["node_totals"].get("missed_before_node", 0)
                                          for c in cameras),
                "round_trip_p50_ms_per_camera": [t["p50_ms"] for t in trips],
                "round_trip_p99_ms_per_camera": [t["p99_ms"] for t in trips],
                "output_fps_total": round(sum(c["answer_rate_hz"] or 0 for c in cameras), 2),
                "node_processing_ms_mean": summarize_ms(
                    [c["node_processing_ms_mean"] for c in cameras
                     if c["node_processing_ms_mean"] is not None]).get("mean_ms"),
                "node_rss_mb_end": summary["node_rss_mb_end"],
                "provider": summary["provider"],
                "cameras": cameras,
            }  # fmt: skip
    settings = {"cameras": args.cameras, "rate_hz": args.rate, "size": f"{width}x{height}",
                "encoding": "bgr8", "frames_per_camera": frames, "threads": args.threads,
                "qos": "reliable" if args.reliable else "best_effort",
                "fastdds_builtin_transports": transport, "heads": args.heads,
                "provider_requested": args.provider}  # fmt: skip
    return document("multi", settings, load_average_start=start_load,
                    model={**facts, **kind}, results=results)  # fmt: skip
