"""``fairmot-bench engine``: ONNX Runtime latency of exported models, per feeding path.

``fairmot-bench engine --model A.onnx [--model B.onnx]`` times models that exist already;
``--arch dla_34 --input-size 1088x608 --precision fp32,fp16`` exports them first through
:mod:`fairmot_ros.export` (random weights, fixed seed, unless ``--checkpoint``), because a
DLA-34 FP32 file is too large to carry to a GPU machine while the exporter's needs (torch,
onnx, onnxscript) are there. See
:mod:`fairmot_ros.bench.engine_timing` for what each timed path includes.

The run asks ONNX Runtime for ``--provider`` (then the CPU) and reports what it actually got:
ONNX Runtime falls back to the CPU silently when CUDA libraries fail to load, so a report that
asked for CUDA and ran on the CPU says ``"gpu_active": false`` and warns on stderr, and
``--require-gpu`` turns that into an error (exit 2). Bad input: one line on stderr, exit 2;
a failed export: exit 1. Nothing here imports torch unless models are built. :func:`measure`
is the whole measurement for callers that build the arguments themselves (``gpu``).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fairmot_ros.bench import engine_timing as timing
from fairmot_ros.bench.common import BenchError, load_average, utc_now
from fairmot_ros.contract import INPUT_FLOAT_RGB_NCHW, INPUT_UINT8_BGR_NHWC, PRECISIONS
from fairmot_ros.engine import (
    GPU_PROVIDERS,
    PROVIDER_ALIASES,
    Engine,
    EngineError,
    GpuUnavailableError,
    canonical_provider,
    choose_providers,
)
from fairmot_ros.export import int_at_least, parse_input_size

PROG = "fairmot-bench engine"
KNOWN_PROVIDERS = frozenset(PROVIDER_ALIASES.values()) | GPU_PROVIDERS
BenchmarkError = BenchError  # bad input for this benchmark (exit 2)


def _provider(text: str) -> str:
    name = canonical_provider(text)
    if name not in KNOWN_PROVIDERS:
        aliases = ", ".join(sorted(PROVIDER_ALIASES))
        raise argparse.ArgumentTypeError(f"unknown provider {text!r} (use one of: {aliases})")
    return name


def _list_of(choices: Sequence[str], what: str):
    def parse(text: str) -> list[str]:
        items = [item.strip().lower() for item in text.split(",") if item.strip()]
        bad = [item for item in items if item not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(
                f"{what} {text!r}: use a comma-separated list of {', '.join(choices)}"
            )
        return list(dict.fromkeys(items))

    return parse


def _count(minimum: int):
    return functools.partial(int_at_least, minimum=minimum)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Models (given or exported) and timing options; ``--json`` comes from the CLI."""
    parser.description = (
        "Time Engine.run of exported FairMOT models per feeding path (numpy, IO binding, IO "
        "binding with the input resident on the device) and print a JSON report."
    )
    models = parser.add_argument_group("models: --model, or build them with --arch")
    models.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ONNX",
        help="an exported model (repeatable)",
    )
    models.add_argument("--arch", default=None, help="export this arch (dla_34, yolov5s, ...)")
    models.add_argument("--checkpoint", default=None, help="weights to export (default: random)")
    models.add_argument(
        "--input-size",
        type=parse_input_size,
        default=(1088, 608),
        metavar="WxH",
        help="network input for exports, multiples of 32 (default 1088x608)",
    )
    models.add_argument(
        "--precision",
        type=_list_of(PRECISIONS, "precision"),
        default=["fp32"],
        help="comma-separated, e.g. fp32,fp16 (default fp32)",
    )
    parser.add_argument(
        "--heads",
        choices=("dense", "peaks"),
        default="dense",
        help="dense (default: the whole network, as the reference figures) or peaks (the "
        "trunk without the box/offset/re-ID heads, as the node runs it)",
    )
    models.add_argument(
        "--uint8-input",
        action="store_true",
        help="export with the uint8 BGR NHWC input (conversion in the graph)",
    )
    models.add_argument(
        "--topk",
        type=_count(0),
        default=0,
        metavar="K",
        help="export with in-graph top-K (default 0: dense outputs)",
    )
    models.add_argument("--seed", type=int, default=0, help="random weights and input seed")
    models.add_argument(
        "--workdir",
        default=None,
        help="where exports are written and kept (default: a temporary folder)",
    )
    runs = parser.add_argument_group("timing")
    runs.add_argument(
        "--provider",
        type=_provider,
        default="CPUExecutionProvider",
        help="cpu (default), cuda, tensorrt, ...; the CPU is the fallback",
    )
    runs.add_argument(
        "--require-gpu",
        action="store_true",
        help="exit 2 unless ONNX Runtime runs on a GPU provider",
    )
    runs.add_argument(
        "--paths",
        type=_list_of(timing.PATHS, "paths"),
        default=list(timing.PATHS),
        help=f"comma-separated subset of {','.join(timing.PATHS)} (default all)",
    )
    runs.add_argument("--warmup", type=_count(0), default=20, help="untimed runs (default 20)")
    runs.add_argument("--runs", type=_count(1), default=200, help="timed runs (default 200)")
    runs.add_argument(
        "--threads",
        type=_count(0),
        default=None,
        help="ONNX Runtime intra-op threads (default: its own choice)",
    )


def _check_args(args: argparse.Namespace) -> None:
    build = args.arch is not None or args.checkpoint is not None
    if args.model and build:
        raise BenchmarkError("give either --model files or --arch/--checkpoint to build, not both")
    if not args.model and not build:
        raise BenchmarkError("no models: give --model FILE.onnx or --arch ARCH to export one")
    for model in args.model:
        if not Path(model).is_file():
            raise BenchmarkError(f"model file not found: {model}")
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise BenchmarkError(f"checkpoint not found: {args.checkpoint}")
    if args.arch is not None:
        from fairmot_ros.model import canonical_arch  # imports torch: build mode only

        try:
            args.arch = canonical_arch(args.arch)
        except ValueError as exc:
            raise BenchmarkError(str(exc)) from None
    if args.require_gpu and args.provider not in GPU_PROVIDERS:
        raise BenchmarkError(f"--require-gpu needs a GPU --provider, not {args.provider}")


def preload_runtime_libraries() -> str:
    """Call ``onnxruntime.preload_dlls()`` where it exists: the CUDA build needs it to find the
    CUDA/cuDNN libraries that come with pip packages; the CPU build does nothing with it."""
    import onnxruntime as ort

    if not hasattr(ort, "preload_dlls"):
        return "absent"
    try:
        ort.preload_dlls()
    except Exception as exc:  # noqa: BLE001 - a failed preload only means no CUDA
        return f"failed: {exc}"
    return "called"


def probe_providers(provider: str) -> list[str]:
    """The providers a session asking for ``provider`` really gets, on a one-node graph:
    tells in a second, before minutes of export, whether CUDA libraries load at all."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    result = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [value], [result])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION, 10)
    chosen, _ = choose_providers([provider, "CPUExecutionProvider"], ort.get_available_providers())
    session = ort.InferenceSession(model.SerializeToString(), providers=chosen)
    return list(session.get_providers())


def export_models(args: argparse.Namespace, workdir: Path) -> list[tuple[Path, dict]]:
    """Export the requested precisions of one network (same weights) into ``workdir``."""
    import torch

    from fairmot_ros.contract import ModelContract
    from fairmot_ros.export import export_onnx
    from fairmot_ros.model import build_model
    from fairmot_ros.model.checkpoint import load_checkpoint

    if args.checkpoint is not None:
        model, _ = load_checkpoint(args.checkpoint, args.arch)
        weights = f"checkpoint {args.checkpoint}"
    else:
        torch.manual_seed(args.seed)
        model = build_model(args.arch).eval()
        weights = f"random (torch.manual_seed({args.seed}), build_model init)"
    width, height = args.input_size
    built = []
    for precision in args.precision:
        stem = f"{model.arch}_{width}x{height}_{precision}"
        stem += ("_uint8" if args.uint8_input else "") + (f"_top{args.topk}" if args.topk else "")
        contract = ModelContract(
            arch=model.arch, input_height=height, input_width=width, reid_dim=model.reid_dim,
            input_format=INPUT_UINT8_BGR_NHWC if args.uint8_input else INPUT_FLOAT_RGB_NCHW,
            topk=args.topk, precision=precision, model_name=stem,
        )  # fmt: skip
        _say(f"exporting {stem} into {workdir} ...")
        start = time.perf_counter()
        path = export_onnx(model, workdir / f"{stem}.onnx", contract)
        seconds = round(time.perf_counter() - start, 1)
        _say(f"exported {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {seconds} s")
        built.append((path, {"weights": weights, "export_seconds": seconds}))
    return built


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def benchmark_model(path: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """Time every requested path of one model; returns its report and its outputs on the fixed
    input (from the first path, for the FP16/FP32 comparison)."""
    providers = list(dict.fromkeys([args.provider, "CPUExecutionProvider"]))
    entry: dict = {"model": str(path), "file_mb": round(path.stat().st_size / 1e6, 2)}
    timings: dict = {}
    reference: dict = {}
    agreement: dict = {}
    for name in args.paths:
        io_binding, timer = timing.PATH_TIMERS[name]
        start = time.perf_counter()
        engine = Engine(path, providers=providers, require_gpu=args.require_gpu,
                        threads=args.threads, io_binding=io_binding,
                        heads_at_peaks=args.heads == "peaks")  # fmt: skip
        session_seconds = time.perf_counter() - start
        if "arch" not in entry:
            c = engine.contract
            entry.update(
                arch=c.arch, precision=c.precision, input_size=f"{c.input_width}x{c.input_height}",
                input_format=c.input_format, reid_dim=c.reid_dim, topk=c.topk,
                batch=engine.fixed_batch or 1, providers_requested=engine.requested_providers,
                providers=engine.providers, active_provider=engine.active_provider,
                gpu_active=engine.on_gpu, heads=engine.heads,
                provider_options=engine.session.get_provider_options().get(engine.active_provider),
            )  # fmt: skip
        blob = timing.random_input(engine, args.seed)
        _say(f"{path.name}: {name} on {engine.active_provider}, {args.warmup} + {args.runs} runs")
        summary, outputs = timer(engine, blob, args.warmup, args.runs)
        summary["session_seconds"] = round(session_seconds, 2)
        summary["uses_io_binding"] = engine.uses_io_binding
        summary["active_provider"] = engine.active_provider
        timings[name] = summary
        if reference:
            diffs = timing.max_abs_diffs(reference, outputs)
            agreement[name] = timing.significant(max(diffs.values()))
        else:
            reference = outputs
        del engine
    entry["paths"] = timings
    if agreement:
        entry[f"max_abs_diff_vs_{args.paths[0]}"] = agreement
    return entry, reference


def precision_pairs(entries: list[dict]) -> list[tuple[int, int]]:
    """(fp32 index, fp16 index) of models that differ only in precision."""

    def key(entry: dict) -> tuple:
        return (entry["arch"], entry["input_size"], entry["input_format"], entry["reid_dim"],
                entry["topk"], entry.get("weights"))  # fmt: skip

    fp32 = [i for i, entry in enumerate(entries) if entry["precision"] == "fp32"]
    fp16 = [j for j, entry in enumerate(entries) if entry["precision"] == "fp16"]
    return [(i, j) for i in fp32 for j in fp16 if key(entries[i]) == key(entries[j])]


def run(args: argparse.Namespace) -> dict:
    """The subcommand: checked arguments, then :func:`measure`; engine and export failures
    become the CLI's one-line errors (bad model or no GPU: exit 2, failed export: exit 1)."""
    from fairmot_ros.export import ExportError

    try:
        _check_args(args)
        return measure(args)
    except (EngineError, ValueError) as exc:
        # GpuUnavailableError is an EngineError (--require-gpu without a GPU); ContractError
        # and the checkpoint loader's CheckpointError are ValueErrors (bad model or weights).
        raise BenchError(str(exc)) from None
    except ExportError as exc:
        raise RuntimeError(str(exc)) from None


def measure(args: argparse.Namespace) -> dict:
    """The whole benchmark: models (given or exported), timing, checks, facts."""
    report: dict = {"tool": PROG, "benchmark": "engine", "date_utc": utc_now(),
                    "argv": getattr(args, "argv", None),
                    "preload_dlls": preload_runtime_libraries()}  # fmt: skip
    report["device"] = timing.device_facts()
    report["load_average_start"] = load_average()
    gpu_requested = args.provider in GPU_PROVIDERS
    warnings: list[str] = []
    if gpu_requested and not args.model:
        probe = probe_providers(args.provider)
        if gpu_requested and probe[0] not in GPU_PROVIDERS:
            available = report["device"]["onnxruntime_available_providers"]
            message = f"asked for {args.provider} but ONNX Runtime gives {probe[0]} ({available})"
            if args.require_gpu:
                raise GpuUnavailableError(message)
            _say("WARNING: " + message + "; exporting anyway, the timings will be CPU timings")
    with tempfile.TemporaryDirectory(prefix="engine_benchmark_") as scratch:
        if args.model:
            models = [(Path(m), {"weights": "as given"}) for m in args.model]
        else:
            workdir = Path(args.workdir) if args.workdir else Path(scratch)
            workdir.mkdir(parents=True, exist_ok=True)
            models = export_models(args, workdir)
        entries, outputs = [], []
        for path, extra in models:
            entry, result = benchmark_model(path, args)
            entry.update(extra)
            entries.append(entry)
            outputs.append(result)
    report["load_average_end"] = load_average()
    report["path_definitions"] = {name: timing.PATH_DEFINITIONS[name] for name in args.paths}
    report["settings"] = {"warmup": args.warmup, "runs": args.runs, "threads": args.threads,
                          "provider": args.provider, "seed": args.seed}  # fmt: skip
    report["models"] = entries
    report["fp16_vs_fp32"] = [
        {"fp32": entries[i]["model"], "fp16": entries[j]["model"],
         "same_weights": not args.model, "provider": entries[j]["active_provider"],
         **timing.compare_precisions(outputs[i], outputs[j])}
        for i, j in precision_pairs(entries)
    ]  # fmt: skip
    report["gpu_requested"] = gpu_requested
    report["gpu_active"] = bool(entries) and all(e["gpu_active"] for e in entries)
    if gpu_requested and not report["gpu_active"]:
        active = sorted({e["active_provider"] for e in entries})
        warnings.append(f"asked for {args.provider} but ONNX Runtime ran on {', '.join(active)}: "
                        "these are NOT GPU figures")  # fmt: skip
    report["warnings"] = warnings
    for message in warnings:
        _say("WARNING: " + message)
    return report
