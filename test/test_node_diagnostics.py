"""Counters and advice of the per-camera diagnostics (no DDS needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("diagnostic_msgs.msg")

from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402

from fairmot_ros.ros.diagnostics import (  # noqa: E402
    CameraStats,
    camera_status,
    missed_frames_advice,
)


def _period(received: int, missed: int, publishers=(b"a",)):
    stats = CameraStats()
    for k in range(received):
        stats.record_received(False, missed if k == 0 else 0, publishers[k % len(publishers)])
        stats.record_published(0.01, 0.01, 0.01)
    return stats.interval(10.0)


def test_most_frames_missed_before_the_node_names_the_cures() -> None:
    # The case seen: 768x576 bgr8 at 10 Hz best effort from another process, 2 Hz arriving.
    summary = _period(received=20, missed=80)
    advice = missed_frames_advice(summary, "/camera/image_raw", False, "best_effort")
    assert advice is not None
    assert "80 of 100 frames" in advice and "/camera/image_raw" in advice
    for cure in ("qos_reliability:=reliable", "compressed:=true", "LARGE_DATA"):
        assert cure in advice
    reliable = missed_frames_advice(summary, "/c", True, "reliable")
    assert "qos_reliability" not in reliable and "compressed:=true" not in reliable
    status = camera_status("cam0", "/camera/image_raw", summary, 0, True)
    assert status.level == DiagnosticStatus.WARN and "missed" in status.message


@pytest.mark.parametrize(("received", "missed"), [(100, 20), (5, 9), (0, 0)])
def test_a_few_missed_frames_give_no_advice(received: int, missed: int) -> None:
    assert missed_frames_advice(_period(received, missed), "/c", False, "best_effort") is None


def test_store_resets_caps_and_publishers_are_counted() -> None:
    stats = CameraStats()
    stats.record_received(False, 0, b"one")
    stats.record_received(False, 0, b"two")
    stats.record_store_reset("time_reversal")
    stats.record_store_reset("size_change")
    stats.record_store_reset("size_change")
    stats.record_capped(3)
    summary = stats.interval(1.0)
    assert (summary.total_time_reversals, summary.total_size_changes) == (1, 2)
    assert summary.total_capped == 3 and summary.publishers == 2
    values = {kv.key: kv.value for kv in camera_status("cam0", "/i", summary, 2, True).values}
    assert values["store emptied (image size changed)"] == "2"
    assert values["tracks removed by max_tracks"] == "3"
    assert camera_status("cam0", "/i", summary, 2, True).level == DiagnosticStatus.WARN
    assert stats.interval(1.0).publishers == 0  # counted per period
