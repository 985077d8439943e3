"""The engine latency benchmark: its report, both model modes, the FP16 check and bad input.

One small export pair (yolov5s, 128x96, FP32 + FP16) is built once by the benchmark itself, in a
subprocess where the packages a GPU machine lacks (lap, rclpy, trackeval) cannot be imported; the
other cases reuse those files with very few timed runs. No timing goal is asserted here.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap

import onnxruntime as ort
import pytest

from fairmot_ros.bench.cli import main as bench_main
from fairmot_ros.bench.engine_timing import PATHS

SIZE = "128x96"
OUTPUTS = {"heatmap", "ltrb", "offset", "embedding"}
UNAVAILABLE_ON_GPU_MACHINE = ["lap", "rclpy", "trackeval"]
STAT_KEYS = ("median_ms", "p90_ms", "min_ms", "mean_ms", "max_ms")


def _run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = bench_main(["engine", *argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def built(repo_root, tmp_path_factory):
    """``fairmot-bench engine --arch yolov5s ...`` (through ``fairmot_ros.bench.cli``) with
    the packages missing on the GPU machine blocked; returns (process, report, workdir)."""
    folder = tmp_path_factory.mktemp("engine_bench")
    argv = ["--arch", "yolov5s", "--input-size", SIZE, "--precision", "fp32,fp16",
            "--warmup", "1", "--runs", "3", "--threads", "1", "--workdir", str(folder / "models"),
            "--json", str(folder / "report.json")]  # fmt: skip
    script = textwrap.dedent(
        f"""
        import runpy, sys

        BLOCKED = {UNAVAILABLE_ON_GPU_MACHINE!r}
        for name in BLOCKED:
            sys.modules[name] = None  # importing it now raises ImportError
        sys.argv = ["fairmot-bench", "engine"] + {argv!r}
        try:
            runpy.run_module("fairmot_ros.bench.cli", run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code
        tried = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m])
        assert not tried, tried
        sys.exit(code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done, json.loads(done.stdout), folder


def _check_model_entry(entry: dict, paths: tuple[str, ...], runs: int) -> None:
    assert entry["active_provider"] == "CPUExecutionProvider"
    assert entry["providers"] == ["CPUExecutionProvider"]
    assert entry["gpu_active"] is False
    assert entry["provider_options"] == {}  # the CPU provider has none; CUDA lists its settings
    assert entry["arch"] == "yolov5s" and entry["input_size"] == SIZE
    assert entry["file_mb"] > 1.0
    assert list(entry["paths"]) == list(paths)
    for name, stats in entry["paths"].items():
        assert stats["active_provider"] == "CPUExecutionProvider", name
        assert stats["uses_io_binding"] is (name != "numpy"), name
        assert stats["runs"] == runs
        values = [stats[key] for key in STAT_KEYS]
        assert all(value > 0 for value in values), stats
        assert stats["min_ms"] <= stats["median_ms"] <= stats["p90_ms"] <= stats["max_ms"]
        assert stats["min_ms"] <= stats["mean_ms"] <= stats["max_ms"]


def test_build_mode_report(built):
    done, report, folder = built
    assert json.loads((folder / "report.json").read_text()) == report
    assert [m["precision"] for m in report["models"]] == ["fp32", "fp16"]
    for entry in report["models"]:
        _check_model_entry(entry, PATHS, runs=3)
        assert entry["export_seconds"] > 0
        assert entry["weights"].startswith("random")
        # On the CPU the three feeding paths compute the same numbers.
        assert set(entry["max_abs_diff_vs_numpy"]) == {"io_binding", "io_binding_resident"}
        assert max(entry["max_abs_diff_vs_numpy"].values()) < 1e-5
    resident = report["models"][0]["paths"]["io_binding_resident"]
    assert resident["device"] == "cpu" and resident["run_ms"] > 0 and resident["copy_out_ms"] >= 0
    assert sorted(p.name for p in (folder / "models").iterdir()) == [
        f"yolov5s_{SIZE}_fp16.onnx",
        f"yolov5s_{SIZE}_fp32.onnx",
    ]
    assert report["gpu_requested"] is False and report["warnings"] == []
    device = report["device"]
    assert device["cpu_count"] >= 1 and device["onnxruntime_version"] == ort.__version__
    assert device["onnxruntime_file"] == ort.__file__
    assert device["torch_version"]
    assert report["gpu_libraries"] == "not needed for CPUExecutionProvider"
    assert "exported yolov5s_128x96_fp16.onnx" in done.stderr


def test_fp16_against_fp32_of_the_same_weights(built):
    _, report, _ = built
    (check,) = report["fp16_vs_fp32"]
    assert check["same_weights"] is True
    assert check["fp32"].endswith("_fp32.onnx") and check["fp16"].endswith("_fp16.onnx")
    diffs = check["max_abs_diff"]
    assert set(diffs) == OUTPUTS
    assert max(diffs.values()) > 0  # FP16 really ran in half precision
    assert diffs["embedding"] < 0.05 and check["max_diff_over_range"]["embedding"] < 0.05
    heat = check["heatmap"]
    assert heat["peak_cells_fp32"] > 0 and heat["peak_mask_agreement"] > 0.9
    assert heat["top100_fp32_peaks_kept"] >= 0.9 * heat["top100_considered"]
    assert heat["max_abs_diff_at_common_peaks"] < 0.01
    assert heat["min_embedding_cosine_at_common_peaks"] > 0.99


def test_model_mode_times_given_files(built):
    _, _, folder = built
    fp32 = folder / "models" / f"yolov5s_{SIZE}_fp32.onnx"
    fp16 = folder / "models" / f"yolov5s_{SIZE}_fp16.onnx"
    code, out, err = _run_main(["--model", str(fp32), "--model", str(fp16), "--paths",
                                "numpy,io_binding", "--warmup", "0", "--runs", "2",
                                "--threads", "1"])  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert [m["model"] for m in report["models"]] == [str(fp32), str(fp16)]
    for entry in report["models"]:
        _check_model_entry(entry, ("numpy", "io_binding"), runs=2)
        assert entry["weights"] == "as given" and "export_seconds" not in entry
    (check,) = report["fp16_vs_fp32"]
    assert check["same_weights"] is False and set(check["max_abs_diff"]) == OUTPUTS
    assert set(report["path_definitions"]) == {"numpy", "io_binding"}


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(),
    reason="this checks the report when CUDA is asked for on a CPU-only ONNX Runtime",
)
def test_cuda_asked_without_gpu_is_reported_loudly(built):
    _, _, folder = built
    model = folder / "models" / f"yolov5s_{SIZE}_fp32.onnx"
    common = ["--model", str(model), "--provider", "cuda", "--paths", "numpy", "--warmup", "0",
              "--runs", "1", "--threads", "1"]  # fmt: skip
    code, out, err = _run_main(common)
    assert code == 0, err
    report = json.loads(out)
    assert report["gpu_requested"] is True and report["gpu_active"] is False
    assert report["models"][0]["providers_requested"] == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert report["models"][0]["active_provider"] == "CPUExecutionProvider"
    assert any("NOT GPU figures" in w for w in report["warnings"])
    assert "WARNING" in err and "NOT GPU figures" in err

    code, out, err = _run_main([*common, "--require-gpu"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "GPU" in err


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(),
    reason="this checks the early refusal on a CPU-only ONNX Runtime",
)
def test_require_gpu_refuses_before_exporting(tmp_path):
    code, out, err = _run_main(["--arch", "yolov5s", "--input-size", SIZE, "--provider", "cuda",
                                "--require-gpu", "--workdir", str(tmp_path)])  # fmt: skip
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "CPUExecutionProvider" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--model", "/nonexistent/model.onnx"], "not found"),
        (["--arch", "resnet_9000"], "unknown arch"),
        (["--arch", "yolov5s", "--input-size", "130x96"], "multiples of 32"),
        (["--arch", "yolov5s", "--input-size", "big"], "WIDTHxHEIGHT"),
        (["--arch", "yolov5s", "--provider", "quantum"], "unknown provider"),
        (["--arch", "yolov5s", "--precision", "fp8"], "precision"),
        (["--arch", "yolov5s", "--paths", "numpy,telepathy"], "paths"),
        (["--arch", "yolov5s", "--runs", "0"], "must be >= 1"),
        (["--arch", "yolov5s", "--require-gpu"], "--require-gpu needs a GPU"),
        (["--arch", "yolov5s", "--checkpoint", "/nonexistent/w.pth"], "checkpoint not found"),
        ([], "no models"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, words):
    code, out, err = _run_main(argv)
    assert code == 2, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert words in err


def test_model_and_arch_together_are_refused(built):
    _, _, folder = built
    model = folder / "models" / f"yolov5s_{SIZE}_fp32.onnx"
    code, out, err = _run_main(["--model", str(model), "--arch", "yolov5s"])
    assert code == 2 and out == "" and "not both" in err


def test_not_an_onnx_file_is_one_line_and_exit_2(tmp_path):
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"this is not a protobuf")
    code, out, err = _run_main(["--model", str(bogus), "--runs", "1", "--warmup", "0"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "model.onnx" in err


def test_interleaved_shipped_pair_compares_int8_with_fp16():
    from fairmot_ros.default_model import default_model_path

    fp16 = default_model_path()
    int8 = fp16.with_name(fp16.stem + "_int8.onnx")
    code, out, err = _run_main(["--model", str(fp16), "--model", str(int8), "--paths", "numpy",
                                "--interleave", "--heads", "peaks", "--warmup", "1", "--runs",
                                "3", "--threads", "1"])  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert [m["precision"] for m in report["models"]] == ["fp16", "int8"]
    assert all(m["paths"]["numpy"]["runs"] == 3 and m["heads"] == "at_peaks"
               for m in report["models"])  # fmt: skip
    assert report["settings"]["interleave"] is True
    assert set(report["interleaved_first_model_over_model"]) == {str(int8)}
    (check,) = report["int8_vs_fp16"]
    assert check["heatmap"]["peak_cells_fp16"] > 0 and "peak_cells_int8" in check["heatmap"]
    assert "int8_vs_fp32" not in report and report["fp16_vs_fp32"] == []


@pytest.mark.parametrize(("argv", "words"), [
    (["--model", "M", "--interleave"], "numpy path only"),
    (["--arch", "yolov5s", "--calibration", "pets:1-400"], "for int8 exports"),
])  # fmt: skip
def test_interleave_and_calibration_misuse(built, argv, words):
    _, _, folder = built
    model = str(folder / "models" / f"yolov5s_{SIZE}_fp32.onnx")
    code, out, err = _run_main([model if a == "M" else a for a in argv])
    assert code == 2 and out == "" and words in err, err
