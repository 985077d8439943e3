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
    expand_providers,
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
        help="comma-separated, e.g. fp32,fp16,int8 (default fp32); int8 quantizes the FP32 "
        "export (fairmot-export --int8)",
    )
    models.add_argument(
        "--calibration",
        default=None,
        metavar="SOURCE",
        help="calibration frames for int8 exports (as fairmot-export --calibration); default: "
        "synthetic frames from --seed, for timing only",
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
        "--interleave",
        action="store_true",
        help="numpy path only: time the models run by run in turn (A B C, B C A, ...) in one "
        "process, so that on a shared machine every model sees the same load; the report "
        "adds the median of the per-run ratios to the first model",
    )
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
    if getattr(args, "interleave", False) and list(args.paths) != ["numpy"]:
        raise BenchmarkError("--interleave times the numpy path only: add --paths numpy")
    if getattr(args, "calibration", None) is not None and "int8" not in args.precision:
        raise BenchmarkError("--calibration is for int8 exports (--precision ...,int8)")


def preload_runtime_libraries(provider: str = "CUDAExecutionProvider") -> dict | str:
    """Load the GPU provider's libraries (:func:`fairmot_ros.engine.preload_gpu_libraries`:
    CUDA, cuDNN, TensorRT for ``tensorrt``) and say, per library, where it was found and
    whether it loaded; a string where there is nothing to load (a CPU provider or a CPU-only
    onnxruntime build)."""
    import onnxruntime as ort

    from fairmot_ros.engine import preload_gpu_libraries

    if provider not in GPU_PROVIDERS:
        return f"not needed for {provider}"
    if not any(p in GPU_PROVIDERS for p in ort.get_available_providers()):
        return f"not needed: this onnxruntime build offers {ort.get_available_providers()}"
    return preload_gpu_libraries(ort, tensorrt=provider == "TensorrtExecutionProvider")


def probe_providers(provider: str) -> dict:
    """Whether a session asking for ``provider`` really computes on it, in a second, before
    minutes of export: a 3x3 convolution (which needs cuBLAS and cuDNN on CUDA, unlike a
    trivial graph) is run with the CPU fallback switched off for GPU providers (a node the
    GPU provider does not take is then an error, not a silent CPU run) and compared with
    numpy. Returns ``{"session_gets": providers, "conv_max_abs_diff": ...}`` or, where the
    session or the run fails, ``{"session_gets": [...], "error": ...}``."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 16, 16])],
        initializer=[numpy_helper.from_array(w, "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION, 10)
    wanted = [provider] if provider in GPU_PROVIDERS else [provider, "CPUExecutionProvider"]
    chosen, _ = choose_providers(wanted, ort.get_available_providers())
    options = ort.SessionOptions()
    if chosen[0] in GPU_PROVIDERS:
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    result: dict = {"requested": wanted, "session_gets": chosen}
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=chosen)
        result["session_gets"] = list(session.get_providers())
        (y,) = session.run(None, {"x": x})
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        result["session_gets"] = []
        result["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        return result
    padded = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    want = np.einsum("chwij,ocij->ohw", windows, w)
    result["conv_max_abs_diff"] = float(np.abs(y[0] - want).max())  # TF32 on GPUs: ~1e-3
    return result


def gpu_check_passed(probe: dict) -> bool:
    """Whether :func:`probe_providers` ran its convolution on a GPU provider."""
    gets = probe.get("session_gets") or []
    return "error" not in probe and bool(gets) and gets[0] in GPU_PROVIDERS


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
    calibration_used = None
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
        extra: dict = {}
        if precision == "int8":
            from fairmot_ros.export import export_with_report

            calibration_used = calibration_used or calibration_for(args, contract)
            path, _ = export_with_report(model, workdir / f"{stem}.onnx", contract,
                                         compare=False, calibration=calibration_used)
            extra["calibration"] = calibration_used.describe()
        else:
            path = export_onnx(model, workdir / f"{stem}.onnx", contract)
        seconds = round(time.perf_counter() - start, 1)
        _say(f"exported {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {seconds} s")
        built.append((path, {"weights": weights, "export_seconds": seconds, **extra}))
    return built


def calibration_for(args: argparse.Namespace, contract):
    """Calibration frames for an int8 export: ``--calibration``'s, else 4 synthetic frames
    (random pixels from ``--seed``: the network's cost does not depend on them, its accuracy
    does, so such a file is for timing only)."""
    import numpy as np

    from fairmot_ros.preprocess import to_input_tensor
    from fairmot_ros.quantize import CalibrationSet, calibration_frames

    if args.calibration is not None:
        return calibration_frames(args.calibration, 20, contract)
    rng = np.random.default_rng(args.seed)
    shape = (contract.input_height, contract.input_width, 3)
    blobs = tuple(to_input_tensor(rng.integers(0, 256, shape, dtype=np.uint8),
                                  contract.input_format) for _ in range(4))  # fmt: skip
    return CalibrationSet(blobs, f"synthetic random frames (seed {args.seed}, timing only)",
                          (1, 2, 3, 4))  # fmt: skip


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def benchmark_model(path: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """Time every requested path of one model; returns its report and its outputs on the fixed
    input (from the first path, for the FP16/FP32 comparison)."""
    providers = expand_providers([args.provider, "CPUExecutionProvider"])
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
            entry.update(_model_facts(engine))
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


def precision_pairs(entries: list[dict], reference: str = "fp32",
                    other: str = "fp16") -> list[tuple[int, int]]:  # fmt: skip
    """(reference index, other index) of models that differ only in precision."""

    def key(entry: dict) -> tuple:
        return (entry["arch"], entry["input_size"], entry["input_format"], entry["reid_dim"],
                entry["topk"], entry.get("weights"))  # fmt: skip

    first = [i for i, entry in enumerate(entries) if entry["precision"] == reference]
    second = [j for j, entry in enumerate(entries) if entry["precision"] == other]
    return [(i, j) for i in first for j in second if key(entries[i]) == key(entries[j])]


def benchmark_interleaved(
    models: list[tuple[Path, dict]], args: argparse.Namespace
) -> tuple[list[dict], list[dict], dict]:
    """The numpy path of every model, run by run in turn (the order rotating each run).

    Returns the model entries (as :func:`benchmark_model`'s, with the one path), their
    outputs, and per model the median over runs of the first model's time over its time
    (> 1: that model is faster), a ratio that load changes between runs hardly move."""
    providers = expand_providers([args.provider, "CPUExecutionProvider"])
    engines, entries, blobs = [], [], []
    for path, extra in models:
        engine = Engine(path, providers=providers, require_gpu=args.require_gpu,
                        threads=args.threads, io_binding=False,
                        heads_at_peaks=args.heads == "peaks")  # fmt: skip
        entry = {"model": str(path), "file_mb": round(path.stat().st_size / 1e6, 2),
                 **_model_facts(engine), **extra}  # fmt: skip
        engines.append(engine)
        entries.append(entry)
        blobs.append(timing.random_input(engine, args.seed))
    _say(f"interleaving {len(engines)} models, {args.warmup} + {args.runs} runs each")
    outputs = []
    for engine, blob in zip(engines, blobs, strict=True):
        if args.warmup:
            engine.warmup(args.warmup)
        outputs.append(engine.run(blob))
    seconds: list[list[float]] = [[] for _ in engines]
    count = len(engines)
    for run_index in range(args.runs):
        for step in range(count):
            k = (run_index + step) % count
            engines[k].run(blobs[k])
            seconds[k].append(engines[k].last_run_seconds)
    for entry, engine, times in zip(entries, engines, seconds, strict=True):
        summary = timing.summarize(times)
        summary.update(uses_io_binding=False, active_provider=engine.active_provider)
        entry["paths"] = {"numpy": summary}
    first = seconds[0]
    ratios = {entry["model"]: timing.significant(float(
        sorted(a / b for a, b in zip(first, times, strict=True))[len(first) // 2]))
        for entry, times in zip(entries[1:], seconds[1:], strict=True)}  # fmt: skip
    return entries, outputs, ratios


def _model_facts(engine: Engine) -> dict:
    c = engine.contract
    return dict(
        arch=c.arch, precision=c.precision, input_size=f"{c.input_width}x{c.input_height}",
        input_format=c.input_format, reid_dim=c.reid_dim, topk=c.topk,
        batch=engine.fixed_batch or 1, providers_requested=engine.requested_providers,
        providers=engine.providers, active_provider=engine.active_provider,
        gpu_active=engine.on_gpu, heads=engine.heads,
        provider_options=engine.session.get_provider_options().get(engine.active_provider),
    )  # fmt: skip


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
                    "gpu_libraries": preload_runtime_libraries(args.provider)}  # fmt: skip
    report["device"] = timing.device_facts()
    report["load_average_start"] = load_average()
    gpu_requested = args.provider in GPU_PROVIDERS
    warnings: list[str] = []
    if gpu_requested and not args.model:
        probe = probe_providers(args.provider)
        report["provider_check"] = probe
        if not gpu_check_passed(probe):
            available = report["device"]["onnxruntime_available_providers"]
            message = (f"asked for {args.provider} but a convolution does not run on it "
                       f"(session gets {probe['session_gets']}, available {available}; "
                       f"{probe.get('error', 'it ran elsewhere')})")
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
        interleaved = None
        if getattr(args, "interleave", False):
            entries, outputs, interleaved = benchmark_interleaved(models, args)
        else:
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
    if interleaved is not None:
        report["settings"]["interleave"] = True
        report["path_definitions"] = {"numpy": timing.PATH_DEFINITIONS["numpy"] + "; the "
                                      "models run by run in turn"}  # fmt: skip
        report["interleaved_first_model_over_model"] = interleaved
    for reference, other in (("fp32", "fp16"), ("fp32", "int8"), ("fp16", "int8")):
        report[f"{other}_vs_{reference}"] = [
            {reference: entries[i]["model"], other: entries[j]["model"],
             "same_weights": not args.model, "provider": entries[j]["active_provider"],
             **timing.compare_precisions(outputs[i], outputs[j], names=(reference, other))}
            for i, j in precision_pairs(entries, reference, other)
        ]  # fmt: skip
        if other == "int8" and not report[f"{other}_vs_{reference}"]:
            del report[f"{other}_vs_{reference}"]  # reports without INT8 stay as they were
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
