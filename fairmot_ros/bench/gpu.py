"""``fairmot-bench gpu``: everything a short GPU lease should measure, in one run, one JSON.

    fairmot-bench gpu [--ort-parts /opt/ortparts --ort-sha256 SHA] [--workdir /tmp/fm]

A lent GPU machine is there for minutes and has no package index, so this run does it all
(``scripts/gpu-bench`` is the wrapper to start on it, ``scripts/gpu-bench-prepare`` makes the
parts to carry there):

1. ONNX Runtime: joins the carried ``onnxruntime-gpu`` wheel parts, checks the SHA-256,
   installs it into ``--ort-target`` (skipped when already there) and puts that folder first on
   ``sys.path`` before ONNX Runtime is imported; reports the providers a session really gets.
2. ``engine``: exports DLA-34 (``--arch``, random weights) at ``--input-size`` in each
   ``--precision`` and times every feeding path, plus the shipped default model.
3. ``pipeline``: the core per stage on synthetic ``--pipeline-size`` frames, per model.
4. ``node`` and ``multi`` over DDS where rclpy is importable: one camera flat out, then
   ``--cameras`` cameras at ``--rate`` Hz (drops counted).

Each step's failure is recorded in the report and the next step still runs: a partial report
from a lease beats none. GPU memory is sampled with ``nvidia-smi`` throughout (the maximum
used is reported). With ``--provider cpu`` and a small ``--arch``/``--input-size`` the same run
works on any machine, which is how it is tested.
"""

from __future__ import annotations

import argparse
import hashlib
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
    if target_path.is_dir() and target not in sys.path:
        sys.path.insert(0, target)
        facts["on_sys_path"] = True
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


def _step(report: dict, name: str, action) -> Any:
    """Run one step; its result or its error goes into the report with its duration."""
    start = time.perf_counter()
    try:
        result = action()
    except Exception as exc:  # noqa: BLE001 - every step's failure is reported, not fatal
        result = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"}
    report["steps"][name] = {"seconds": round(time.perf_counter() - start, 1)}
    report[name] = result
    return result


def run(args: argparse.Namespace) -> dict:
    from fairmot_ros.bench.common import BenchError, document, load_average

    start_load = load_average()
    report: dict[str, Any] = {"steps": {}}
    _step(report, "onnxruntime_install", lambda: install_onnxruntime(
        args.ort_parts, args.ort_target, args.ort_sha256, args.ort_wheel_name))  # fmt: skip
    from fairmot_ros.bench import engine, multi, node, pipeline
    from fairmot_ros.engine import GPU_PROVIDERS, canonical_provider

    provider = canonical_provider(args.provider)
    probe = _step(report, "providers", lambda: {
        "available": __import__("onnxruntime").get_available_providers(),
        "preload_dlls": engine.preload_runtime_libraries(),
        "session_gets": engine.probe_providers(provider)})  # fmt: skip
    on_gpu = isinstance(probe, dict) and bool(probe.get("session_gets")) and (
        probe["session_gets"][0] in GPU_PROVIDERS)  # fmt: skip
    report["gpu_active"] = on_gpu
    if args.require_gpu and not on_gpu:
        raise BenchError(f"asked for {provider} but ONNX Runtime gives "
                         f"{probe.get('session_gets') if isinstance(probe, dict) else probe}")
    workdir = Path(args.workdir)
    threads = ["--threads", str(args.threads)] if args.threads else []
    with GpuMemorySampler() as memory:
        exported = _step(report, "engine", lambda: engine.run(_sub_args(engine, [
            "--arch", args.arch, "--input-size", args.input_size, "--precision", args.precision,
            "--provider", provider, "--workdir", str(workdir), "--runs", str(args.runs),
            "--warmup", str(args.warmup), *threads,
            *(["--uint8-input"] if args.uint8_input else [])])))  # fmt: skip
        models = [m["model"] for m in exported.get("models", [])] if "error" not in exported else []
        if not args.no_default_model:
            from fairmot_ros.default_model import default_model_path

            _step(report, "engine_default_model", lambda: engine.run(_sub_args(engine, [
                "--model", str(default_model_path()), "--provider", provider, "--runs",
                str(args.runs), "--warmup", str(args.warmup), *threads])))  # fmt: skip
            models.append(str(default_model_path()))
        report["pipeline"] = {}
        for model in models:
            for heads in ("peaks", "dense"):
                key = Path(model).stem + ("" if heads == "peaks" else ":dense_heads")
                name = f"pipeline:{key}"
                _step(report, name, lambda m=model, h=heads: pipeline.run(_sub_args(pipeline, [
                    "--model", m, "--synthetic", args.pipeline_size, "--frames",
                    str(args.frames), "--provider", provider, "--threads", str(args.threads),
                    "--heads", h])))  # fmt: skip
                report["pipeline"][key] = report.pop(name)
        if args.skip_node:
            report["node"] = report["multi"] = {"skipped": "--skip-node"}
        elif not _importable("rclpy"):
            report["node"] = report["multi"] = {"skipped": "rclpy is not importable here"}
        elif models:
            fastest = models[-2] if len(models) > 1 and not args.no_default_model else models[-1]
            common = ["--model", fastest, "--provider", provider, "--threads", str(args.threads)]
            _step(report, "node", lambda: node.run(_sub_args(node, [
                *common, "--size", args.node_size, "--frames", str(args.node_frames)])))
            _step(report, "multi", lambda: multi.run(_sub_args(multi, [
                *common, "--size", args.node_size, "--cameras", "1", str(args.cameras),
                "--rate", str(args.rate), "--seconds", str(args.seconds)])))  # fmt: skip
    settings = {k: v for k, v in vars(args).items() if k not in ("argv", "json")}
    return document("gpu", settings, load_average_start=start_load,
                    gpu_memory_used_peak_mib=memory.peak_mib, **report)  # fmt: skip


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
