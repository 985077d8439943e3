"""ONNX Runtime session for an exported FairMOT model.

The engine reads the model contract from the ONNX metadata, so nothing about input size,
layout or outputs is assumed. Providers are tried in the given order; unavailable ones are
skipped with a warning and ``active_provider`` says what ONNX Runtime actually uses (it falls
back to CPU silently when CUDA libraries fail to load, so never trust the request). On CUDA the
input is bound on the device and outputs are copied back once (IO binding).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from fairmot_ros.contract import (
    INPUT_NAME,
    INPUT_UINT8_BGR_NHWC,
    OUT_HEATMAP,
    ContractError,
    ModelContract,
)
from fairmot_ros.peak_heads import OUT_FEATURES, HeadSplitError, PeakHeads, split_heads

log = logging.getLogger(__name__)

PROVIDER_ALIASES = {
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cpu": "CPUExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
GPU_PROVIDERS = frozenset(
    {
        "CUDAExecutionProvider",
        "TensorrtExecutionProvider",
        "ROCMExecutionProvider",
        "MIGraphXExecutionProvider",
        "DmlExecutionProvider",
    }
)
# Providers whose memory IO binding addresses as device "cuda".
_CUDA_DEVICE_PROVIDERS = frozenset({"CUDAExecutionProvider", "TensorrtExecutionProvider"})
DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


class EngineError(RuntimeError):
    """The model cannot be loaded or run (missing or corrupt file, bad input)."""


class GpuUnavailableError(EngineError):
    """A GPU provider was required but ONNX Runtime is not running on one."""


def canonical_provider(name: str) -> str:
    """'cuda' -> 'CUDAExecutionProvider' etc.; full names pass through unchanged."""
    return PROVIDER_ALIASES.get(name.strip().lower(), name.strip())


def expand_providers(requested: Iterable[str]) -> list[str]:
    """Canonical names in order, with CUDA right after TensorRT unless it is listed: nodes
    TensorRT does not take then run on the GPU through CUDA, not on the CPU."""
    names = list(dict.fromkeys(canonical_provider(p) for p in requested))
    if "TensorrtExecutionProvider" in names and "CUDAExecutionProvider" not in names:
        names.insert(names.index("TensorrtExecutionProvider") + 1, "CUDAExecutionProvider")
    return names


def tensorrt_cache_dir() -> Path:
    """Where TensorRT engines and timing caches are kept between runs: a user folder
    (``$XDG_CACHE_HOME/fairmot_ros/tensorrt``, by default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairmot_ros" / "tensorrt"


def tensorrt_options(int8: bool = False, cache_dir: Path | None = None) -> dict[str, str]:
    """TensorRT provider options: FP16 kernels allowed, INT8 for quantized (QDQ) models,
    engine and timing caches in ``cache_dir`` (the first session builds the engine, which
    takes long; later ones load it)."""
    cache = str(cache_dir or tensorrt_cache_dir())
    options = {
        "trt_fp16_enable": "True",
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": cache,
    }
    if int8:
        options["trt_int8_enable"] = "True"
    return options


def choose_providers(
    requested: Iterable[str], available: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(usable providers in the requested order, skipped ones). CPU is appended as the last
    resort when nothing requested is available, so a session can always be made."""
    chosen: list[str] = []
    skipped: list[str] = []
    for name in expand_providers(requested):
        provider = canonical_provider(name)
        if provider in chosen:
            continue
        (chosen if provider in available else skipped).append(provider)
    if not chosen:
        chosen.append("CPUExecutionProvider")
    return chosen, skipped


def gpu_fallback_reason(
    requested: Sequence[str], available: Sequence[str], active: str
) -> str | None:
    """Why a requested GPU provider is not the active one, in words a user can act on; None
    when no GPU was requested or one runs.

    The two causes need different fixes: a CPU-only onnxruntime build (the normal case on a
    machine without a GPU, fixed by installing onnxruntime-gpu) and a GPU build whose provider
    failed to start (CUDA/cuDNN libraries or the device missing, which ONNX Runtime's own log
    names)."""
    wanted = [p for p in requested if p in GPU_PROVIDERS]
    if not wanted or active in GPU_PROVIDERS:
        return None
    built = [p for p in wanted if p in available]
    if not built:
        return (
            f"this onnxruntime build has no {'/'.join(wanted)} (it offers "
            f"{', '.join(available)}); install onnxruntime-gpu for the GPU"
        )
    return (
        f"{'/'.join(built)} is in this onnxruntime build but did not start (CUDA/cuDNN "
        "libraries or the device missing: ONNX Runtime's log above says which)"
    )


def preload_gpu_libraries(ort, tensorrt: bool = False) -> dict:
    """ONNX Runtime's own ``preload_dlls`` (quietly: it prints), then
    :func:`fairmot_ros.cuda_libraries.preload` for what it could not find (the CUDA packages
    of another site-packages, cuDNN, TensorRT); the report says what loaded from where."""
    import contextlib
    import io

    from fairmot_ros import cuda_libraries

    printed = io.StringIO()
    if hasattr(ort, "preload_dlls"):
        try:
            with contextlib.redirect_stdout(printed):
                ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001 - a failed preload only means no CUDA here
            printed.write(f"preload_dlls raised {exc}")
    libraries = cuda_libraries.cuda_libraries(cuda_libraries.ort_cuda_major())
    if tensorrt:
        libraries += cuda_libraries.tensorrt_libraries()
    report = cuda_libraries.preload(libraries)
    report["onnxruntime_preload_dlls_said"] = printed.getvalue().strip()[-500:]
    if not report["ok"]:
        log.warning("GPU libraries not loaded: %s", ", ".join(report["missing_required"]))
    return report


def _precision_of(path: Path) -> str:
    """The contract's precision from the file's metadata ('' when it cannot be read)."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - the session reports unreadable files itself
        return ""
    return next((p.value for p in model.metadata_props if p.key == "fairmot.precision"), "")


def _split_model(path: Path) -> tuple[bytes | None, PeakHeads | None, str | None]:
    """(serialised trunk, heads, None) for a dense model whose heads can be evaluated at the
    peaks, else (None, None, the reason it runs dense). A file that cannot be read here is
    left to ONNX Runtime, whose error the engine reports."""
    try:
        import onnx
    except ImportError:
        return None, None, "the onnx package is not installed"
    try:
        model = onnx.load(str(path))
        props = {p.key: p.value for p in model.metadata_props}
        contract = ModelContract.from_metadata(props, str(path))
    except Exception:  # noqa: BLE001 - ORT (or the contract check after it) names the problem
        return None, None, "the model could not be read for splitting"
    if contract.topk:
        return None, None, f"the model selects its top-{contract.topk} peaks in the graph"
    try:
        trunk, heads = split_heads(model)
    except HeadSplitError as exc:
        return None, None, str(exc)
    return trunk.SerializeToString(), heads, None


class Engine:
    """An ONNX Runtime session that knows its FairMOT contract.

    ``providers``: ordered preference, full names or aliases (cuda, tensorrt, cpu).
    ``require_gpu``: raise :class:`GpuUnavailableError` unless a GPU provider is active.
    ``threads``: intra-op threads (None: ONNX Runtime's default).
    ``io_binding``: None = on for CUDA/TensorRT, off otherwise; True/False forces it.
    ``spin_wait``: whether idle intra-op threads busy-wait for work (ONNX Runtime's own default
    is yes). Off by default: a tracker shares its cores with DDS, the image thread and other
    nodes, and on a loaded 2-core machine spinning threads made the shipped model up to 2x
    slower, while on nearly idle cores they gained 10-30 % (doc/performance.md, "Core
    pipeline"); None leaves ONNX Runtime's default.
    ``heads_at_peaks``: run the network without its ltrb, offset and re-ID heads and let the
    decoder evaluate them only at the peaks it keeps (:mod:`fairmot_ros.peak_heads`): same
    detections up to float32 summation order, about a fifth less CPU time for the shipped
    model. Then :meth:`run` returns ``heatmap`` and ``head_features`` and :attr:`peak_heads`
    holds the heads; a model that cannot be split (top-K outputs, other head shapes, no
    ``onnx`` package) runs dense and :attr:`dense_heads_reason` says why. False: always dense.
    ``last_run_seconds`` holds the duration of the latest :meth:`run` (a cheap timing hook).
    """

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        require_gpu: bool = False,
        threads: int | None = None,
        io_binding: bool | None = None,
        spin_wait: bool | None = False,
        heads_at_peaks: bool = True,
    ):
        import onnxruntime as ort

        self._ort = ort
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise EngineError(f"ONNX model file not found: {self.model_path}")
        if isinstance(providers, str):
            providers = [providers]
        requested = expand_providers(providers)
        self.library_report: dict | None = None
        if any(p in _CUDA_DEVICE_PROVIDERS for p in requested) and any(
            p in _CUDA_DEVICE_PROVIDERS for p in ort.get_available_providers()
        ):
            self.library_report = preload_gpu_libraries(
                ort, tensorrt="TensorrtExecutionProvider" in requested)
        chosen, skipped = choose_providers(requested, ort.get_available_providers())
        for name in skipped:
            log.warning("ONNX Runtime provider %s is not available here; skipping it", name)
        options = ort.SessionOptions()
        if threads is not None:
            if int(threads) < 0:
                raise ValueError(f"threads must be >= 0 (0 = default), got {threads}")
            options.intra_op_num_threads = int(threads)
        if spin_wait is not None:
            flag = "1" if spin_wait else "0"
            options.add_session_config_entry("session.intra_op.allow_spinning", flag)
            options.add_session_config_entry("session.inter_op.allow_spinning", flag)
        self.spin_wait = spin_wait
        source: str | bytes = str(self.model_path)
        self.peak_heads: PeakHeads | None = None
        self.dense_heads_reason: str | None = "heads_at_peaks is off"
        if heads_at_peaks:
            trunk, self.peak_heads, self.dense_heads_reason = _split_model(self.model_path)
            if trunk is not None:
                source = trunk
        provider_options = [
            tensorrt_options(int8=_precision_of(self.model_path) == "int8")
            if name == "TensorrtExecutionProvider" else {}
            for name in chosen
        ]  # fmt: skip
        try:
            self.session = ort.InferenceSession(source, sess_options=options, providers=chosen,
                                                provider_options=provider_options)  # fmt: skip
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
            raise EngineError(f"cannot load ONNX model {self.model_path}: {exc}") from exc
        self.requested_providers = requested
        self.active_provider: str = self.session.get_providers()[0]
        self.gpu_fallback_reason = gpu_fallback_reason(
            requested, ort.get_available_providers(), self.active_provider
        )
        if requested and self.active_provider != requested[0]:
            log.warning(
                "ONNX Runtime runs %s on %s, not the preferred %s",
                self.model_path.name, self.active_provider, requested[0],
            )  # fmt: skip
        if require_gpu and self.active_provider not in GPU_PROVIDERS:
            raise GpuUnavailableError(
                f"a GPU was required but ONNX Runtime runs {self.model_path.name} on "
                f"{self.active_provider} (available: {ort.get_available_providers()}); install "
                "onnxruntime-gpu with matching CUDA/cuDNN or allow CPU"
            )
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.contract: ModelContract = ModelContract.from_metadata(metadata, str(self.model_path))
        self._check_graph()
        on_cuda = self.active_provider in _CUDA_DEVICE_PROVIDERS
        self.uses_io_binding = on_cuda if io_binding is None else bool(io_binding)
        self._device = "cuda" if on_cuda else "cpu"
        self.last_run_seconds = 0.0
        self.run_count = 0

    def _check_graph(self) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if INPUT_NAME not in inputs:
            raise ContractError(
                f"{self.model_path} has no input {INPUT_NAME!r} (inputs: {list(inputs)})"
            )
        expected = self.contract.output_names
        if self.peak_heads is not None:
            expected = (OUT_HEATMAP, OUT_FEATURES)
        missing = [name for name in expected if name not in outputs]
        if missing:
            raise ContractError(f"{self.model_path} lacks outputs {missing} (has {outputs})")
        self.output_names = list(expected)

    # ----- input description ---------------------------------------------------------------
    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @property
    def heads(self) -> str:
        """"at_peaks" (ltrb, offset and re-ID computed at the decoded peaks) or "dense"."""
        return "at_peaks" if self.peak_heads is not None else "dense"

    @property
    def on_gpu(self) -> bool:
        return self.active_provider in GPU_PROVIDERS

    @property
    def input_dtype(self) -> type:
        return np.uint8 if self.contract.input_format == INPUT_UINT8_BGR_NHWC else np.float32

    @property
    def fixed_batch(self) -> int:
        """The model's batch size, or 0 when it accepts any batch."""
        return self.contract.batch

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        h, w = self.contract.input_height, self.contract.input_width
        if self.contract.input_format == INPUT_UINT8_BGR_NHWC:
            return (batch, h, w, 3)
        return (batch, 3, h, w)

    # ----- running ---------------------------------------------------------------------------
    def run(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        """Run a (B, ...) input blob; returns the contract outputs by name, batch B.

        A model with a fixed batch is run in chunks of that size (the last chunk padded).
        """
        blob = np.asarray(blob)
        if blob.dtype != self.input_dtype:
            raise ValueError(f"input blob must be {np.dtype(self.input_dtype)}, got {blob.dtype}")
        if blob.ndim != 4 or blob.shape[1:] != self.input_shape()[1:] or blob.shape[0] == 0:
            raise ValueError(
                f"input blob must have shape {('B', *self.input_shape()[1:])}, got {blob.shape}"
            )
        start = time.perf_counter()
        size = self.fixed_batch or blob.shape[0]
        parts = []
        for first in range(0, blob.shape[0], size):
            chunk = blob[first : first + size]
            real = chunk.shape[0]
            if real < size:
                pad = np.zeros((size - real, *chunk.shape[1:]), chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            outputs = self._run_once(np.ascontiguousarray(chunk))
            parts.append([out[:real] for out in outputs])
        if len(parts) == 1:
            merged = parts[0]
        else:
            merged = [np.concatenate(group) for group in zip(*parts, strict=True)]
        self.last_run_seconds = time.perf_counter() - start
        self.run_count += 1
        return dict(zip(self.output_names, merged, strict=True))

    def _run_once(self, blob: np.ndarray) -> list[np.ndarray]:
        if not self.uses_io_binding:
            return self.session.run(self.output_names, {INPUT_NAME: blob})
        binding = self.session.io_binding()
        value = self._ort.OrtValue.ortvalue_from_numpy(blob, self._device, 0)
        binding.bind_ortvalue_input(INPUT_NAME, value)
        for name in self.output_names:
            binding.bind_output(name, self._device, 0)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    def warmup(self, runs: int = 1) -> float:
        """Run a grey frame ``runs`` times (kernel selection, allocations); returns the last
        run's seconds."""
        batch = self.fixed_batch or 1
        if self.input_dtype is np.uint8:
            blob = np.full(self.input_shape(batch), 128, np.uint8)
        else:
            blob = np.full(self.input_shape(batch), 128 / 255.0, np.float32)
        for _ in range(max(1, runs)):
            self.run(blob)
        return self.last_run_seconds

    def __repr__(self) -> str:
        c = self.contract
        return (
            f"Engine({self.model_path.name}, {c.arch} {c.input_width}x{c.input_height}, "
            f"{'heads at peaks' if self.peak_heads is not None else 'dense heads'}, "
            f"reid {c.reid_dim}, on {self.active_provider})"
        )
