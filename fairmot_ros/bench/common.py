"""What every ``fairmot-bench`` report shares: statistics, machine and version facts, memory.

A figure without the machine, the load and the software it was measured with cannot be
compared with anything, so every subcommand builds its JSON document with :func:`document`,
which adds them. Nothing here imports numpy-heavy or ROS code at import time: the CLI imports
this module before a subcommand may set BLAS thread variables.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

# Packages whose versions decide speed; listed in every report when installed.
VERSIONED_PACKAGES = ("fairmot_ros", "numpy", "opencv-python-headless", "onnxruntime",
                      "onnxruntime-gpu", "lap", "scipy")  # fmt: skip
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class BenchError(ValueError):
    """Bad input for a benchmark (missing model, impossible setting): one line, exit 2."""


def summarize_ms(values_ms: Iterable[float]) -> dict[str, float | int]:
    """n, mean, p50/p90/p99, min and max of millisecond samples (rounded to microseconds).

    The median is the figure to quote on a shared machine; p90/p99 show how much load and
    garbage collection disturbed it."""
    import numpy as np

    ms = np.asarray(list(values_ms), dtype=np.float64)
    if ms.size == 0:
        return {"n": 0}
    return {
        "n": int(ms.size),
        "mean_ms": round(float(ms.mean()), 3),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "min_ms": round(float(ms.min()), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident set size of a process in MiB (Linux ``/proc``), None where unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024.0, 2)
    except (OSError, ValueError, IndexError):
        return None
    return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: the context every figure on a shared machine needs."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_smi() -> list[str] | None:
    """GPU names, driver versions and memory, or None where nvidia-smi is absent."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = "--query-gpu=name,driver_version,memory.total,memory.used"
    try:
        done = subprocess.run([exe, query, "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=30, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return [f"nvidia-smi failed: {exc}"]
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0:
        lines.append(f"nvidia-smi exit {done.returncode}: {done.stderr.strip()[:200]}")
    return lines


def package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions(extra: Sequence[str] = ()) -> dict[str, str | None]:
    """Installed versions of the packages that decide speed (absent ones left out), plus the
    file onnxruntime is imported from when it is loaded (a GPU build on PYTHONPATH can shadow
    the installed CPU build)."""
    found = {name: package_version(name) for name in (*VERSIONED_PACKAGES, *extra)}
    found = {name: value for name, value in found.items() if value is not None}
    found["python"] = platform.python_version()
    ort = sys.modules.get("onnxruntime")
    if ort is not None:
        found["onnxruntime_imported"] = getattr(ort, "__version__", None)
        found["onnxruntime_file"] = getattr(ort, "__file__", None)
    return found


def blas_threads() -> dict[str, str]:
    """The BLAS/OpenMP thread variables in effect (set before numpy loaded, or inherited)."""
    return {name: os.environ[name] for name in _BLAS_THREAD_VARIABLES if name in os.environ}


def set_blas_threads(threads: int) -> bool:
    """Pin BLAS pools to ``threads`` (0: leave the library default). Only effective before
    numpy is imported; returns whether it still could be."""
    if threads <= 0:
        return True
    effective = "numpy" not in sys.modules
    for name in _BLAS_THREAD_VARIABLES:
        os.environ[name] = str(threads)
    return effective


def machine() -> dict[str, Any]:
    """The machine: CPU model and count, architecture, OS, GPUs, load average now."""
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "gpus": nvidia_smi(),
        "load_average": load_average(),
    }


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def document(benchmark: str, settings: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A report: what was measured, when, where, with which software and settings, then the
    subcommand's own fields (results, model, provider, ...). ``load_average_end`` is read
    now, so call this when the measurement is over."""
    return {
        "benchmark": benchmark,
        "date_utc": utc_now(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine(),
        "versions": versions(),
        "blas_threads": blas_threads(),
        "settings": settings,
        **fields,
        "load_average_end": load_average(),
    }
