"""launch/tracker.launch.py against the real launch / launch_ros packages.

Those are not installable from PyPI, so the launch tests skip where they are missing (a full ROS
install has them). Independent of them: the shipped RViz config is valid and shows the node's
debug image.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "tracker.launch.py"
ARGUMENTS = {
    "namespace", "image", "compressed", "params_file", "model", "use_sim_time", "rviz",
    "lifecycle", "autostart", "log_level", "qos_reliability",
}


def test_rviz_config_shows_the_debug_image() -> None:
    config = yaml.safe_load((REPO / "config" / "tracker.rviz").read_text())
    displays = config["Visualization Manager"]["Displays"]
    images = [d for d in displays if d["Class"] == "rviz_default_plugins/Image"]
    assert len(images) == 1 and images[0]["Enabled"] is True
    topic = images[0]["Topic"]
    assert topic["Value"] == "/fairmot_tracker/debug_image"
    assert topic["Reliability Policy"] == "Reliable"  # matches the node's reliable publisher
    markers = [d for d in displays if d["Class"] == "rviz_default_plugins/MarkerArray"]
    assert len(markers) == 1 and markers[0]["Topic"]["Value"] == "/fairmot_tracker/markers"
    assert markers[0]["Topic"]["Reliability Policy"] == "Reliable"
    assert config["Panels"] and config["Window Geometry"]


def _load_launch_module():
    spec = importlib.util.spec_from_file_location("tracker_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch_available() -> None:
    pytest.importorskip("launch")
    pytest.importorskip("launch_ros")


def test_launch_description_declares_the_arguments() -> None:
    _launch_available()
    from launch.actions import DeclareLaunchArgument

    description = _load_launch_module().generate_launch_description()
    declared = {
        entity.name for entity in description.entities if isinstance(entity, DeclareLaunchArgument)
    }
    assert declared == ARGUMENTS


# What ``ros2 launch fairmot_ros tracker.launch.py ARGS`` does, minus the package lookup of the
# file: LaunchService must own the main thread of its process.
_DRIVER = """
import sys
from launch import LaunchService
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.actions import IncludeLaunchDescription
service = LaunchService(argv=sys.argv[2:])
arguments = [tuple(arg.split(":=", 1)) for arg in sys.argv[2:]]
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=arguments))
sys.exit(service.run())
"""


@contextlib.contextmanager
def _launched(arguments: list, domain: int, log_path: Path) -> Iterator:
    """The launch file run as ``ros2 launch`` would, in its own process group (which Ctrl-C
    in a terminal signals), its output in ``log_path``; killed on the way out if still up."""
    with log_path.open("w+b") as log:
        launch = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, str(LAUNCH_FILE), *arguments],
            env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            yield launch
        finally:
            if launch.poll() is None:
                launch.kill()
                launch.wait(timeout=10)


def _interrupt(launch: subprocess.Popen) -> int:
    """Ctrl-C: launch and the node get SIGINT; the launch's exit status."""
    os.killpg(launch.pid, signal.SIGINT)
    return launch.wait(timeout=30)


@pytest.mark.parametrize("lifecycle", ["false", "true"])
def test_launch_starts_the_node_with_remapped_image_and_shipped_yaml(
    lifecycle: str, tmp_path: Path
) -> None:
    _launch_available()

    from node_support import Bench, domain_id, dot_frame, dot_model, image_msg
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    domain = domain_id(2) if lifecycle == "false" else domain_id(3)
    arguments = [
        "image:=/launch_test/image_raw", f"model:={dot_model()}", "namespace:=front",
        f"lifecycle:={lifecycle}",
    ]
    log_path = tmp_path / "launch.log"
    bench = Bench(domain)
    try:
        with _launched(arguments, domain, log_path) as launch:
            outputs = bench.collect(Detection2DArray, "/front/fairmot_tracker/detections")
            publisher = bench.publisher(Image, "/launch_test/image_raw")
            bench.spin_until(
                lambda: publisher.get_subscription_count() > 0, 90,
                lambda: "node subscription; launch output:\n" + log_path.read_text(),
            )
            frame = image_msg(dot_frame([(10, 10)]), 3000.0)
            out = bench.send_and_wait(publisher, frame, outputs, timeout=30, resend_every=1.0)
            assert out.header == frame.header and [d.id for d in out.detections] == ["1"]
            assert _interrupt(launch) == 0
        text = log_path.read_text()
        assert "Traceback" not in text and "escalating to 'SIGTERM'" not in text, text
    finally:
        bench.close()


@pytest.mark.parametrize(
    ("arguments", "named", "reported"),
    [(["model:=/nonexistent/model.onnx"], "does not exist", "exited with status 1"),
     (["qos_reliability:=sometimes"], "qos_reliability", "exited with status 1"),
     (["model:=/nonexistent/model.onnx", "lifecycle:=true"], "configure failed",
      "could not be configured and activated")],
)
def test_launch_fails_when_the_node_cannot_start(
    arguments: list, named: str, reported: str, tmp_path: Path
) -> None:
    """``ros2 launch`` must exit non-zero when the tracker dies at start-up, so that scripts
    see it; the reason is the node's one ERROR line, and nothing prints a traceback."""
    _launch_available()
    from node_support import domain_id

    result = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(LAUNCH_FILE), *arguments],
        env=dict(os.environ, ROS_DOMAIN_ID=str(domain_id(2))), capture_output=True, text=True,
        timeout=120,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert named in out and reported in out, out
    assert "Traceback" not in out, out


def test_autostart_leaves_later_lifecycle_changes_to_the_user(tmp_path: Path) -> None:
    """With lifecycle:=true the launch configures and activates the node once; after that a
    ``deactivate`` must leave it inactive (not be undone by the launch), and a ``cleanup`` and
    ``configure`` must leave it inactive until asked to activate."""
    _launch_available()

    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from node_support import Bench, domain_id, dot_model

    node = "/fairmot_tracker"
    domain = domain_id(5)
    log_path = tmp_path / "launch.log"
    bench = Bench(domain)

    def state() -> int:
        reply = bench.call(GetState, f"{node}/get_state", GetState.Request(), timeout=90)
        return reply.current_state.id

    def change(transition: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition))
        return bench.call(ChangeState, f"{node}/change_state", request, timeout=60).success

    try:
        with _launched([f"model:={dot_model()}", "lifecycle:=true"], domain, log_path) as launch:
            bench.spin_until(lambda: state() == State.PRIMARY_STATE_ACTIVE, 90,
                             lambda: "autostart; launch output:\n" + log_path.read_text())
            assert change(Transition.TRANSITION_DEACTIVATE)
            bench.spin_for(2.0)  # time for any launch event handler to act
            assert state() == State.PRIMARY_STATE_INACTIVE
            assert change(Transition.TRANSITION_CLEANUP)
            assert change(Transition.TRANSITION_CONFIGURE)
            bench.spin_for(2.0)
            assert state() == State.PRIMARY_STATE_INACTIVE
            assert change(Transition.TRANSITION_ACTIVATE)
            assert state() == State.PRIMARY_STATE_ACTIVE
            assert launch.poll() is None, log_path.read_text()
            assert _interrupt(launch) == 0
    finally:
        bench.close()


def test_rviz_is_pointed_at_the_namespaced_debug_image() -> None:
    _launch_available()
    from launch import LaunchContext
    from launch_ros.actions import Node

    module = _load_launch_module()
    context = LaunchContext()
    for action in module._arguments():
        context.launch_configurations[action.name] = "".join(
            s.perform(context) for s in action.default_value
        )
    context.launch_configurations.update({"namespace": "front", "rviz": "true"})
    nodes = [a for a in module._nodes(context) if isinstance(a, Node)]
    rviz = next(n for n in nodes if n.node_executable == "rviz2")
    assert rviz.condition.evaluate(context)
    rviz._perform_substitutions(context)
    rules = [tuple(r) for r in rviz.expanded_remapping_rules]
    assert ("/fairmot_tracker/debug_image", "/front/fairmot_tracker/debug_image") in rules
    assert ("/fairmot_tracker/markers", "/front/fairmot_tracker/markers") in rules
