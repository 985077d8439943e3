"""Hostile and unusual input against a live node over DDS: every bad frame is refused and
counted once under its own reason, the node keeps serving good frames, per-frame warnings are
throttled, and the tracklet store stays consistent (and bounded).

Cases: a stamp with nanosec >= 1e9, images too thin for the model input, a raw image declaring
more pixels than the limit, a resolution change mid-stream, two publishers with different
clocks on one topic, out-of-range and oversized parameters, the max_tracks cap; and on a node
with compressed input and use_sim_time without /clock: PNG and JPEG decompression bombs.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from fairmot_ros_msgs.msg import TrackArray  # noqa: E402
from node_support import (  # noqa: E402
    Bench,
    NodeProcess,
    box_for_cell,
    domain_id,
    dot_frame,
    dot_model,
    image_msg,
    jpeg_declaring,
    png_declaring,
    stamp_of,
)
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from fairmot_ros.image_bytes import byte_array  # noqa: E402

NODE = "/fairmot_tracker"
DOMAIN = domain_id(2)
_ticks = itertools.count()


def next_stamp() -> float:
    return 4000.0 + next(_ticks) / 30.0


class Live:
    """One node and the bench's view of it: outputs, tracks and the latest camera counters."""

    def __init__(self, node: NodeProcess, bench: Bench, msg_type=Image, topic="/image"):
        self.node, self.bench = node, bench
        node.wait_for_log("tracking with", timeout=90)
        self.outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
        self.tracks = bench.collect(TrackArray, f"{NODE}/tracks")
        self.diagnostics = bench.collect(DiagnosticArray, "/diagnostics")
        self.publisher = bench.publisher(msg_type, topic, reliable=True)
        bench.spin_until(lambda: self.publisher.get_subscription_count() > 0, 30, "subscription")

    def counts(self) -> dict[str, str]:
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name.endswith(": cam0"):
                    return {kv.key: kv.value for kv in status.values}
        return {}

    def reasons(self) -> dict[str, int]:
        text = self.counts().get("rejection reasons", "none")
        if text == "none":
            return {}
        return {k: int(v) for k, v in (item.split("=") for item in text.split(", "))}

    def wait_counts(self, predicate, what: str, timeout: float = 15.0) -> dict[str, str]:
        self.bench.spin_until(
            lambda: predicate(self.counts()), timeout, lambda: f"{what}: {self.counts()}"
        )
        return self.counts()

    def wait_reason(self, reason: str, count: int) -> None:
        self.bench.spin_until(
            lambda: self.reasons().get(reason, 0) >= count, 15,
            lambda: f"{count} x {reason}: {self.counts()}",
        )

    def send(self, msg, resend: bool = False) -> Detection2DArray:
        return self.bench.send_and_wait(
            self.publisher, msg, self.outputs, timeout=30, resend_every=1.0 if resend else None
        )

    def frame(self, cells, width=192, height=128, publisher=None) -> Detection2DArray:
        frame = dot_frame(cells, width, height)
        msg = image_msg(frame, next_stamp())
        return self.bench.send_and_wait(publisher or self.publisher, msg, self.outputs)

    def set(self, name: str, value):
        request = SetParameters.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg()]
        )
        (result,) = self.bench.call(SetParameters, f"{NODE}/set_parameters", request).results
        return result

    def reset(self) -> None:
        assert self.bench.call(Trigger, f"{NODE}/reset", Trigger.Request()).success


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    node = NodeProcess(dot_model(), DOMAIN, log_dir=tmp_path_factory.mktemp("hostile"))
    bench = Bench(DOMAIN)
    try:
        live = Live(node, bench)
        live.send(image_msg(dot_frame([(10, 10)]), next_stamp()), resend=True)
        yield live
    finally:
        bench.close()
        node.kill()


def raw(width: int, height: int, seconds: float | None = None, data: bytes | None = None):
    msg = Image(width=width, height=height, encoding="bgr8", step=width * 3)
    msg.header.stamp = stamp_of(next_stamp() if seconds is None else seconds)
    msg.data = byte_array(np.frombuffer(data, np.uint8) if data is not None else
                          np.full(width * height * 3, 128, np.uint8))
    return msg


def test_a_stamp_with_nanosec_over_1e9_is_refused_and_leaves_the_store_alone(live) -> None:
    live.reset()
    assert [d.id for d in live.frame([(10, 10)]).detections] == ["1"]
    before = live.counts()
    bad = image_msg(dot_frame([(10, 10)]), next_stamp())
    bad.header.stamp = Time(sec=bad.header.stamp.sec, nanosec=1_999_999_999)
    live.publisher.publish(bad)
    live.wait_reason("invalid_stamp", 1)
    out = live.frame([(11, 10)])
    # Not taken as a jump 2 s ahead and back: the same track goes on.
    assert [d.id for d in out.detections] == ["1"]
    assert all(o.header.stamp != bad.header.stamp for o in live.outputs)
    key = "store emptied (stamps went back)"
    assert int(live.counts().get(key, 0)) == int(before.get(key, 0))


@pytest.mark.parametrize(("width", "height"), [(1, 4000), (4000, 1)])
def test_images_too_thin_for_the_model_input_are_refused_by_name(live, width, height) -> None:
    seen = live.reasons().get("too_thin", 0)
    live.publisher.publish(raw(width, height))
    live.wait_reason("too_thin", seen + 1)
    assert "processing_error" not in live.reasons()
    assert len(live.frame([(10, 10)]).detections) == 1  # still tracking
    assert "Traceback" not in live.node.output() and "[ERROR]" not in live.node.output()


def test_oversized_strings_in_a_message_are_refused_or_cut(live) -> None:
    """A long frame_id would be copied into every output; a long encoding would be quoted in
    the log and in every diagnostics message."""
    seen = live.reasons()
    long_frame = image_msg(dot_frame([(10, 10)]), next_stamp(), frame_id="f" * 20_000)
    live.publisher.publish(long_frame)
    live.wait_reason("bad_frame_id", seen.get("bad_frame_id", 0) + 1)
    odd = image_msg(dot_frame([(10, 10)]), next_stamp())
    odd.encoding = "x" * 20_000
    live.publisher.publish(odd)
    live.wait_reason("unsupported_encoding", seen.get("unsupported_encoding", 0) + 1)
    assert len(live.counts()["last rejection"]) < 1000
    assert len(live.frame([(10, 10)]).detections) == 1


def test_a_raw_image_over_the_pixel_limit_is_refused_before_conversion(live) -> None:
    seen = live.reasons().get("image_too_large", 0)
    msg = raw(30000, 30000, data=b"\x80" * 3000)  # declares 900 MP, carries 3 kB
    live.publisher.publish(msg)
    live.wait_reason("image_too_large", seen + 1)
    assert len(live.frame([(10, 10)]).detections) == 1


def test_a_resolution_change_empties_the_store_once_per_change(live) -> None:
    live.reset()
    live.frame([(10, 10)])
    assert [d.id for d in live.frame([(10, 10)]).detections] == ["1"]
    key = "store emptied (image size changed)"
    before = int(live.counts().get(key, 0))
    big = cv2.resize(dot_frame([(10, 10)]), (384, 256), interpolation=cv2.INTER_NEAREST)
    out = live.send(image_msg(big, next_stamp()))
    # Tracks of the small size are gone; the object is a new track at the new scale, reported
    # at once like on a first frame (without the reset it would stay tentative, unreported).
    (detection,) = out.detections
    cx, cy, w, h = box_for_cell(10, 10)
    assert detection.id == "1"
    assert (detection.bbox.center.position.x, detection.bbox.size_y) == pytest.approx(
        (2 * cx, 2 * h), abs=1.0
    )
    assert len(live.send(image_msg(big, next_stamp())).detections) == 1  # same size: kept
    live.frame([(10, 10)])  # and back
    live.wait_counts(lambda c: int(c.get(key, 0)) >= before + 2, "two size changes")
    assert int(live.counts()[key]) == before + 2
    assert live.node.output().count("image size changed from 192x128 to 384x256") == 1


def test_two_publishers_with_different_clocks_are_named_once(live) -> None:
    live.reset()
    second = live.bench.publisher(Image, "/image", reliable=True)
    live.bench.spin_until(lambda: second.get_subscription_count() > 0, 30, "second publisher")
    key = "store emptied (stamps went back)"
    before = int(live.counts().get(key, 0))
    for k in range(6):  # a live camera at ~4000 s and a bag at ~100 s, interleaved
        live.frame([(10, 10)])
        live.bench.send_and_wait(
            second, image_msg(dot_frame([(10, 10)]), 100.0 + k / 30.0), live.outputs
        )
    # Every switch from the live stamps to the bag's is a jump back: six of them.
    counts = live.wait_counts(lambda c: int(c.get(key, 0)) >= before + 6, "reversals")
    assert int(counts[key]) == before + 6
    log = live.node.output()
    assert log.count("several publishers with different clocks") == 1
    assert log.count("went back in time") <= 2  # throttled: five more reversals, few lines
    seen = [
        kv.value for array in live.diagnostics for status in array.status
        for kv in status.values if kv.key == "publishers seen"
    ]
    assert "2" in seen
    live.bench.node.destroy_publisher(second)


def test_out_of_range_and_oversized_parameters_are_refused(live) -> None:
    live.reset()
    result = live.set("tracker.frame_rate", 1e-300)
    assert not result.successful and "frame_rate" in result.reason
    result = live.set("class_id", "x" * 1_000_000)
    assert not result.successful and "at most 256" in result.reason
    result = live.set("tracker.max_tracks", 0)
    assert not result.successful
    result = live.set("max_image_pixels", 0)
    assert not result.successful
    out = live.frame([(10, 10)])
    assert out.detections[0].results[0].hypothesis.class_id == "person"


def test_max_tracks_caps_the_store_and_counts_the_removed(live) -> None:
    live.reset()
    assert live.set("tracker.max_tracks", 2).successful
    try:
        key = "tracks removed by max_tracks"
        before = int(live.counts().get(key, 0))
        # Dots jumping to new places: each frame makes new tracks and leaves the old lost.
        spots = [[(8, 8), (40, 8)], [(8, 24), (40, 24)], [(24, 16), (16, 24)]]
        for cells in spots:
            msg = image_msg(dot_frame(cells), next_stamp())
            live.bench.send_and_wait(live.publisher, msg, live.outputs)
            stamp = msg.header.stamp
            live.bench.spin_until(
                lambda s=stamp: any(t.header.stamp == s for t in live.tracks), 10
            )
            store = next(t for t in reversed(live.tracks) if t.header.stamp == stamp)
            assert len(store.tracks) <= 2
        live.wait_counts(lambda c: int(c.get(key, 0)) > before, "capped tracks")
    finally:
        assert live.set("tracker.max_tracks", 1000).successful


def _peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_decompression_bombs_are_refused_before_decoding_and_sim_time_without_clock_warns(
    tmp_path,
) -> None:
    # Another domain: the module's node (same name, same /diagnostics) is still running.
    domain = domain_id(3)
    node = NodeProcess(
        dot_model(), domain, params=["compressed:=true", "use_sim_time:=true"], log_dir=tmp_path
    )
    bench = Bench(domain, name="bomb_bench")
    try:
        live = Live(node, bench, CompressedImage, "/image/compressed")
        good = CompressedImage(format="png")
        good.header.stamp = stamp_of(next_stamp())
        good.data = byte_array(cv2.imencode(".png", dot_frame([(10, 10)]))[1])
        assert len(live.send(good, resend=True).detections) == 1
        bombs = [
            ("png", png_declaring(30000, 30000, b"\x00" * (1 << 20))),
            ("jpeg", jpeg_declaring(30000, 30000)),
        ]
        assert all(len(data) < 5000 for _, data in bombs)
        for k, (fmt, data) in enumerate(bombs):
            msg = CompressedImage(format=fmt)
            msg.header.stamp = stamp_of(next_stamp())
            msg.data = byte_array(np.frombuffer(data, np.uint8))
            live.publisher.publish(msg)
            live.wait_reason("image_too_large", k + 1)
        assert live.reasons() == {"image_too_large": 2}
        good.header.stamp = stamp_of(next_stamp())
        assert len(live.send(good).detections) == 1
        # 30000 x 30000 x 3 bytes would be 2.7 GB: nothing near that was ever allocated.
        assert _peak_rss_mb(node.process.pid) < 1500
        # Steady-time diagnostics go on without /clock, and the node says why time stands.
        node.wait_for_log("no /clock message has arrived", timeout=15)
        n = len(live.diagnostics)
        bench.spin_until(lambda: len(live.diagnostics) > n, 10, "diagnostics without /clock")
        assert "Traceback" not in node.output()
    finally:
        bench.close()
        node.kill()
