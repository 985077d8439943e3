"""``fairmot-bench gpu`` in its CPU form: the whole lease run (wheel install from parts,
provider check, export, engine, pipeline, node step skipped) on a tiny export, in a process
where the packages the GPU machine lacks (lap, rclpy, trackeval) cannot be imported."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import pytest

from fairmot_ros.bench import gpu

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
    assert set(report["steps"]) >= {"onnxruntime_install", "providers", "engine"}


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
