"""``fairmot-bench gpu`` in its CPU form: the whole lease run (wheel install from parts,
provider check, export, engine, pipeline, node step skipped) on a tiny export, in a process
where the packages the GPU machine lacks (lap, rclpy, trackeval) cannot be imported; and
``scripts/gpu-bench`` against a simulated GPU machine: a Python 3.12 environment with another
onnxruntime preinstalled (``scripts/gpu-bench-simulate``) and the real onnxruntime-gpu wheel
parts (``scripts/gpu-bench-prepare``), where both are present."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fairmot_ros import cuda_libraries
from fairmot_ros.bench import gpu
from fairmot_ros.bench.engine import gpu_check_passed, probe_providers

UNAVAILABLE_ON_GPU_MACHINE = ["lap", "rclpy", "trackeval"]


def test_cpu_form_of_the_gpu_run(repo_root, tmp_path):
    argv = ["gpu", "--provider", "cpu", "--arch", "yolov5s", "--input-size", "128x96",
            "--precision", "fp32,fp16", "--runs", "2", "--warmup", "1", "--frames", "2",
            "--pipeline-size", "320x240", "--threads", "1", "--workdir", str(tmp_path / "w"),
            "--json", str(tmp_path / "gpu.json")]  # fmt: skip
    script = textwrap.dedent(
        f"""
        import runpy, sys
        for name in {UNAVAILABLE_ON_GPU_MACHINE!r}:
            sys.modules[name] = None  # importing it now raises ImportError
        sys.argv = ["fairmot-bench"] + {argv!r}
        runpy.run_module("fairmot_ros.bench.cli", run_name="__main__")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert json.loads((tmp_path / "gpu.json").read_text()) == report
    assert report["benchmark"] == "gpu" and report["gpu_active"] is False
    assert report["providers"]["session_gets"][0] == "CPUExecutionProvider"
    errors = {k: v for k, v in report.items() if isinstance(v, dict) and "error" in v}
    assert errors == {}
    engine = report["engine"]
    assert [m["precision"] for m in engine["models"]] == ["fp32", "fp16"]
    assert engine["fp16_vs_fp32"] and engine["fp16_vs_fp32"][0]["same_weights"] is True
    assert report["engine_default_model"]["models"][0]["arch"] == "yolov5s"
    # Two pipeline reports per model (heads at peaks and dense): the two exports and the
    # shipped one.
    assert len(report["pipeline"]) == 6
    for key, result in report["pipeline"].items():
        want = "dense" if key.endswith(":dense_heads") else "at_peaks"
        assert result["model"]["heads"] == want, key
        assert result["n"] == 2 and result["provider"] == "CPUExecutionProvider"
        assert set(result["stages"]) == {"conversion", "letterbox", "inference", "decode",
                                         "tracking"}  # fmt: skip
    assert report["node"] == {"skipped": "rclpy is not importable here"}
    assert set(report["steps"]) >= {"onnxruntime_install", "onnxruntime", "providers", "engine"}
    assert report["complete"] is True and report["tensorrt"] == {"skipped": "CPU run"}
    assert report["providers"]["conv_max_abs_diff"] < 1e-4
    assert report["providers"]["libraries"] == "not needed for CPUExecutionProvider"


def test_wheel_parts_are_joined_checked_and_installed(tmp_path, monkeypatch):
    parts = tmp_path / "parts"
    parts.mkdir()
    payload = b"not really a wheel" * 1000
    (parts / "part00").write_bytes(payload[:7000])
    (parts / "part01").write_bytes(payload[7000:])
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        (tmp_path / "target" / "onnxruntime").mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(gpu.subprocess, "run", fake_pip)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ValueError, match="checksum"):
        gpu.install_onnxruntime(str(parts), str(tmp_path / "target"), "0" * 64, "x.whl")
    assert calls == []
    sha = hashlib.sha256(payload).hexdigest()
    facts = gpu.install_onnxruntime(str(parts), str(tmp_path / "target"), sha, "x.whl")
    assert facts["sha256"] == sha and facts["installed_from_parts"] == 2
    assert (parts / "x.whl").read_bytes() == payload
    assert calls[0][-1] == str(parts / "x.whl") and "--target" in calls[0]
    assert sys.path[0] == str(tmp_path / "target")
    # Installed already: nothing is joined or installed again.
    assert "installed_from_parts" not in gpu.install_onnxruntime(
        str(parts), str(tmp_path / "target"), sha, "x.whl")
    assert len(calls) == 1


def test_report_is_saved_after_every_step(tmp_path):
    path = tmp_path / "gpu.json"
    report = gpu.Report(str(path), {"provider": "cpu"}, [0.0, 0.0, 0.0])
    report.step("first", lambda: {"value": 1})
    assert json.loads(path.read_text())["first"] == {"value": 1}

    def broken():
        raise RuntimeError("no\ndevice")

    report.step("second", broken)
    saved = json.loads(path.read_text())
    assert saved["second"] == {"error": "RuntimeError: no device"}
    assert saved["complete"] is False and set(saved["steps"]) == {"first", "second"}


def test_a_folder_on_the_path_before_it_existed_is_importable_once_filled(tmp_path, monkeypatch):
    folder = tmp_path / "later"
    monkeypatch.setattr(sys, "path", [str(folder), *sys.path])
    monkeypatch.setattr(sys, "path_importer_cache", dict(sys.path_importer_cache))
    import importlib.util

    assert importlib.util.find_spec("fairmot_later_module") is None  # caches "nothing there"
    folder.mkdir()
    (folder / "fairmot_later_module.py").write_text("VALUE = 7\n")
    gpu.put_first_on_path(str(folder))
    spec = importlib.util.find_spec("fairmot_later_module")
    assert spec is not None and spec.origin == str(folder / "fairmot_later_module.py")
    assert sys.path[0] == str(folder) and sys.path.count(str(folder)) == 1


def test_libraries_are_loaded_in_order_and_reported(tmp_path):
    site = tmp_path / "site-packages"
    (site / "nvidia" / "cu13" / "lib").mkdir(parents=True)
    (site / "nvidia" / "cudnn" / "lib").mkdir(parents=True)
    for name in ("libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10"):
        (site / "nvidia" / "cu13" / "lib" / name).write_bytes(b"")
    (site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9").write_bytes(b"")
    loaded = []

    def loader(path, mode=0):
        if "/" not in path:
            raise OSError(f"{path}: cannot open shared object file")
        loaded.append(Path(path).name)

    report = cuda_libraries.preload(cuda_libraries.cuda_libraries(13), [site], loader=loader)
    assert report["ok"] is True and report["missing_required"] == []
    assert loaded == ["libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13",
                      "libcurand.so.10", "libcudnn.so.9"]  # fmt: skip
    (site / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9").unlink()
    report = cuda_libraries.preload(cuda_libraries.cuda_libraries(13), [site], loader=loader)
    assert report["ok"] is False and report["missing_required"] == ["libcudnn.so.9"]
    trt = cuda_libraries.preload(cuda_libraries.tensorrt_libraries(10), [site], loader=loader)
    assert trt["missing_required"] == ["libnvinfer.so.10", "libnvonnxparser.so.10"]


def test_provider_check_runs_a_convolution():
    probe = probe_providers("CPUExecutionProvider")
    assert probe["session_gets"][0] == "CPUExecutionProvider" and "error" not in probe
    assert probe["conv_max_abs_diff"] < 1e-4 and not gpu_check_passed(probe)
    assert gpu_check_passed({"session_gets": ["CUDAExecutionProvider", "CPUExecutionProvider"]})
    assert not gpu_check_passed({"session_gets": [], "error": "no cuDNN"})


SIM_PYTHON = Path(__file__).resolve().parents[1] / ".device" / "sim312" / "bin" / "python"
ORT_PARTS = Path(__file__).resolve().parents[1] / ".device" / "ort"


@pytest.mark.skipif(not SIM_PYTHON.is_file() or not (ORT_PARTS / "MANIFEST").is_file(),
                    reason="no simulated GPU machine (scripts/gpu-bench-simulate) or no "
                    "onnxruntime-gpu parts (scripts/gpu-bench-prepare)")  # fmt: skip
def test_gpu_bench_on_a_simulated_gpu_machine(repo_root, tmp_path):
    """The wheel is installed from its real parts and imported instead of the preinstalled
    CPU build, even with its folder on PYTHONPATH before it existed; without CUDA libraries
    the run stops at the provider check in seconds, with a partial report and the failed
    loads in the log."""
    target = tmp_path / "ortgpu"
    env = {**os.environ, "ORT_PARTS": str(ORT_PARTS), "ORT_TARGET": str(target),
           "OUT": str(tmp_path / "out"), "PYTHON": str(SIM_PYTHON),
           "PYTHONPATH": str(target)}  # fmt: skip
    for name in ("VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    done = subprocess.run([str(repo_root / "scripts" / "gpu-bench")], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "gpu.json").read_text())
    assert report["complete"] is False and report["gpu_active"] is False
    assert report["versions"]["python"].startswith("3.12")
    assert report["onnxruntime_install"]["installed_from_parts"] >= 2
    imported = report["onnxruntime"]
    assert imported["from_target"] is True and imported["version"] == "1.31.1"
    assert imported["file"].startswith(str(target))
    assert "CUDAExecutionProvider" in imported["available_providers"]
    libraries = report["providers"]["libraries"]
    assert libraries["ok"] is False and "libcudnn.so.9" in libraries["missing_required"]
    assert "error" in report["providers"] and "engine" not in report
    log = (tmp_path / "out" / "gpu.log").read_text()
    assert "libcublasLt.so.13" in log and "PARTIAL report" in log
    assert sum(step["seconds"] for step in report["steps"].values()) < 120


def test_tensorrt_gets_cuda_behind_it_and_a_user_cache(monkeypatch, tmp_path):
    from fairmot_ros.engine import choose_providers, expand_providers, tensorrt_options

    assert expand_providers(["tensorrt", "cpu"]) == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert expand_providers(["cuda", "trt"]) == ["CUDAExecutionProvider",
                                                 "TensorrtExecutionProvider"]  # fmt: skip
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["trt"], available)[0] == available[:2]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    options = tensorrt_options(int8=True)
    assert options["trt_fp16_enable"] == "True" and options["trt_int8_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(tmp_path / "fairmot_ros" / "tensorrt")
    assert "trt_int8_enable" not in tensorrt_options()
