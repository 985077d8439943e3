"""``fairmot-bench node``: the tracker node's round trip over real DDS at one resolution.

    fairmot-bench node [--model M.onnx | --null-model] --size 1920x1080 [--rate 30] [--reliable]

One ``tracker_node`` process and one publisher process (``fairmot_ros.bench.dds_harness``):
flat out (``--rate 0``, the default: the next frame when the previous one's detections came
back) or at a fixed rate (frames without an answer are drops). ``--null-model`` swaps the
network for ``fairmot_ros.bench.null_model`` (same contract, input size and dense outputs,
almost no compute), so the round trip is the node's own overhead plus DDS: conversion,
letterbox, decoding, tracking, messages and publishing. Both sides are reliable unless
``--best-effort`` is given: with Fast DDS's default transports best effort loses most raw
images between processes (doc/failure-behaviour.md), which would time the losses.
Formerly ``python -m fairmot_ros.ros.bench_node``; its DDS side is now
``fairmot_ros.bench.dds_harness``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fairmot_ros.bench.pipeline import add_model_arguments

    add_model_arguments(parser)
    add_dds_arguments(parser)
    parser.add_argument("--size", default="640x480", help="published image WxH (default 640x480)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="frames per second; 0 (default): flat out, lock-step")  # fmt: skip
    parser.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")


def add_dds_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``multi``."""
    parser.add_argument("--null-model", action="store_true",
                        help="a network-free model, same contract (node overhead)")  # fmt: skip
    parser.add_argument("--null-input", default="1088x608", metavar="WxH",
                        help="input size of the null model (default 1088x608)")  # fmt: skip
    parser.add_argument("--best-effort", dest="reliable", action="store_false",
                        help="best-effort publisher and subscription (the node's default QoS; "
                        "Fast DDS then loses most large raw images between processes, so the "
                        "benchmark is reliable on both sides unless this is given)")  # fmt: skip
    parser.add_argument("--large-data", action="store_true",
                        help="FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA in every process of the run "
                        "(shared memory with large segments and TCP; what make demo uses): "
                        "raw megabyte images then cross between processes several times "
                        "faster than with Fast DDS's default transports")  # fmt: skip
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames per camera")
    parser.add_argument("--domain", type=int, default=None,
                        help="ROS domain of the run (default: from the process id)")  # fmt: skip


def resolve_model(args: argparse.Namespace, scratch: Path) -> tuple[Path, dict]:
    """The model file to load and what it is (shipped, given, or the null model)."""
    from fairmot_ros.bench.common import BenchError
    from fairmot_ros.bench.pipeline import parse_size
    from fairmot_ros.default_model import default_model_path

    if args.null_model:
        if args.model:
            raise BenchError("give --model or --null-model, not both")
        from fairmot_ros.bench.null_model import write_null_model

        width, height = parse_size(args.null_input)
        if width % 32 or height % 32:
            raise BenchError(f"--null-input {args.null_input}: sides must be multiples of 32")
        path = write_null_model(scratch / f"null_{width}x{height}.onnx", width, height)
        return path, {"kind": "null network (node overhead only)", "input": f"{width}x{height}"}
    path = Path(args.model) if args.model else default_model_path()
    if not path.is_file():
        raise BenchError(f"model file not found: {path}")
    return path.resolve(), {"kind": "given" if args.model else "shipped default"}


def model_facts(path: Path, threads: int, provider: str, heads: str = "peaks") -> dict:
    """Contract facts and the engine's own median run time in this process (context for the
    round trip: with the null model it is what the node spends outside its own code)."""
    from fairmot_ros.bench.pipeline import make_detector

    args = argparse.Namespace(model=str(path), provider=provider, threads=threads, heads=heads)
    detector, _ = make_detector(args)
    engine = detector.engine
    engine.warmup(3)
    runs = []
    for _ in range(10):
        engine.warmup(1)
        runs.append(engine.last_run_seconds * 1e3)
    from fairmot_ros.bench.pipeline import model_facts as facts

    return {**facts(detector), "engine_run_ms_median_here": round(sorted(runs)[len(runs) // 2], 3)}


def dds_transport(args: argparse.Namespace) -> str:
    """Apply ``--large-data`` to this process (the node and the publishers inherit it) and
    name the Fast DDS builtin transports the run uses."""
    if getattr(args, "large_data", False):
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    return os.environ.get("FASTDDS_BUILTIN_TRANSPORTS") or "DEFAULT"


def domain_for(args: argparse.Namespace) -> int:
    # at most 101: the DDS ports of higher domains fall in Linux's ephemeral port range
    return args.domain if args.domain is not None else 1 + os.getpid() % 101


def summarize_run(raw: dict) -> dict:
    """Round trips, rates and drops over every camera of one run."""
    from fairmot_ros.bench.common import summarize_ms

    cameras = []
    for camera in raw["cameras"]:
        trips = camera.pop("round_trips_ms", [])
        processing = camera.pop("node_processing_ms_period_means", [])
        ages = camera.pop("node_age_at_publish_ms_period_means", [])
        sent, answered = camera.get("sent", 0), camera.get("answered", 0)
        cameras.append({
            **camera,
            "round_trip": summarize_ms(trips),
            "unanswered": sent - answered,
            "answer_rate_hz": round(answered / camera["seconds"], 2) if camera.get("seconds")
            else None,
            "node_processing_ms_mean": round(sum(processing) / len(processing), 3)
            if processing else None,
            "node_age_at_publish_ms_mean": round(sum(ages) / len(ages), 3) if ages else None,
        })  # fmt: skip
    return {"provider": raw["provider"], "node_rss_mb_end": raw["node_rss_mb_end"],
            "cameras": cameras}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    from fairmot_ros.bench.common import BenchError, document, load_average
    from fairmot_ros.bench.dds_harness import run_node_benchmark
    from fairmot_ros.bench.pipeline import parse_size
    from fairmot_ros.engine import canonical_provider

    width, height = parse_size(args.size)
    if args.frames <= 0 or args.rate < 0 or args.warmup < 0:
        raise BenchError("--frames must be positive, --rate and --warmup >= 0")
    start_load = load_average()
    transport = dds_transport(args)
    providers = list(dict.fromkeys([canonical_provider(args.provider), "CPUExecutionProvider"]))
    with tempfile.TemporaryDirectory(prefix="fairmot_bench_") as scratch:
        model, kind = resolve_model(args, Path(scratch))
        facts = model_facts(model, args.threads, args.provider, args.heads)
        raw = run_node_benchmark(model, 1, width, height, args.frames, args.rate,
                                 args.reliable, domain_for(args), args.threads, providers,
                                 args.warmup, args.heads == "peaks")  # fmt: skip
    run_summary = summarize_run(raw)
    camera = run_summary["cameras"][0]
    settings = {"size": f"{width}x{height}", "encoding": "bgr8", "rate_hz": args.rate or "flat out",
                "frames": args.frames, "warmup": args.warmup, "threads": args.threads,
                "qos": "reliable" if args.reliable else "best_effort",
                "fastdds_builtin_transports": transport, "heads": args.heads,
                "provider_requested": args.provider}  # fmt: skip
    return document(
        "node", settings, load_average_start=start_load, model={**facts, **kind},
        provider=run_summary["provider"], n=camera["answered"], round_trip=camera["round_trip"],
        fps=camera["answer_rate_hz"], drops=camera["unanswered"],
        node_processing_ms_mean=camera["node_processing_ms_mean"],
        node_rss_mb_end=run_summary["node_rss_mb_end"], camera=camera,
    )  # fmt: skip
