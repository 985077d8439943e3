"""Ending the node: SIGINT at any moment of spinning, repeated Ctrl-C, lifecycle shutdown.

rclpy's own signal handlers shut the context down from inside the signal, which races with an
executor building its wait set (``RCLError: failed to initialize wait set: the given context
is not valid``, a traceback and exit status 1 in some runs). One run proves little, so the node
is started and interrupted many times, at debug log level (more work per callback, as where the
race was seen) and at varied moments while frames arrive.
"""

from __future__ import annotations

import signal
import time

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("fairmot_ros_msgs.msg")

from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from node_support import Bench, NodeProcess, domain_id, dot_frame, dot_model, image_msg  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

DOMAIN = domain_id(3)
RUNS = 8


@pytest.fixture
def bench():
    bench = Bench(DOMAIN)
    yield bench
    bench.close()


def _start(tmp_path, extra_args=()) -> NodeProcess:
    return NodeProcess(dot_model(), DOMAIN, extra_args=extra_args, log_dir=tmp_path)


def _assert_clean(node: NodeProcess, status: int) -> None:
    out = node.output()
    assert status == 0, out
    assert "Traceback" not in out and "RCLError" not in out, out


def test_sigint_while_spinning_always_exits_zero(bench, tmp_path) -> None:
    publisher = bench.publisher(Image, "/image")
    frame = image_msg(dot_frame([(10, 10)]), 100.0)
    for run in range(RUNS):
        node = _start(tmp_path, extra_args=["--ros-args", "--log-level", "debug", "--"])
        try:
            node.wait_for_log("tracking with", timeout=90)
            deadline = time.monotonic() + 0.05 * run
            while time.monotonic() < deadline:  # busy: callbacks and frames in flight
                publisher.publish(frame)
                bench.spin_for(0.01)
            status = node.interrupt(signal.SIGINT, timeout=30)
            _assert_clean(node, status)
        finally:
            node.kill()


def test_repeated_ctrl_c_exits_zero(tmp_path) -> None:
    node = _start(tmp_path)
    try:
        node.wait_for_log("tracking with", timeout=90)
        # Ctrl-C pressed again and again until the process is gone: signals arrive during
        # the clean-up and while the interpreter finalizes, too.
        deadline = time.monotonic() + 30
        while node.process.poll() is None and time.monotonic() < deadline:
            node.process.send_signal(signal.SIGINT)
            time.sleep(0.01)
        _assert_clean(node, node.process.wait(timeout=1))
    finally:
        node.kill()


def test_lifecycle_shutdown_ends_the_process(bench, tmp_path) -> None:
    node = _start(tmp_path, extra_args=["--lifecycle"])
    try:
        request = ChangeState.Request()
        request.transition.id = Transition.TRANSITION_CONFIGURE
        assert bench.call(ChangeState, "/fairmot_tracker/change_state", request, 90).success
        request.transition.id = Transition.TRANSITION_INACTIVE_SHUTDOWN
        assert bench.call(ChangeState, "/fairmot_tracker/change_state", request, 30).success
        _assert_clean(node, node.process.wait(timeout=30))
    finally:
        node.kill()
