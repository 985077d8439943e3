"""The tracker node's other ways of running: compressed input, reliable QoS, several cameras,
lifecycle management, zero stamps, SIGTERM and a failed start. Each test starts its own node
process (console script + config/tracker.yaml) on this module's ROS domain."""

from __future__ import annotations

import itertools
import signal

import cv2
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from node_support import (  # noqa: E402
    Bench,
    NodeProcess,
    box_for_cell,
    domain_id,
    dot_frame,
    dot_model,
    image_msg,
    stamp_of,
)
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from fairmot_ros.image_bytes import byte_array  # noqa: E402

NODE = "/fairmot_tracker"
DOMAIN = domain_id(1)
_ticks = itertools.count()


def next_stamp() -> float:
    return 2000.0 + next(_ticks) / 30.0


@pytest.fixture
def bench():
    bench = Bench(DOMAIN)
    yield bench
    bench.close()


@pytest.fixture
def start_node(tmp_path):
    started = []

    def start(*params: str, extra_args=()) -> NodeProcess:
        node = NodeProcess(dot_model(), DOMAIN, params, extra_args, log_dir=tmp_path)
        started.append(node)
        return node

    yield start
    for node in started:
        node.kill()


def centres(out: Detection2DArray) -> set[tuple[float, float, float, float]]:
    return {
        (d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y)
        for d in out.detections
    }


def compressed_msg(cells, seconds: float, extension: str) -> CompressedImage:
    ok, data = cv2.imencode(extension, dot_frame(cells))
    assert ok
    msg = CompressedImage(format=extension.strip(".").replace("jpg", "jpeg"))
    msg.header.stamp = stamp_of(seconds)
    msg.header.frame_id = "camera"
    msg.data = byte_array(data)
    return msg


def test_compressed_input_from_a_reliable_publisher(bench, start_node) -> None:
    node = start_node("compressed:=true")
    node.wait_for_log("tracking with", timeout=90)
    assert "input CompressedImage best_effort depth 1" in node.output()
    outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
    # A reliable publisher is served by the default best-effort subscription.
    publisher = bench.publisher(CompressedImage, "/image/compressed", reliable=True)
    bench.spin_until(lambda: publisher.get_subscription_count() > 0, 30, "node subscription")
    png = compressed_msg([(12, 9), (36, 20)], next_stamp(), ".png")
    out = bench.send_and_wait(publisher, png, outputs, timeout=30, resend_every=1.0)
    assert out.header == png.header
    assert centres(out) == {box_for_cell(12, 9), box_for_cell(36, 20)}  # PNG is lossless
    jpeg = compressed_msg([(12, 9), (36, 20)], next_stamp(), ".jpg")
    out = bench.send_and_wait(publisher, jpeg, outputs)
    assert sorted(d.id for d in out.detections) == ["1", "2"]
    broken = compressed_msg([(12, 9)], next_stamp(), ".png")
    broken.data = b"\x89PNG but not really"
    publisher.publish(broken)
    node.wait_for_log("decode_failed", timeout=20)  # logged and counted, no output, no crash
    out = bench.send_and_wait(publisher, compressed_msg([(12, 9)], next_stamp(), ".png"), outputs)
    assert [d.id for d in out.detections] == ["1"]


def test_reliable_parameter_serves_reliable_publishers_only(bench, start_node) -> None:
    node = start_node("qos_reliability:=reliable")
    node.wait_for_log("tracking with", timeout=90)
    assert "input Image reliable depth 1" in node.output()
    outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
    reliable = bench.publisher(Image, "/image", reliable=True)
    best_effort = bench.publisher(Image, "/image", reliable=False)
    bench.spin_until(lambda: reliable.get_subscription_count() > 0, 30, "node subscription")
    first = image_msg(dot_frame([(10, 10)]), next_stamp())
    out = bench.send_and_wait(reliable, first, outputs, timeout=30, resend_every=1.0)
    assert out.header == first.header and len(out.detections) == 1
    # A reliable subscription cannot match a best-effort publisher (DDS rule): nothing flows.
    assert best_effort.get_subscription_count() == 0
    # Unstamped images are tracked with receive times and published with their zero stamp.
    count = len(outputs)
    for col in (20, 21, 22):
        zero = image_msg(dot_frame([(col, 10)]), 0.0)
        reliable.publish(zero)
        bench.spin_until(lambda c=count: len(outputs) > c, 20, "output of an unstamped image")
        count = len(outputs)
        assert outputs[-1].header.stamp.sec == 0 and outputs[-1].header.stamp.nanosec == 0
    assert node.output().count("have a zero stamp") == 1
    assert node.interrupt(signal.SIGTERM) == 0
    assert "Traceback" not in node.output()


def test_two_cameras_share_one_session_and_keep_separate_id_spaces(bench, start_node) -> None:
    node = start_node("image_topics:=[/front/image, /rear/image]", "camera_names:=[front, rear]")
    log = node.wait_for_log("tracking with", timeout=90)
    assert "front: /front/image -> /fairmot_tracker/front/detections" in log
    assert log.count("tracking with") == 1  # one session, one start-up line
    front_out = bench.collect(Detection2DArray, f"{NODE}/front/detections")
    rear_out = bench.collect(Detection2DArray, f"{NODE}/rear/detections")
    front = bench.publisher(Image, "/front/image")
    rear = bench.publisher(Image, "/rear/image")
    bench.spin_until(
        lambda: front.get_subscription_count() > 0 and rear.get_subscription_count() > 0, 30,
        "node subscriptions",
    )
    ids = {"front": set(), "rear": set()}
    for step in range(6):
        seconds = next_stamp()
        front_msg = image_msg(dot_frame([(10 + step, 8), (40 - step, 24)]), seconds, "front")
        rear_msg = image_msg(dot_frame([(20, 12 + step)]), seconds, "rear")
        resend = 1.0 if step == 0 else None
        rear.publish(rear_msg)  # both frames in flight together: one batched inference
        out_front = bench.send_and_wait(front, front_msg, front_out, 30, resend)
        out_rear = bench.send_and_wait(rear, rear_msg, rear_out, 30, resend)
        assert out_front.header.frame_id == "front" and out_rear.header.frame_id == "rear"
        assert len(out_front.detections) == 2 and len(out_rear.detections) == 1
        ids["front"] |= {d.id for d in out_front.detections}
        ids["rear"] |= {d.id for d in out_rear.detections}
    assert ids == {"front": {"front/1", "front/2"}, "rear": {"rear/1"}}
    reply = bench.call(Trigger, f"{NODE}/reset", Trigger.Request())
    assert reply.success and "front: 2" in reply.message and "rear: 1" in reply.message


def _transition(bench: Bench, transition: int) -> bool:
    request = ChangeState.Request(transition=Transition(id=transition))
    return bench.call(ChangeState, f"{NODE}/change_state", request).success


def _state(bench: Bench) -> int:
    return bench.call(GetState, f"{NODE}/get_state", GetState.Request()).current_state.id


def test_lifecycle_transitions(bench, start_node) -> None:
    node = start_node(extra_args=["--lifecycle"])
    outputs = bench.collect(Detection2DArray, f"{NODE}/detections")
    publisher = bench.publisher(Image, "/image")
    assert _state(bench) == State.PRIMARY_STATE_UNCONFIGURED
    assert "tracking with" not in node.output()  # nothing loaded before configure
    assert _transition(bench, Transition.TRANSITION_CONFIGURE)
    assert _state(bench) == State.PRIMARY_STATE_INACTIVE
    assert publisher.get_subscription_count() == 0  # inactive: not subscribed
    assert _transition(bench, Transition.TRANSITION_ACTIVATE)
    assert _state(bench) == State.PRIMARY_STATE_ACTIVE
    node.wait_for_log("tracking with")
    bench.spin_until(lambda: publisher.get_subscription_count() > 0, 30, "node subscription")
    first = image_msg(dot_frame([(10, 10)]), next_stamp())
    out = bench.send_and_wait(publisher, first, outputs, timeout=30, resend_every=1.0)
    assert [d.id for d in out.detections] == ["1"]
    assert _transition(bench, Transition.TRANSITION_DEACTIVATE)
    bench.spin_until(lambda: publisher.get_subscription_count() == 0, 30, "unsubscription")
    assert _transition(bench, Transition.TRANSITION_CLEANUP)
    assert _state(bench) == State.PRIMARY_STATE_UNCONFIGURED
    # Configure again from scratch: a fresh tracker, ids start at 1 again.
    assert _transition(bench, Transition.TRANSITION_CONFIGURE)
    assert _transition(bench, Transition.TRANSITION_ACTIVATE)
    bench.spin_until(lambda: publisher.get_subscription_count() > 0, 30, "node subscription")
    again = image_msg(dot_frame([(30, 20)]), next_stamp())
    out = bench.send_and_wait(publisher, again, outputs, timeout=30, resend_every=1.0)
    assert [d.id for d in out.detections] == ["1"]
    assert _transition(bench, Transition.TRANSITION_ACTIVE_SHUTDOWN)
    # Finalized: nothing can happen any more, so the process ends by itself.
    assert node.process.wait(timeout=30) == 0
    assert "Traceback" not in node.output()


def test_a_missing_model_fails_with_one_clear_line(start_node, tmp_path) -> None:
    node = NodeProcess(tmp_path / "absent.onnx", DOMAIN, log_dir=tmp_path)
    try:
        assert node.process.wait(timeout=60) == 1
        out = node.output()
        assert "cannot start: model file" in out and "absent.onnx" in out
        assert "Traceback" not in out
    finally:
        node.kill()


@pytest.mark.parametrize(
    ("override", "named"),
    [("tracker.frame_rate:=10", "expecting type 'DOUBLE'"), ("tracker.conf_thres:=5.0", "range")],
)
def test_a_bad_parameter_override_fails_with_one_clear_line(
    start_node, tmp_path, override: str, named: str
) -> None:
    node = NodeProcess(dot_model(), DOMAIN, params=[override], log_dir=tmp_path)
    try:
        assert node.process.wait(timeout=60) == 1
        out = node.output()
        assert "cannot start: invalid parameters" in out and named in out
        assert override.split(":=")[0] in out
        assert "Traceback" not in out
    finally:
        node.kill()
