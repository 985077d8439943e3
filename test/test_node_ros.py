"""The tracker node over real DDS: started through its console script with config/tracker.yaml,
fed synthetic frames, observed through its topics, services and parameters.

The model is the dot detector of ``node_support`` (real network, real export, predictable
output): a white dot centred on stride-4 cell (col, row) yields one 24 x 48 px box there.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from fairmot_ros_msgs.msg import Track, TrackArray  # noqa: E402
from node_support import (  # noqa: E402
    Bench,
    NodeProcess,
    box_for_cell,
    domain_id,
    dot_frame,
    dot_model,
    image_msg,
)
from rcl_interfaces.msg import ParameterType  # noqa: E402
from rcl_interfaces.srv import GetParameters, ListParameters, SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from fairmot_ros.visualize import colour_for_id  # noqa: E402

NODE = "/fairmot_tracker"
FRAME_DT = 1.0 / 30.0
_ticks = itertools.count()


def next_stamp() -> float:
    """Stamps keep increasing across the module (1/30 s apart, like a 30 fps camera)."""
    return 1000.0 + next(_ticks) * FRAME_DT


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    domain = domain_id(0)
    node = NodeProcess(dot_model(), domain, log_dir=tmp_path_factory.mktemp("node_log"))
    bench = Bench(domain)
    try:
        node.wait_for_log("tracking with", timeout=90)
        outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
        tracks = bench.collect(TrackArray, f"{NODE}/tracks")
        publisher = bench.publisher(Image, "/image")
        bench.spin_until(lambda: publisher.get_subscription_count() > 0, 30, "node subscription")
        first = image_msg(dot_frame([(10, 10)]), next_stamp())
        bench.send_and_wait(publisher, first, outputs, timeout=30, resend_every=1.0)
        yield node, bench, publisher, outputs, tracks
    finally:
        bench.close()
        node.kill()


def reset(bench: Bench) -> Trigger.Response:
    reply = bench.call(Trigger, f"{NODE}/reset", Trigger.Request())
    assert reply.success, reply.message
    return reply


def run_frames(bench, publisher, outputs, cell_lists, frame_id="camera", encoding="bgr8"):
    """Send one frame per entry of ``cell_lists`` in lockstep; return (inputs, outputs)."""
    sent, got = [], []
    for cells in cell_lists:
        msg = image_msg(dot_frame(cells), next_stamp(), frame_id, encoding)
        sent.append(msg)
        got.append(bench.send_and_wait(publisher, msg, outputs))
    return sent, got


def stamped(bench: Bench, messages: list, stamp):
    """The message of ``messages`` with this header stamp, waiting for it to arrive."""

    def find():
        return next((m for m in reversed(messages) if m.header.stamp == stamp), None)

    bench.spin_until(lambda: find() is not None, 10, f"message stamped {stamp}")
    return find()


def set_parameter(bench: Bench, name: str, value):
    """Set one parameter through the node's SetParameters service; returns the result."""
    request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    (result,) = bench.call(SetParameters, f"{NODE}/set_parameters", request).results
    return result


def centre(detection) -> tuple[float, float, float, float]:
    box = detection.bbox
    return box.center.position.x, box.center.position.y, box.size_x, box.size_y


def test_outputs_carry_the_input_header_and_the_model_boxes(setup) -> None:
    _, bench, publisher, outputs, tracks = setup
    reset(bench)
    sent, got = run_frames(bench, publisher, outputs, [[(12, 9), (36, 20)]], frame_id="cam_opt")
    (msg,), (out,) = sent, got
    assert out.header.stamp == msg.header.stamp and out.header.frame_id == "cam_opt"
    assert len(out.detections) == 2
    expected = {box_for_cell(12, 9), box_for_cell(36, 20)}
    assert {centre(d) for d in out.detections} == expected  # first frame: boxes = detections
    for detection in out.detections:
        assert detection.header == msg.header
        (hypothesis,) = detection.results
        assert hypothesis.hypothesis.class_id == "person"
        assert hypothesis.hypothesis.score == pytest.approx(0.924, abs=0.01)
    assert sorted(d.id for d in out.detections) == ["1", "2"]
    store = stamped(bench, tracks, msg.header.stamp)
    assert store.header == msg.header
    assert sorted(t.id for t in store.tracks) == ["1", "2"]
    assert all(t.state == Track.STATE_TRACKED and len(t.embedding) == 0 for t in store.tracks)


def test_ids_persist_while_objects_move(setup) -> None:
    _, bench, publisher, outputs, _ = setup
    reset(bench)
    path = [[(8 + step, 10), (40 - step, 22)] for step in range(12)]
    sent, got = run_frames(bench, publisher, outputs, path, encoding="rgb8")
    ids_by_side = {"left": set(), "right": set()}
    for cells, out in zip(path, got, strict=True):
        assert len(out.detections) == 2
        for detection in out.detections:
            x, y, _, _ = centre(detection)
            side = "left" if y < 64 else "right"
            expected = box_for_cell(*cells[0 if side == "left" else 1])
            assert abs(x - expected[0]) < 6 and abs(y - expected[1]) < 6
            ids_by_side[side].add(detection.id)
    assert ids_by_side == {"left": {"1"}, "right": {"2"}}


def test_reset_clears_the_tracklet_store_and_restarts_ids(setup) -> None:
    _, bench, publisher, outputs, tracks = setup
    reset(bench)
    # A dot that jumps far away is a new object: its track is born, confirmed on the next
    # frame and gets id 2, while id 1 is lost.
    sent, got = run_frames(bench, publisher, outputs, [[(10, 10)], [(40, 24)], [(40, 24)]])
    assert [d.id for d in got[-1].detections] == ["2"]
    store = stamped(bench, tracks, sent[-1].header.stamp)
    lost = [t for t in store.tracks if t.state == Track.STATE_LOST]
    assert [t.id for t in lost] == ["1"]
    reply = reset(bench)
    assert "cam0: 2" in reply.message
    sent, got = run_frames(bench, publisher, outputs, [[(40, 24)]])
    assert [d.id for d in got[0].detections] == ["1"]  # without the reset it would be 3
    assert [t.id for t in stamped(bench, tracks, sent[0].header.stamp).tracks] == ["1"]


def test_stamps_going_back_restart_the_tracker(setup) -> None:
    node, bench, publisher, outputs, tracks = setup
    reset(bench)
    _, got = run_frames(bench, publisher, outputs, [[(10, 10)], [(40, 24)], [(40, 24)]])
    assert [d.id for d in got[-1].detections] == ["2"]
    replay = image_msg(dot_frame([(40, 24)]), 500.0)  # a bag started over
    out = bench.send_and_wait(publisher, replay, outputs)
    # The store is emptied (lost track 1 and track 2 are gone); the object gets a fresh id,
    # confirmed at once like on a first frame, and ids are not reused.
    assert out.header == replay.header and [d.id for d in out.detections] == ["3"]
    assert [t.id for t in stamped(bench, tracks, replay.header.stamp).tracks] == ["3"]
    node.wait_for_log("went back in time", timeout=10)


def test_parameters_are_validated_and_changes_take_effect(setup) -> None:
    _, bench, publisher, outputs, _ = setup
    reset(bench)

    rejected = set_parameter(bench, "tracker.conf_thres", 1.5)
    assert not rejected.successful and "range" in rejected.reason
    rejected = set_parameter(bench, "model", "/elsewhere.onnx")
    assert not rejected.successful and "read-only" in rejected.reason
    # Cross-field rule of TrackerConfig: the BYTE threshold must stay below conf_thres.
    assert set_parameter(bench, "tracker.byte_low_thres", 0.5).successful
    rejected = set_parameter(bench, "tracker.byte_enabled", True)
    assert not rejected.successful and "byte_low_thres 0.5 must be below conf_thres" in (
        rejected.reason
    )
    assert set_parameter(bench, "tracker.byte_low_thres", 0.1).successful
    # Parameters the node does not own are left to ROS (use_sim_time is declared by rclpy).
    assert set_parameter(bench, "use_sim_time", False).successful

    assert set_parameter(bench, "class_id", "pedestrian").successful
    _, got = run_frames(bench, publisher, outputs, [[(10, 10)]])
    assert got[0].detections[0].results[0].hypothesis.class_id == "pedestrian"
    # A new frame rate changes what stored frame positions mean: the store starts over.
    _, got = run_frames(bench, publisher, outputs, [[(10, 10)], [(40, 24)], [(40, 24)]])
    assert [d.id for d in got[-1].detections] == ["2"]
    assert set_parameter(bench, "tracker.frame_rate", 15.0).successful
    _, got = run_frames(bench, publisher, outputs, [[(40, 24)]])
    assert [d.id for d in got[0].detections] == ["1"]
    assert set_parameter(bench, "tracker.frame_rate", 30.0).successful
    # The dot scores 0.924: above this threshold the detector reports nothing.
    assert set_parameter(bench, "tracker.conf_thres", 0.95).successful
    _, got = run_frames(bench, publisher, outputs, [[(10, 10)]])
    assert len(got[0].detections) == 0
    assert set_parameter(bench, "tracker.conf_thres", 0.4).successful
    assert set_parameter(bench, "class_id", "person").successful


def test_output_filter_follows_the_tracker_parameters(setup) -> None:
    _, bench, publisher, outputs, tracks = setup
    reset(bench)

    # The dot boxes are 24 x 48 = 1152 px^2: a larger minimum area hides them from the
    # detections while the tracklet store still holds the track.
    assert set_parameter(bench, "tracker.min_box_area", 2000.0).successful
    sent, got = run_frames(bench, publisher, outputs, [[(10, 10)]])
    assert len(got[0].detections) == 0
    assert len(stamped(bench, tracks, sent[0].header.stamp).tracks) == 1
    assert set_parameter(bench, "tracker.min_box_area", 100.0).successful
    _, got = run_frames(bench, publisher, outputs, [[(10, 10)]])
    assert [d.id for d in got[0].detections] == ["1"]


def test_debug_image_is_annotated_with_the_id_colour(setup) -> None:
    _, bench, publisher, outputs, _ = setup
    reset(bench)
    debug = bench.collect(Image, f"{NODE}/debug_image")
    # The node draws only once it has seen the subscription: send frames until one comes back.
    image = None
    for _ in range(40):
        sent, _ = run_frames(bench, publisher, outputs, [[(10, 10)]])
        stamp = sent[0].header.stamp
        bench.spin_for(0.1)
        image = next((m for m in debug if m.header.stamp == stamp), None)
        if image is not None:
            break
    assert image is not None, "no debug image while subscribed"
    assert image.header == sent[0].header
    assert (image.encoding, image.width, image.height) == ("bgr8", 192, 128)
    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(128, 192, 3)
    # Left edge of the box (x = 28) below the label, in the colour of id 1.
    assert tuple(pixels[50, 28]) == colour_for_id("1")
    assert (pixels[40, 40] == 255).all()  # the dot itself is left as it was


def test_bad_images_are_counted_and_dropped_frames_accounted(setup) -> None:
    _, bench, publisher, outputs, _ = setup
    diagnostics = bench.collect(DiagnosticArray, "/diagnostics")

    def camera_counts():
        for array in reversed(diagnostics):
            for status in array.status:
                if status.name.endswith(": cam0"):
                    return {kv.key: kv.value for kv in status.values}
        return {}

    def count(key):
        return int(camera_counts().get(key, -1))

    bad = image_msg(dot_frame([(10, 10)]), next_stamp())
    bad.encoding = "32FC1"
    publisher.publish(bad)
    bench.spin_until(lambda: count("frames rejected (undecodable)") >= 1, 10, "a rejection")
    assert "unsupported_encoding" in camera_counts()["rejection reasons"]
    # A burst faster than the node can process: frames are replaced in its mailbox (dropped)
    # or overwritten in the depth-1 DDS queue before the callback (missed); both are counted.
    for _ in range(15):
        publisher.publish(image_msg(dot_frame([(10, 10)]), next_stamp()))
    _, got = run_frames(bench, publisher, outputs, [[(10, 10)]])
    assert len(got[0].detections) == 1  # the node is still tracking
    dropped = "frames dropped (replaced while busy)"
    missed = "frames missed before the node (sequence gaps)"
    bench.spin_until(lambda: count(dropped) + count(missed) >= 1, 10,
                     lambda: f"drops {camera_counts()}")
    before = len(diagnostics)
    bench.spin_until(lambda: len(diagnostics) > before, 10, "a settled diagnostics message")
    # Every frame that reached the node is accounted for exactly once.
    assert count("frames received") == (
        count("frames published") + count(dropped) + count("frames rejected (undecodable)")
    )


def test_diagnostics_report_rates_latency_provider_and_model(setup) -> None:
    _, bench, publisher, outputs, _ = setup
    diagnostics = bench.collect(DiagnosticArray, "/diagnostics")
    run_frames(bench, publisher, outputs, [[(10, 10)]] * 5)
    bench.spin_until(lambda: len(diagnostics) >= 2, 10, "two diagnostics messages")
    statuses = {s.name: {kv.key: kv.value for kv in s.values} for s in diagnostics[-1].status}
    engine = statuses["fairmot_tracker: inference"]
    assert engine["execution provider"] == "CPUExecutionProvider"
    assert engine["model name"] == "dot-detector"
    assert engine["input size (WxH)"] == "192x128"
    camera = statuses["fairmot_tracker: cam0"]
    for key in (
        "input rate (Hz)", "output rate (Hz)", "frames dropped (replaced while busy)",
        "processing latency mean (ms)", "processing latency max (ms)",
        "image age at publish mean (ms)", "image age at publish max (ms)",
    ):
        assert key in camera
    assert float(camera["processing latency max (ms)"]) >= float(
        camera["processing latency mean (ms)"]
    )


def test_get_parameters_answers_every_declared_name(setup) -> None:
    """What ``ros2 param dump`` asks: one request naming every parameter. A single name
    without a value makes rclpy answer such a request with nothing at all."""
    from fairmot_ros.ros.parameters import ALL_PARAMETERS

    _, bench, *_ = setup
    listed = bench.call(ListParameters, f"{NODE}/list_parameters", ListParameters.Request())
    names = list(listed.result.names)
    assert {spec.name for spec in ALL_PARAMETERS} <= set(names)
    reply = bench.call(GetParameters, f"{NODE}/get_parameters", GetParameters.Request(names=names))
    assert len(reply.values) == len(names)
    values = dict(zip(names, reply.values, strict=True))
    unset = [n for n, v in values.items() if v.type == ParameterType.PARAMETER_NOT_SET]
    assert not unset, f"parameters without a value: {unset}"
    camera_names = values["camera_names"]
    assert camera_names.type == ParameterType.PARAMETER_STRING_ARRAY
    assert list(camera_names.string_array_value) == []
    assert values["class_id"].string_value == "person"


def test_sigint_exits_cleanly(setup) -> None:
    node, *_ = setup
    assert node.interrupt() == 0
    out = node.output()
    assert "Traceback" not in out, out
