"""Latency of one exported model through :class:`fairmot_ros.engine.Engine`, path by path.

Three ways of feeding the same network are timed, because on a GPU they differ by the copies
between host and device (the reference figures in doc/performance.md, "GPU", quote a plain run
and one with the input already on the device):

``numpy``
    ``Engine(io_binding=False).run(blob)``: ``InferenceSession.run`` with a numpy input; ONNX
    Runtime copies the input to the device, runs, and copies every output back into numpy.
``io_binding``
    ``Engine(io_binding=True).run(blob)``: what the node does on CUDA. Each run wraps the numpy
    blob in a new device ``OrtValue`` (a host-to-device copy every frame), binds the outputs to
    device memory, runs, and copies the outputs to the host once.
``io_binding_resident``
    The input ``OrtValue`` is put on the device once, before timing; each timed run is only
    ``run_with_iobinding`` (which waits for the device) plus ``copy_outputs_to_cpu``. This is
    the "input already on the GPU" figure; ``run_ms`` and ``copy_out_ms`` split it.

``numpy`` and ``io_binding`` use the engine's own timer (``last_run_seconds``, around the whole
``Engine.run``: shape checks, batching, the copies and the run). Nothing here imports torch.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from fairmot_ros.bench.common import (
    cpu_model,
    nvidia_smi,
    package_version,
    summarize_ms,
)
from fairmot_ros.contract import INPUT_NAME, OUT_EMBEDDING, OUT_HEATMAP
from fairmot_ros.engine import Engine

PATHS = ("numpy", "io_binding", "io_binding_resident")
PATH_DEFINITIONS = {
    "numpy": "Engine(io_binding=False).run: InferenceSession.run with numpy in/out (input "
    "copied to the device and outputs copied back by ONNX Runtime), engine timer",
    "io_binding": "Engine(io_binding=True).run: new device OrtValue from the numpy input each "
    "run (host-to-device copy), outputs bound on the device, run_with_iobinding, "
    "copy_outputs_to_cpu; engine timer",
    "io_binding_resident": "input OrtValue created on the device once before timing; timed: "
    "run_with_iobinding (synchronised) + copy_outputs_to_cpu (run_ms + copy_out_ms)",
}
# Providers whose IO binding addresses device memory as "cuda" (as in the engine).
_CUDA_DEVICE_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
CONF_THRES = 0.4  # the tracker's default detection threshold, for the peak comparison
TOP_PEAKS = 100


def summarize(seconds: Sequence[float]) -> dict[str, float | int]:
    """Median, p90, p99, min, mean and max in milliseconds: the median is the figure to quote
    on a shared machine, p90/max show how much the load disturbed it. (The keys predate the
    other subcommands' p50_ms; they are kept so that older reports compare.)"""
    stats = summarize_ms(np.asarray(seconds, dtype=np.float64) * 1000.0)
    return {
        "runs": stats["n"],
        "median_ms": stats["p50_ms"],
        "p90_ms": stats["p90_ms"],
        "p99_ms": stats["p99_ms"],
        "min_ms": stats["min_ms"],
        "mean_ms": stats["mean_ms"],
        "max_ms": stats["max_ms"],
    }


def random_input(engine: Engine, seed: int = 0) -> np.ndarray:
    """A fixed pseudo-random input in the model's own layout and dtype (batch 1, or the
    model's fixed batch). Values do not change the work a dense network does."""
    rng = np.random.default_rng(seed)
    shape = engine.input_shape(engine.fixed_batch or 1)
    if engine.input_dtype is np.uint8:
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.random(shape, dtype=np.float32)


def time_engine_run(
    engine: Engine, blob: np.ndarray, warmup: int, runs: int
) -> tuple[dict, dict[str, np.ndarray]]:
    """Time ``engine.run(blob)`` ``runs`` times after ``warmup`` runs; returns the summary and
    the last outputs (for the numerical checks)."""
    if warmup > 0:
        engine.warmup(warmup)
    seconds = []
    outputs: dict[str, np.ndarray] = {}
    for _ in range(runs):
        outputs = engine.run(blob)
        seconds.append(engine.last_run_seconds)
    return summarize(seconds), outputs


def time_resident(
    engine: Engine, blob: np.ndarray, warmup: int, runs: int
) -> tuple[dict, dict[str, np.ndarray]]:
    """Time ``run_with_iobinding`` + ``copy_outputs_to_cpu`` with the input placed on the
    engine's device once. The binding is made here on ``engine.session`` because the engine
    itself re-uploads the input every run (that is the ``io_binding`` path)."""
    import onnxruntime as ort

    device = "cuda" if engine.active_provider in _CUDA_DEVICE_PROVIDERS else "cpu"
    value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(blob), device, 0)
    binding = engine.session.io_binding()
    binding.bind_ortvalue_input(INPUT_NAME, value)
    for name in engine.output_names:
        binding.bind_output(name, device, 0)
    total, compute, copy = [], [], []
    arrays: list[np.ndarray] = []
    for index in range(max(0, warmup) + runs):
        start = time.perf_counter()
        engine.session.run_with_iobinding(binding)
        ran = time.perf_counter()
        arrays = binding.copy_outputs_to_cpu()
        done = time.perf_counter()
        if index >= warmup:
            total.append(done - start)
            compute.append(ran - start)
            copy.append(done - ran)
    summary = summarize(total)
    summary["run_ms"] = summarize(compute)["median_ms"]
    summary["copy_out_ms"] = summarize(copy)["median_ms"]
    summary["device"] = device
    return summary, dict(zip(engine.output_names, arrays, strict=True))


PathTimer = Callable[[Engine, np.ndarray, int, int], tuple[dict, dict[str, np.ndarray]]]
PATH_TIMERS: dict[str, tuple[bool, PathTimer]] = {
    # path -> (Engine io_binding flag, timer)
    "numpy": (False, time_engine_run),
    "io_binding": (True, time_engine_run),
    "io_binding_resident": (True, time_resident),
}


def significant(value: float, digits: int = 4) -> float:
    """Round to significant digits: differences span 1e-7 (FP32 paths) to 1 (peak flips)."""
    return float(f"{value:.{digits}g}")


def max_abs_diffs(
    first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Largest absolute difference per output present in both."""
    return {
        name: float(np.max(np.abs(first[name].astype(np.float64) - second[name])))
        for name in first
        if name in second
    }


def compare_precisions(
    fp32: Mapping[str, np.ndarray],
    fp16: Mapping[str, np.ndarray],
    conf_thres: float = CONF_THRES,
    names: tuple[str, str] = ("fp32", "fp16"),
) -> dict:
    """How far FP16 outputs are from FP32 outputs of the same weights on the same input
    (or any lower precision from a higher one: ``names`` label the two in the keys, e.g.
    ``("fp16", "int8")``).

    Besides the raw differences (also relative to each FP32 map's range, the FP16 yardstick of
    doc/export-training.md, "Accuracy of the exported model"), dense models get the heatmap
    facts that decide detections: which cells both keep as peaks, whether the strongest and
    the confident FP32 peaks survive in FP16, and how close the embeddings are at the common
    peaks. The heatmap's raw difference includes cells that are a peak in one precision and
    suppressed in the other (peak suppression is discontinuous), so
    ``max_abs_diff_at_common_peaks`` is its meaningful figure. Top-K models only get the
    differences (near-equal peaks may swap places, which overstates the change).
    """
    diffs = max_abs_diffs(fp32, fp16)
    result: dict = {"max_abs_diff": {k: significant(v) for k, v in diffs.items()}}
    spans = {name: float(np.ptp(fp32[name])) for name in diffs}
    result["max_diff_over_range"] = {
        name: significant(diffs[name] / spans[name]) if spans[name] > 0 else None for name in diffs
    }
    if OUT_HEATMAP not in fp32 or OUT_HEATMAP not in fp16:
        return result
    a, b = fp32[OUT_HEATMAP], fp16[OUT_HEATMAP]
    peak_a, peak_b = a > 0, b > 0
    both = peak_a & peak_b
    confident = a > conf_thres
    strongest = np.argsort(-a.ravel(), kind="stable")[: min(TOP_PEAKS, int(peak_a.sum()))]
    high, low = names
    heat = {
        f"peak_cells_{high}": int(peak_a.sum()),
        f"peak_cells_{low}": int(peak_b.sum()),
        "peak_mask_agreement": round(float(np.mean(peak_a == peak_b)), 6),
        "argmax_equal": bool(np.argmax(a) == np.argmax(b)),
        f"top{TOP_PEAKS}_{high}_peaks_kept": int(peak_b.ravel()[strongest].sum()),
        f"top{TOP_PEAKS}_considered": int(strongest.size),
        "conf_thres": conf_thres,
        f"confident_peaks_{high}": int(confident.sum()),
        f"confident_peaks_{low}": int((b > conf_thres).sum()),
        f"confident_{high}_peaks_kept": int((confident & peak_b).sum()),
        "max_abs_diff_at_common_peaks": significant(float(np.max(np.abs(a - b)[both])))
        if both.any()
        else None,
    }
    if OUT_EMBEDDING in fp32 and OUT_EMBEDDING in fp16 and both.any():
        cells = both[:, 0]  # (B, h, w)
        cosine = np.sum(fp32[OUT_EMBEDDING] * fp16[OUT_EMBEDDING], axis=1)[cells]
        heat["min_embedding_cosine_at_common_peaks"] = round(float(cosine.min()), 6)
    result["heatmap"] = heat
    return result


def device_facts() -> dict:
    """What the figures were measured on; which onnxruntime (file and version) matters most,
    since a GPU build brought in through PYTHONPATH can shadow an installed CPU build."""
    import onnxruntime as ort

    return {
        "gpus": nvidia_smi(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime_version": ort.__version__,
        "onnxruntime_file": ort.__file__,
        "onnxruntime_available_providers": list(ort.get_available_providers()),
        "torch_version": package_version("torch"),
        "numpy_version": np.__version__,
    }
