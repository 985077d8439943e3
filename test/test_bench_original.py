"""``python -m fairmot_ros.bench.original``: the original FairMOT code timed against the package.

Without the original source: argument and source errors (one line, exit 2), the cython_bbox
stand-in against a pair-by-pair IoU with the +1 pixel convention, the detection agreement and
the ratios. With ``FAIRMOT_ORIGINAL_SRC`` pointing at a FairMOT checkout (src/lib at 4aa6297):
a few frames of the real tool. No speed goal is asserted.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fairmot_ros.bench import original


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """The tool's exit status (argparse's too), stdout and stderr."""
    streams = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
        try:
            status = original.main(argv)
        except SystemExit as exc:
            status = exc.code
    return status, *(stream.getvalue() for stream in streams)


@pytest.fixture
def fake_source(tmp_path: Path) -> Path:
    """A folder shaped like a FairMOT checkout (nothing importable in it)."""
    tracker = tmp_path / "FairMOT" / "src" / "lib" / "tracker"
    tracker.mkdir(parents=True)
    (tracker / "multitracker.py").write_text("", encoding="utf-8")
    return tmp_path / "FairMOT"


@pytest.mark.parametrize("bad", [["--frames", "0"], ["--rounds", "0"], ["--warmup", "-1"],
                                 ["--threads", "-1"], ["--agree-frames", "0"]])  # fmt: skip
def test_bad_numbers_are_one_line_and_exit_2(bad: list[str], fake_source: Path) -> None:
    code, out, err = run_main(["--original-src", str(fake_source), "--blas-threads", "0", *bad])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "must be" in err


def test_usage_errors_exit_2() -> None:
    code, _, err = run_main([])  # --original-src is required
    assert code == 2 and "--original-src" in err and err.count("\n") == 1
    code, _, err = run_main(["--original-src", "x", "--frames", "many"])
    assert code == 2 and "--frames" in err


def test_missing_source_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = run_main(["--original-src", str(tmp_path), "--blas-threads", "0"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "src/lib/tracker/multitracker.py" in err and str(tmp_path) in err


def test_source_is_a_checkout_or_its_src_lib(fake_source: Path) -> None:
    lib = (fake_source / "src" / "lib").resolve()
    assert original.original_lib(fake_source) == lib
    assert original.original_lib(lib) == lib
    # Not a git checkout and no --original-commit: no commit is claimed.
    assert original.source_commit(lib, None) is None
    assert original.source_commit(lib, "4aa6297") == "4aa6297"


def git(*words: str, cwd: Path) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *words], cwd=cwd,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def test_commit_of_a_git_checkout_only(fake_source: Path, tmp_path: Path) -> None:
    git("init", "-q", cwd=fake_source)
    git("add", ".", cwd=fake_source)
    git("commit", "-q", "-m", "original", cwd=fake_source)
    lib = original.original_lib(fake_source)
    assert original.source_commit(lib, None) == git("rev-parse", "HEAD", cwd=fake_source)
    # A src/lib that merely sits somewhere inside another repository is not its commit.
    nested = tmp_path / "FairMOT" / "vendor" / "FairMOT" / "src" / "lib" / "tracker"
    nested.mkdir(parents=True)
    (nested / "multitracker.py").write_text("", encoding="utf-8")
    assert original.source_commit(original.original_lib(nested.parents[2]), None) is None


def test_missing_torch_is_one_line_and_exit_2(fake_source: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    code, out, err = run_main(["--original-src", str(fake_source), "--blas-threads", "0"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "torch is not installed" in err


def iou_pair_by_pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cython_bbox.bbox_overlaps written out as its loops are."""
    out = np.zeros((len(a), len(b)))
    for k, q in enumerate(b):
        q_area = (q[2] - q[0] + 1) * (q[3] - q[1] + 1)
        for n, p in enumerate(a):
            iw = min(p[2], q[2]) - max(p[0], q[0]) + 1
            if iw > 0:
                ih = min(p[3], q[3]) - max(p[1], q[1]) + 1
                if ih > 0:
                    union = (p[2] - p[0] + 1) * (p[3] - p[1] + 1) + q_area - iw * ih
                    out[n, k] = iw * ih / union
    return out


def test_iou_stand_in_matches_the_plus_one_convention() -> None:
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 200, size=(40, 2))
    a = np.concatenate([corners, corners + rng.uniform(1, 80, size=(40, 2))], axis=1)
    b = np.concatenate([a[:15] + rng.normal(0, 5, size=(15, 4)), a[30:] + 300.0])
    got = original.bbox_overlaps(a, b)
    assert got.shape == (40, 25) and got.dtype == np.float64
    np.testing.assert_allclose(got, iou_pair_by_pair(a, b), rtol=0, atol=1e-12)
    assert (got[:, 15:] == 0).all()  # far apart
    # Inclusive pixels: 10x10 boxes sharing 5 columns overlap 50 / 150; touching edges share
    # one pixel column (without the +1 they would not overlap at all).
    square = np.array([[0, 0, 9, 9]])
    assert original.bbox_overlaps(square, [[5, 0, 14, 9]])[0, 0] == pytest.approx(1 / 3)
    assert original.bbox_overlaps(square, [[9, 0, 18, 9]])[0, 0] == pytest.approx(10 / 190)
    assert original.bbox_overlaps(square, [[10, 0, 19, 9]])[0, 0] == 0
    assert original.bbox_overlaps(np.zeros((0, 4)), square).shape == (0, 1)


def detections(*rows: tuple[float, ...]) -> np.ndarray:
    return np.array(rows, np.float32).reshape(-1, 5)


def test_detections_agree_within_tolerance_and_borderline_flips() -> None:
    ours = [detections((10, 10, 50, 120, 0.8), (200, 20, 240, 130, 0.55)), detections()]
    same = [d.copy() for d in ours]
    same[0][:, 4] += 4e-4
    same[0][:, :4] += 0.2
    report = original.compare_detections(ours, same, 0.4, 1e-3, 0.5)
    assert report["agree"] and report["matched"] == 2 and report["unmatched"] == []
    assert report["max_score_diff"] == pytest.approx(4e-4, abs=1e-6)
    assert report["max_box_diff_px"] == pytest.approx(0.2, abs=1e-4)

    # One more detection on one side, just above the threshold: a borderline flip, still agreed.
    flip = [np.concatenate([same[0], detections((400, 0, 430, 90, 0.4006))]), same[1]]
    report = original.compare_detections(ours, flip, 0.4, 1e-3, 0.5)
    assert report["agree"] and report["borderline_unmatched"] == 1

    # A confident detection only one side finds, a score or a box off by more than allowed.
    extra = [same[0], detections((300, 300, 340, 400, 0.9))]
    report = original.compare_detections(ours, extra, 0.4, 1e-3, 0.5)
    assert not report["agree"]
    assert report["unmatched"] == [{"frame": 1, "side": "package", "score": 0.9}]
    shifted = [same[0] + np.array([0, 0, 0, 0, 0.01], np.float32), same[1]]
    assert not original.compare_detections(ours, shifted, 0.4, 1e-3, 0.5)["agree"]
    moved = [same[0] + np.array([2, 0, 2, 0, 0], np.float32), same[1]]
    assert not original.compare_detections(ours, moved, 0.4, 1e-3, 0.5)["agree"]


def stats(p50: float, mean: float) -> dict:
    return {"total": {"p50_ms": p50, "mean_ms": mean}}


def test_ratios_per_round_and_summary() -> None:
    assert original.ratio(90.0, 30.0) == 3.0
    assert original.ratio(81.7, 36.1) == 2.263
    assert original.ratio(80.0, 0.0) is None
    rounds = []
    for theirs, ours in ((90.0, 30.0), (80.0, 40.0), (100.0, 25.0)):
        package = {"a.onnx": stats(ours, ours + 2), "b.onnx": stats(2 * ours, 2 * ours)}
        ratios = original.round_ratios(stats(theirs, theirs + 10), package)
        rounds.append({"ratio": ratios})
    assert rounds[0]["ratio"]["a.onnx"] == {"p50": 3.0, "mean": round(100 / 32, 3)}
    assert rounds[1]["ratio"]["b.onnx"]["p50"] == 1.0
    summary = original.summary(rounds)
    assert summary["a.onnx"]["ratio_p50"] == [3.0, 2.0, 4.0]
    assert summary["a.onnx"]["median_ratio_p50"] == 3.0
    assert (summary["a.onnx"]["min_ratio_p50"], summary["a.onnx"]["max_ratio_p50"]) == (2.0, 4.0)
    assert summary["a.onnx"]["median_meets_target"] and summary["a.onnx"]["target"] == 3.0
    assert summary["b.onnx"]["median_ratio_p50"] == 1.5
    assert not summary["b.onnx"]["median_meets_target"]
    assert original.summary([]) == {}


def test_numpy_aliases_only_while_the_original_runs() -> None:
    had = "float" in vars(np)
    with original.numpy_aliases():
        assert np.float is float and np.int is int
    assert ("float" in vars(np)) == had


def test_stubs_fail_loudly_when_called() -> None:
    stubs = original._stubs()
    if "dcn_v2" not in stubs:
        pytest.skip("DCNv2 is installed here")
    dcn = stubs["dcn_v2"].DCN  # importable as a name ...
    with pytest.raises(RuntimeError, match="dcn_v2.DCN is a stub"):
        dcn(64, 64, kernel_size=3)  # ... but never usable
    with pytest.raises(AttributeError):
        stubs["dcn_v2"].__file__  # noqa: B018 (introspection sees a plain module)
    if "yacs.config" in stubs:
        node = stubs["yacs.config"].CfgNode()
        node.MODEL = stubs["yacs.config"].CfgNode(new_allowed=True)
        node.MODEL.NAME = "pose_hrnet"
        assert node["MODEL"]["NAME"] == "pose_hrnet"


SOURCE = os.environ.get("FAIRMOT_ORIGINAL_SRC")


@pytest.mark.slow
@pytest.mark.skipif(not SOURCE, reason="FAIRMOT_ORIGINAL_SRC does not name a FairMOT checkout")
def test_real_run_on_a_few_frames(tmp_path: Path) -> None:
    """In a child process: the original's top-level modules (``models``, ``utils``, ...) and
    torch's thread setting stay out of the test session."""
    pytest.importorskip("torch")
    path = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "fairmot_ros.bench.original", "--original-src",
                           SOURCE, "--frames", "3", "--warmup", "1", "--rounds", "1",
                           "--json", str(path)], capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert json.loads(path.read_text(encoding="utf-8")) == report
    assert report["benchmark"] == "original" and report["timed"]
    assert report["original"]["input"] == "384x288" and report["original"]["K"] == 500
    assert report["original"]["conf_thres"] == 0.4 and report["original"]["frame_rate"] == 10
    names = ["fairmot_yolov5s_pets_384x288_int8.onnx", "fairmot_yolov5s_pets_384x288.onnx"]
    assert list(report["agreement"]) == names
    for name in names:  # the same people found on the first frames by both sides
        agreed = report["agreement"][name]
        assert agreed["agree"] and agreed["frames"] == 4
        assert agreed["matched"] == agreed["original_detections"] > 0
    assert report["agreement"][names[1]]["max_score_diff"] < 1e-3  # same float weights
    (run,) = report["rounds"]
    theirs = run["original"]
    assert theirs["total"]["n"] == 3 and theirs["network"]["p50_ms"] > 0
    assert theirs["network"]["p50_ms"] < theirs["total"]["p50_ms"]
    for name in names:
        ours = run["package"][name]
        assert ours["total"]["n"] == 3 and 0 < ours["inference"]["p50_ms"] < ours["total"]["p50_ms"]
        expected = round(theirs["total"]["p50_ms"] / ours["total"]["p50_ms"], 3)
        assert run["ratio"][name]["p50"] == expected
        assert report["summary"][name]["ratio_p50"] == [expected]
    assert report["versions"]["torch"] and report["versions"]["onnxruntime"]
    assert report["machine"]["cpus"] >= 1 and len(report["load_average_end"]) == 3
