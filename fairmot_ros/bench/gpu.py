"""``fairmot-bench gpu``: everything a short GPU lease should measure, in one run, one JSON.

    fairmot-bench gpu [--ort-parts /opt/ortparts --ort-sha256 SHA] [--workdir /tmp/fm]

A lent GPU machine is there for minutes and has no package index, so this run does it all
(``scripts/gpu-bench`` is the wrapper to start on it, ``scripts/gpu-bench-prepare`` makes the
parts to carry there):

1. ONNX Runtime: joins the carried ``onnxruntime-gpu`` wheel parts, checks the SHA-256,
   installs it into ``--ort-target`` (skipped when already there), puts that folder first on
   ``sys.path`` (dropping any cached "nothing there" for it) before ONNX Runtime is imported,
   and checks that the ``onnxruntime`` imported is the one installed there, not the machine's
   own CPU build.
2. Providers: loads the CUDA, cuDNN (and for TensorRT, TensorRT) libraries from wherever the
   machine has them (:mod:`fairmot_ros.cuda_libraries`: the provider library has no RPATH),
   reporting each, and runs a real convolution on the requested provider with the CPU
   fallback switched off. ``--require-gpu`` stops here, seconds in, when that fails.
3. ``engine``: exports DLA-34 (``--arch``, random weights) at ``--input-size`` in each
   ``--precision`` and times every feeding path on CUDA, plus the shipped default model and its
   INT8 twin.
4. ``engine_tensorrt``: where the TensorRT libraries load, the FP16 export and an INT8 (QDQ)
   quantization of the FP32 export (synthetic calibration: timing only) on TensorRT (FP16 and
   INT8 kernels, engine cache in ``--workdir``), and the shipped FP16 and INT8 models.
5. ``pipeline``: the core per stage on synthetic ``--pipeline-size`` frames, per model.
6. ``node`` and ``multi`` over DDS where rclpy is importable: one camera flat out, then
   ``--cameras`` cameras at ``--rate`` Hz (drops counted).

Each step's failure is recorded in the report and the next step still runs: a partial report
from a lease beats none, and the report (``--json``) is rewritten after every step, so a run
cut short by the call's time limit still leaves what it measured. GPU memory is sampled with
``nvidia-smi`` throughout (the maximum used is reported). With ``--provider cpu`` and a small
``--arch``/``--input-size`` the same run works on any machine, which is how it is tested.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ORT_WHEEL = "onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", default="cuda", help="cuda (default), tensorrt, cpu")
    parser.add_argument("--require-gpu", action="store_true",
                        help="stop after the provider check unless a GPU runs")  # fmt: skip
    parser.add_argument("--arch", default="dla_34", help="network to export (default dla_34)")
    parser.add_argument("--input-size", default="1088x608", help="network input (1088x608)")
    parser.add_argument("--precision", default="fp32,fp16", help="exports (default fp32,fp16)")
    parser.add_argument("--skip-tensorrt", action="store_true",
                        help="no TensorRT step even where its libraries load")  # fmt: skip
    parser.add_argument("--uint8-input", action="store_true",
                        help="export with the uint8 input (conversion on the device)")  # fmt: skip
    parser.add_argument("--workdir", default="/tmp/fairmot_gpu_bench",
                        help="where exports are kept (default /tmp/fairmot_gpu_bench)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=200, help="engine runs per path")
    parser.add_argument("--warmup", type=int, default=20, help="untimed engine runs")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: auto)")
    parser.add_argument("--pipeline-size", default="1920x1080", help="pipeline frame size")
    parser.add_argument("--frames", type=int, default=200, help="pipeline frames per model")
    parser.add_argument("--node-size", default="1920x1080", help="node benchmark frame size")
    parser.add_argument("--node-frames", type=int, default=300, help="node frames flat out")
    parser.add_argument("--cameras", type=int, default=4, help="cameras of the multi run")
    parser.add_argument("--rate", type=float, default=30.0, help="Hz per camera (multi)")
    parser.add_argument("--seconds", type=float, default=10.0, help="multi run length")
    parser.add_argument("--skip-node", action="store_true", help="no DDS benchmarks")
    parser.add_argument("--no-default-model", action="store_true",
                        help="do not time the shipped default model")  # fmt: skip
    parser.add_argument("--ort-parts", default=None, metavar="DIR",
                        help="folder of carried onnxruntime-gpu wheel parts")  # fmt: skip
    parser.add_argument("--ort-sha256", default=None, help="expected SHA-256 of the wheel")
    parser.add_argument("--ort-wheel-name", default=ORT_WHEEL, help="the wheel's file name")
    parser.add_argument("--ort-target", default="/opt/ortgpu",
                        help="where the wheel is installed and imported from")  # fmt: skip


def install_onnxruntime(parts: str | None, target: str, sha256: str | None,
                        wheel_name: str) -> dict[str, Any]:  # fmt: skip
    """Install the carried wheel (once) and put ``target`` first on ``sys.path``."""
    target_path = Path(target)
    facts: dict[str, Any] = {"target": target}
    if "onnxruntime" in sys.modules:
        facts["note"] = "onnxruntime was imported before the GPU build could be put first"
    if parts and not (target_path / "onnxruntime").is_dir():
        pieces = sorted(Path(parts).glob("part*"))
        if not pieces:
            raise FileNotFoundError(f"no part* files in {parts}")
        wheel = Path(parts) / wheel_name
        digest = hashlib.sha256()
        with wheel.open("wb") as out:
            for piece in pieces:
                data = piece.read_bytes()
                digest.update(data)
                out.write(data)
        facts["sha256"] = digest.hexdigest()
        if sha256 and digest.hexdigest() != sha256:
            raise ValueError(f"wheel checksum {digest.hexdigest()} != expected {sha256}")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                               "--target", target, str(wheel)], capture_output=True, text=True,
                              check=False)  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"pip install of {wheel} failed: {done.stderr.strip()[-300:]}")
        facts["installed_from_parts"] = len(pieces)
    if target_path.is_dir():
        put_first_on_path(target)
        facts["on_sys_path"] = True
    return facts


def put_first_on_path(folder: str) -> None:
    """``folder`` first on ``sys.path``, importable now: a folder that was on the path before
    it existed (``PYTHONPATH``) has a cached "nothing here" finder that would hide what was
    installed into it since, so that cache entry goes and the import caches are refreshed."""
    while folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    sys.path_importer_cache.pop(folder, None)
    importlib.invalidate_caches()


def import_onnxruntime(target: str | None) -> dict[str, Any]:
    """Import ONNX Runtime and say which one came: version, file, providers. With ``target``
    (where the GPU build was installed) anything else is an error: the machine's own CPU
    build would time the GPU networks on the CPU."""
    import onnxruntime as ort

    facts = {"version": ort.__version__, "file": ort.__file__,
             "available_providers": list(ort.get_available_providers())}  # fmt: skip
    if target and Path(target).is_dir():
        inside = Path(ort.__file__).resolve().is_relative_to(Path(target).resolve())
        facts["from_target"] = inside
        if not inside:
            raise RuntimeError(f"imported onnxruntime {ort.__version__} from {ort.__file__}, "
                               f"not the GPU build installed in {target}")  # fmt: skip
    return facts


class GpuMemorySampler:
    """Samples ``nvidia-smi`` memory.used every ``period`` s on a thread; ``peak_mib``."""

    def __init__(self, period: float = 0.5):
        import shutil

        self.exe = shutil.which("nvidia-smi")
        self.period = period
        self.peak_mib: list[int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> list[int] | None:
        try:
            done = subprocess.run([self.exe, "--query-gpu=memory.used",
                                   "--format=csv,noheader,nounits"], capture_output=True,
                                  text=True, timeout=10, check=False)  # fmt: skip
            return [int(v) for v in done.stdout.split()] if done.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, ValueError):
            return None

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            values = self._sample()
            if values:
                self.peak_mib = values if self.peak_mib is None else [
                    max(a, b) for a, b in zip(self.peak_mib, values, strict=False)]

    def __enter__(self) -> GpuMemorySampler:
        if self.exe:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)


def _sub_args(module: Any, argv: list[str]) -> argparse.Namespace:
    """A subcommand's own arguments, as its CLI would parse them."""
    parser = argparse.ArgumentParser(prog=module.__name__)
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = argv
    return args


class Report:
    """The run's report, rewritten to ``path`` after every step: a run cut short (the call's
    time limit, a crash) still leaves everything measured before."""

    def __init__(self, path: str | None, settings: dict, start_load):
        self.path = Path(path) if path else None
        self.settings = settings
        self.start_load = start_load
        self.fields: dict[str, Any] = {"steps": {}, "complete": False}
        self.memory_peak_mib = None

    def document(self) -> dict:
        from fairmot_ros.bench.common import document

        return document("gpu", self.settings, load_average_start=self.start_load,
                        gpu_memory_used_peak_mib=self.memory_peak_mib, **self.fields)  # fmt: skip

    def save(self) -> dict:
        doc = self.document()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            tmp.replace(self.path)
        return doc

    def step(self, name: str, action) -> Any:
        """Run one step; its result or its error goes into the report with its duration,
        and the report is saved."""
        print(f"fairmot-bench gpu: {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - every step's failure is reported, not fatal
            result = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"}
        self.fields["steps"][name] = {"seconds": round(time.perf_counter() - start, 1)}
        self.fields[name] = result
        self.save()
        return result


def run(args: argparse.Namespace) -> dict:
    from fairmot_ros.bench.common import BenchError, load_average

    settings = {k: v for k, v in vars(args).items() if k not in ("argv", "json")}
    report = Report(getattr(args, "json", None), settings, load_average())
    report.step("onnxruntime_install", lambda: install_onnxruntime(
        args.ort_parts, args.ort_target, args.ort_sha256, args.ort_wheel_name))  # fmt: skip
    target = args.ort_target if args.ort_parts or Path(args.ort_target).is_dir() else None
    imported = report.step("onnxruntime", lambda: import_onnxruntime(target))
    from fairmot_ros.bench import engine
    from fairmot_ros.engine import canonical_provider

    provider = canonical_provider(args.provider)
    probe = report.step("providers", lambda: {
        "libraries": engine.preload_runtime_libraries(provider),
        **engine.probe_providers(provider)})  # fmt: skip
    on_gpu = isinstance(probe, dict) and engine.gpu_check_passed(probe)
    report.fields["gpu_active"] = on_gpu
    report.save()
    if args.require_gpu and not (on_gpu and "error" not in imported):
        problem = imported.get("error") or probe.get("error") or probe.get("session_gets")
        raise BenchError(f"asked for {provider} but it does not run here: {problem} (the "
                         f"partial report says more)")  # fmt: skip
    tensorrt = _tensorrt_check(report, args, provider)
    from fairmot_ros.bench import multi, node, pipeline

    workdir = Path(args.workdir)
    threads = ["--threads", str(args.threads)] if args.threads else []
    with GpuMemorySampler() as memory:
        exported = report.step("engine", lambda: engine.run(_sub_args(engine, [
            "--arch", args.arch, "--input-size", args.input_size, "--precision", args.precision,
            "--provider", provider, "--workdir", str(workdir), "--runs", str(args.runs),
            "--warmup", str(args.warmup), *threads,
            *(["--uint8-input"] if args.uint8_input else [])])))  # fmt: skip
        models = [m["model"] for m in exported.get("models", [])] if "error" not in exported else []
        shipped = [] if args.no_default_model else _shipped_models()
        if shipped:
            report.step("engine_default_model", lambda: engine.run(_sub_args(engine, [
                *(w for m in shipped for w in ("--model", m)), "--provider", provider,
                "--runs", str(args.runs), "--warmup", str(args.warmup), *threads])))  # fmt: skip
        if tensorrt:
            trt_models = _tensorrt_models(report, models, workdir)
            if trt_models or shipped:
                report.step("engine_tensorrt", lambda: engine.run(_sub_args(engine, [
                    *(w for m in [*trt_models, *shipped] for w in ("--model", m)),
                    "--provider", "tensorrt", "--runs", str(args.runs), "--warmup",
                    str(args.warmup), *threads])))  # fmt: skip
        models += shipped[:1]
        report.fields["pipeline"] = {}
        for model in models:
            for heads in ("peaks", "dense"):
                key = Path(model).stem + ("" if heads == "peaks" else ":dense_heads")
                name = f"pipeline:{key}"
                report.step(name, lambda m=model, h=heads: pipeline.run(_sub_args(pipeline, [
                    "--model", m, "--synthetic", args.pipeline_size, "--frames",
                    str(args.frames), "--provider", provider, "--threads", str(args.threads),
                    "--heads", h])))  # fmt: skip
                report.fields["pipeline"][key] = report.fields.pop(name)
        if args.skip_node:
            report.fields["node"] = report.fields["multi"] = {"skipped": "--skip-node"}
        elif not _importable("rclpy"):
            report.fields["node"] = report.fields["multi"] = {
                "skipped": "rclpy is not importable here"}
        elif models:
            fastest = models[-2] if len(models) > 1 and shipped else models[-1]
            common = ["--model", fastest, "--provider", provider, "--threads", str(args.threads)]
            report.step("node", lambda: node.run(_sub_args(node, [
                *common, "--size", args.node_size, "--frames", str(args.node_frames)])))
            report.step("multi", lambda: multi.run(_sub_args(multi, [
                *common, "--size", args.node_size, "--cameras", "1", str(args.cameras),
                "--rate", str(args.rate), "--seconds", str(args.seconds)])))  # fmt: skip
        report.memory_peak_mib = memory.peak_mib
    report.fields["complete"] = True
    return report.save()


def _shipped_models() -> list[str]:
    """The shipped default model and its INT8 twin (where the package has it)."""
    from fairmot_ros.default_model import default_model_path

    fp16 = default_model_path()
    int8 = fp16.with_name(fp16.stem + "_int8.onnx")
    return [str(fp16), *([str(int8)] if int8.is_file() else [])]


def _tensorrt_check(report: Report, args: argparse.Namespace, provider: str) -> bool:
    """Whether TensorRT runs here (its libraries and a convolution), recorded as a step;
    False without trying when CPU was asked for or ``--skip-tensorrt``."""
    if args.skip_tensorrt or provider == "CPUExecutionProvider":
        reason = "--skip-tensorrt" if args.skip_tensorrt else "CPU run"
        report.fields["tensorrt"] = {"skipped": reason}
        return False
    from fairmot_ros.bench import engine

    check = report.step("tensorrt", lambda: {
        "libraries": engine.preload_runtime_libraries("TensorrtExecutionProvider"),
        **engine.probe_providers("TensorrtExecutionProvider")})  # fmt: skip
    gets = check.get("session_gets") or []
    return "error" not in check and bool(gets) and gets[0] == "TensorrtExecutionProvider"


def _tensorrt_models(report: Report, exported: list[str], workdir: Path) -> list[str]:
    """The FP16 export and an INT8 quantization of the FP32 export (synthetic calibration,
    for timing), as a step of their own."""
    fp32 = [m for m in exported if m.endswith("_fp32.onnx")]
    fp16 = [m for m in exported if m.endswith("_fp16.onnx")]

    def quantize() -> dict:
        if not fp32:
            return {"skipped": "no FP32 export to quantize"}
        import onnx

        from fairmot_ros.bench.engine import calibration_for
        from fairmot_ros.contract import ModelContract
        from fairmot_ros.quantize import quantize_int8

        source = Path(fp32[0])
        props = {p.key: p.value for p in onnx.load(str(source), load_external_data=False)
                 .metadata_props}  # fmt: skip
        contract = ModelContract.from_metadata(props, str(source))
        args = argparse.Namespace(calibration=None, seed=0)
        out = workdir / source.name.replace("_fp32.onnx", "_int8.onnx")
        quantize_int8(source, out, contract, calibration_for(args, contract))
        return {"model": str(out), "file_mb": round(out.stat().st_size / 1e6, 2)}

    made = report.step("int8_export", quantize)
    return [*fp16, *([made["model"]] if "model" in made else [])]


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
