"""``fairmot-bench node`` and ``multi`` over real DDS, on the network-free model (small input,
few frames): the reports count every frame, and the node's own counters agree with them."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

pytest.importorskip("rclpy", reason="rclpy is not importable: run through scripts/ros-env")

from node_support import domain_id  # noqa: E402

from fairmot_ros.bench import cli  # noqa: E402


def run_cli(argv: list[str]) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, json.loads(out.getvalue()) if code == 0 else None, err.getvalue()


def test_node_flat_out_round_trips_every_frame():
    code, report, err = run_cli(["node", "--null-model", "--null-input", "192x128", "--size",
                                 "320x240", "--frames", "15", "--warmup", "2", "--threads", "1",
                                 "--domain", str(domain_id(0))])  # fmt: skip
    assert code == 0, err
    assert report["benchmark"] == "node" and report["provider"] == "CPUExecutionProvider"
    assert report["model"]["kind"].startswith("null") and report["model"]["input"] == "192x128"
    assert report["settings"]["qos"] == "reliable" and report["settings"]["size"] == "320x240"
    # Lock-step on a reliable link: every timed frame is answered, none dropped.
    assert report["n"] == 15 and report["drops"] == 0
    trip = report["round_trip"]
    assert trip["n"] == 15 and 0 < trip["min_ms"] <= trip["p50_ms"] <= trip["p99_ms"]
    assert report["fps"] > 0 and report["node_rss_mb_end"] > 0
    totals = report["camera"]["node_totals"]
    # The node saw the timed frames plus the warm-up ones, and published each of them.
    assert totals["published"] >= 15 + 2 and totals["rejected"] == 0
    assert totals["received"] == totals["published"] + totals["dropped_busy"]
    assert report["node_processing_ms_mean"] > 0


def test_multi_counts_frames_per_camera_at_a_rate():
    code, report, err = run_cli(["multi", "--null-model", "--null-input", "192x128",
                                 "--cameras", "2", "--rate", "5", "--seconds", "2", "--size",
                                 "192x128", "--warmup", "1", "--threads", "1",
                                 "--domain", str(domain_id(1))])  # fmt: skip
    assert code == 0, err
    result = report["results"]["2"]
    assert len(result["cameras"]) == 2 and result["sent"] == 2 * 10
    assert result["drops"] == result["sent"] - result["answered"]
    assert result["answered"] > 0 and result["output_fps_total"] > 0
    for camera in result["cameras"]:
        assert camera["sent"] == 10 and camera["name"] in ("cam0", "cam1")
        assert camera["node_totals"]["published"] >= camera["answered"]


def test_node_with_a_missing_model_is_one_line():
    code, _, err = run_cli(["node", "--model", "/nonexistent/m.onnx", "--frames", "1"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not found" in err


def test_node_large_data_run_names_its_transport_and_heads(monkeypatch):
    # monkeypatch restores the variable that --large-data sets for this process and its children
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT")
    code, report, err = run_cli(["node", "--null-model", "--null-input", "192x128", "--size",
                                 "320x240", "--frames", "5", "--warmup", "1", "--threads", "1",
                                 "--large-data", "--domain", str(domain_id(2))])  # fmt: skip
    assert code == 0, err
    assert report["settings"]["fastdds_builtin_transports"] == "LARGE_DATA"
    assert report["n"] == 5 and report["drops"] == 0
    # the null model has no convolution heads: it runs dense and says why
    assert report["settings"]["heads"] == "peaks" and report["model"]["heads"] == "dense"
    assert "Conv" in report["model"]["dense_heads_reason"]


def test_session_spin_until_wakes_for_a_time_based_predicate():
    """The harness's publishers wait in the executor for up to 0.1 s between messages; a
    frame due earlier still goes out on time through ``wake_at``."""
    import time

    from fairmot_ros.replay.session import RosSession

    session = RosSession(domain_id(3), "fairmot_bench_wake_test")
    try:
        due = time.perf_counter() + 0.3
        assert session.spin_until(lambda: time.perf_counter() >= due, 5.0, wake_at=due, poll=2.0)
        assert time.perf_counter() - due < 1.0  # a 2 s wait in the executor would overshoot
        assert not session.spin_until(lambda: False, 0.2, poll=2.0)  # the timeout still holds
    finally:
        session.close()
