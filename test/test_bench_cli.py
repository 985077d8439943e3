"""``fairmot-bench``: subcommand dispatch, the shared report fields, and the core subcommands
(tracker, pipeline, soak) on small runs. No timing goal is asserted: only that the reports
say what was measured, on what, and that the numbers are consistent with each other."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap

import pytest

from fairmot_ros.bench import cli


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def check_common_fields(report: dict, benchmark: str) -> None:
    assert report["benchmark"] == benchmark
    assert report["date_utc"].endswith("+00:00")
    machine = report["machine"]
    assert machine["cpus"] >= 1 and machine["cpu"] and len(machine["load_average"]) == 3
    assert report["versions"]["numpy"] and report["versions"]["python"]
    assert len(report["load_average_end"]) == 3 and len(report["load_average_start"]) == 3


def check_stats(stats: dict, n: int) -> None:
    assert stats["n"] == n
    assert 0 < stats["min_ms"] <= stats["p50_ms"] <= stats["p90_ms"] <= stats["p99_ms"]
    assert stats["p99_ms"] <= stats["max_ms"]
    assert stats["min_ms"] <= stats["mean_ms"] <= stats["max_ms"]


def test_tracker_report_per_size_and_json_file(tmp_path):
    target = tmp_path / "out" / "tracker.json"
    code, out, err = run_cli(["tracker", "--tracks", "5", "40", "--frames", "30", "--warmup",
                              "5", "--dim", "16", "--json", str(target)])  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert json.loads(target.read_text()) == report
    check_common_fields(report, "tracker")
    assert report["settings"]["tracks"] == [5, 40] and report["settings"]["dim"] == 16
    assert list(report["results"]) == ["5", "40"]
    for n, result in report["results"].items():
        check_stats(result, 30)
        assert result["frames"] == 30 and result["median_ms"] == result["p50_ms"]
        # Everyone stays in view: the store holds about as many tracks as people.
        assert 0.8 * int(n) <= result["mean_live_tracks"] <= 1.5 * int(n) + 3
        assert result["mean_output_tracks"] <= result["mean_live_tracks"]
    assert report["results"]["40"]["mean_detections"] > report["results"]["5"]["mean_detections"]


def test_tracker_pins_blas_threads_before_numpy_and_imports_nothing_else(repo_root):
    script = textwrap.dedent(
        """
        import contextlib, io, json, os, sys
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.pop(name, None)
        from fairmot_ros.bench import cli
        assert "numpy" not in sys.modules
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["tracker", "--tracks", "3", "--frames", "3", "--warmup", "0",
                             "--blas-threads", "1"])
        report = json.loads(out.getvalue())
        loaded = sorted(m for m in ("rclpy", "onnxruntime", "torch", "fairmot_ros.bench.soak",
                                    "fairmot_ros.bench.pipeline") if m in sys.modules)
        print(json.dumps({"code": code, "blas": report["blas_threads"], "loaded": loaded}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert result["blas"] == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                              "MKL_NUM_THREADS": "1"}  # fmt: skip
    assert result["loaded"] == []


def test_pipeline_stages_on_synthetic_frames_with_the_shipped_model():
    code, out, err = run_cli(["pipeline", "--synthetic", "320x240", "--frames", "4",
                              "--warmup", "1", "--threads", "1", "--encoding", "rgb8"])  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    check_common_fields(report, "pipeline")
    assert report["provider"] == "CPUExecutionProvider" and report["n"] == 4
    assert report["model"]["arch"] and report["model"]["precision"] in ("fp32", "fp16")
    assert report["settings"]["image_size"] == "320x240"
    assert report["settings"]["encoding"] == "rgb8"
    assert list(report["stages"]) == ["conversion", "letterbox", "inference", "decode",
                                      "tracking"]  # fmt: skip
    for stats in report["stages"].values():
        assert stats["n"] == 4
    check_stats(report["total"], 4)
    stage_sum = sum(s["mean_ms"] for s in report["stages"].values())
    assert stage_sum <= report["total"]["mean_ms"] * 1.01 + 0.01
    assert report["without_inference"]["mean_ms"] < report["total"]["mean_ms"]
    assert report["fps"] == pytest.approx(1e3 / report["total"]["mean_ms"], rel=0.01)
    assert report["rss_mb"]["end"] > 0
    assert report["settings"]["reid_memory_s"] == 0.0 and report["reidentified"] == 0
    code, out, err = run_cli(["pipeline", "--synthetic", "320x240", "--frames", "2", "--warmup",
                              "0", "--threads", "1", "--reid-memory", "30"])  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["settings"]["reid_memory_s"] == 30.0


def test_soak_reports_memory_store_and_ids():
    code, out, err = run_cli(["soak", "--frames", "900", "--warmup", "300", "--samples", "3",
                              "--people", "8", "--stay", "60", "--dim", "16",
                              "--tracemalloc"])  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    check_common_fields(report, "soak")
    assert report["n"] == 900
    assert [s["frame"] for s in report["samples"]] == [300, 600, 900]
    assert report["people_passed"] > 50  # people really came and went
    end = report["store_end"]
    assert end["ids_issued"] >= report["people_passed"] * 0.5
    assert report["store_largest"]["tracked"] < 8 * 4  # bounded by who is in view, not by time
    assert end["removed_id_history"] <= end["tracked"] + end["lost"]
    rss = report["rss_mb"]
    assert 0 < rss["start"] <= rss["max"] and rss["end"] > 0
    assert report["rss_growth_after_warmup_mb"] == pytest.approx(
        rss["end"] - rss["after_warmup"], abs=0.01
    )
    assert report["within_limit"] is (report["rss_growth_after_warmup_mb"] < 20.0)
    traced = report["python_allocations"]
    assert 0 < traced["after_warmup_mb"] <= traced["peak_mb"]
    assert traced["end_mb"] <= traced["peak_mb"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["tracker", "--tracks", "0"], "must be positive"),
        (["soak", "--frames", "10", "--warmup", "10"], "--warmup"),
        (["pipeline", "--synthetic", "wide"], "WIDTHxHEIGHT"),
        (["pipeline", "--synthetic", "64x64", "--reid-memory", "-1"], "reid_memory_s"),
        (["pipeline", "--model", "/nonexistent/m.onnx", "--synthetic", "64x64", "--frames",
          "1"], "not found"),
        (["warp-drive"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, words):
    code, out, err = run_cli(argv)
    assert code == 2, err
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert words in err


def test_a_subcommand_whose_module_is_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(cli.SUBCOMMANDS, "absent", ("fairmot_ros.bench._no_such_module", "x"))
    code, out, err = run_cli(["absent", "--frames", "1"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "'absent' is not available" in err and "fairmot_ros.bench._no_such_module" in err


def test_every_subcommand_is_listed_and_bag_camera_motion_are_registered():
    code, out, _ = run_cli(["--help"])
    assert code == 0
    for name in ("tracker", "pipeline", "node", "multi", "soak", "engine", "gpu", "bag",
                 "camera-motion"):  # fmt: skip
        assert name in out
    assert cli.SUBCOMMANDS["bag"][0] == "fairmot_ros.bench.bag"
    assert cli.SUBCOMMANDS["camera-motion"][0] == "fairmot_ros.bench.camera_motion"
