"""Load the CUDA, cuDNN and TensorRT libraries that ONNX Runtime's GPU providers need.

``onnxruntime-gpu``'s CUDA provider library has no RPATH: it needs cuBLAS/cuBLASLt, cuRAND
and the CUDA runtime of its CUDA major version already loaded (or on the loader's path), and
it opens cuDNN 9 when the first convolution runs. ``onnxruntime.preload_dlls()`` looks for
them only in the ``nvidia/`` folder beside ONNX Runtime itself, so an ``onnxruntime-gpu``
installed into its own folder (as ``fairmot-bench gpu`` does on a lent machine) finds nothing
there, and it treats cuDNN as optional without saying so. The TensorRT provider needs
``libnvinfer``/``libnvonnxparser`` of the TensorRT major version it was built against.

:func:`preload` searches every ``site-packages`` on ``sys.path`` (the ``nvidia/...`` folders
of pip's CUDA packages, e.g. those that come with PyTorch, ``tensorrt_libs``), the folders in
``LD_LIBRARY_PATH`` and the usual CUDA install folders, loads each library globally in
dependency order, and says for each one where it was found and whether it loaded; ``ok`` is
true only when every required library did. Nothing here imports ONNX Runtime or needs a GPU.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Library", "cuda_libraries", "preload", "search_dirs", "tensorrt_libraries"]

DEFAULT_CUDA_MAJOR = 13  # onnxruntime-gpu 1.31's CUDA build
DEFAULT_TENSORRT_MAJOR = 10  # its TensorRT provider links libnvinfer.so.10


@dataclass(frozen=True)
class Library:
    """One shared library: its soname, the package folders it lives in, whether required."""

    soname: str
    folders: tuple[str, ...]
    required: bool = True


def cuda_libraries(cuda_major: int = DEFAULT_CUDA_MAJOR) -> list[Library]:
    """The CUDA provider's libraries in load order (each after what it depends on)."""
    cu = f"nvidia/cu{cuda_major}/lib"  # CUDA 13 wheels: one consolidated folder
    return [
        Library(f"libcudart.so.{cuda_major}", (cu, "nvidia/cuda_runtime/lib")),
        Library(f"libcublasLt.so.{cuda_major}", (cu, "nvidia/cublas/lib")),
        Library(f"libcublas.so.{cuda_major}", (cu, "nvidia/cublas/lib")),
        Library("libcurand.so.10", (cu, "nvidia/curand/lib")),
        Library(f"libcufft.so.{cuda_major - 1}", (cu, "nvidia/cufft/lib"), required=False),
        Library(f"libnvrtc.so.{cuda_major}", (cu, "nvidia/cuda_nvrtc/lib"), required=False),
        # cuDNN 9 opens its parts by name; loading them first makes that work without RPATH.
        *(Library(f"libcudnn_{part}.so.9", ("nvidia/cudnn/lib",), required=False)
          for part in ("graph", "engines_precompiled", "engines_runtime_compiled", "heuristic",
                       "ops", "cnn", "adv")),  # fmt: skip
        Library("libcudnn.so.9", ("nvidia/cudnn/lib",)),
    ]


def tensorrt_libraries(major: int = DEFAULT_TENSORRT_MAJOR) -> list[Library]:
    """The TensorRT provider's own libraries (it needs the CUDA ones too)."""
    folders = ("tensorrt_libs", "tensorrt")
    return [
        Library(f"libnvinfer.so.{major}", folders),
        Library(f"libnvinfer_plugin.so.{major}", folders, required=False),
        Library(f"libnvonnxparser.so.{major}", folders),
    ]


def search_dirs(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Folders to look in, in order: ``extra``, every ``sys.path`` entry (site-packages of
    the machine's Python, so the CUDA packages that came with PyTorch), ``LD_LIBRARY_PATH``,
    the usual CUDA install folders."""
    found: list[Path] = [Path(p) for p in extra]
    found += [Path(p) for p in sys.path if p]
    found += [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    found += [Path("/usr/local/cuda/lib64"), Path("/usr/lib/x86_64-linux-gnu")]
    unique: list[Path] = []
    for folder in found:
        if folder.is_dir() and folder not in unique:
            unique.append(folder)
    return unique


def _locate(library: Library, roots: Sequence[Path]) -> Path | None:
    for root in roots:
        for folder in (*library.folders, "torch/lib", ""):
            candidate = root / folder / library.soname if folder else root / library.soname
            if candidate.is_file():
                return candidate
    return None


def preload(libraries: Sequence[Library], extra_dirs: Iterable[str | os.PathLike] = (),
            loader=ctypes.CDLL) -> dict:  # fmt: skip
    """Load ``libraries`` in order (``RTLD_GLOBAL``); a report of what happened.

    A library found in no searched folder is still tried by name (the system loader's own
    path). Returns ``{"ok": all required loaded, "missing_required": [...], "libraries":
    [{"soname", "path", "loaded", "error"?, "required"}]}``."""
    roots = search_dirs(extra_dirs)
    entries = []
    for library in libraries:
        path = _locate(library, roots)
        entry: dict = {"soname": library.soname, "path": str(path) if path else None,
                       "required": library.required}  # fmt: skip
        try:
            loader(str(path) if path else library.soname, mode=ctypes.RTLD_GLOBAL)
            entry["loaded"] = True
        except OSError as exc:
            entry["loaded"] = False
            entry["error"] = " ".join(str(exc).split())[:200]
        entries.append(entry)
    missing = [e["soname"] for e in entries if e["required"] and not e["loaded"]]
    return {"ok": not missing, "missing_required": missing, "libraries": entries}


def ort_cuda_major(default: int = DEFAULT_CUDA_MAJOR) -> int:
    """The CUDA major version the imported ONNX Runtime was built for (its build info)."""
    try:
        from onnxruntime.capi import build_and_package_info as info
    except ImportError:
        return default
    version = str(getattr(info, "cuda_version", "") or "")
    head = version.split(".")[0]
    return int(head) if head.isdigit() else default
