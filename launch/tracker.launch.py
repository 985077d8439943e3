"""Launch the FairMOT tracker node, optionally as a lifecycle node and with RViz.

    ros2 launch fairmot_ros tracker.launch.py image:=/camera/image_raw
    ros2 launch fairmot_ros tracker.launch.py image:=/camera/image_raw compressed:=true rviz:=true
    ros2 launch fairmot_ros tracker.launch.py namespace:=front model:=/models/fairmot.onnx

The node subscribes to the relative name ``image`` (``image/compressed`` with compressed
input); this file remaps it to the ``image`` argument, so nothing in the node hard-codes a
camera topic. Outputs stay under the node's private names (``~/detections``, ``~/tracks``,
``~/debug_image``), that is ``/<namespace>/fairmot_tracker/...``.

When the tracker process ends, the launch ends too: with a non-zero status (a start-up failure
such as a missing model or a bad parameter, or a crash) ``ros2 launch`` exits non-zero, so
scripts see the failure; after SIGINT or a lifecycle ``shutdown`` it exits 0.
"""

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    OpaqueFunction,
    RegisterEventHandler,
    Shutdown,
    UnregisterEventHandler,
)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

PACKAGE = "fairmot_ros"
NODE_NAME = "fairmot_tracker"
TRUE = ("true", "1", "yes", "on")


def _arguments():
    share = FindPackageShare(PACKAGE)
    return [
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
        DeclareLaunchArgument(
            "image", default_value="/camera/image_raw",
            description="camera image topic (sensor_msgs/Image); with compressed:=true the "
            "node reads <image>/compressed",
        ),
        DeclareLaunchArgument(
            "compressed", default_value="false",
            description="read sensor_msgs/CompressedImage (jpeg/png) from <image>/compressed",
        ),
        DeclareLaunchArgument(
            "qos_reliability", default_value="",
            description="reliability of the image subscription: best_effort or reliable (large "
            "raw images between processes need reliable on both sides); empty keeps the params "
            "file's value (best_effort there)",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "tracker.yaml"]),
            description="parameters file (all parameters and their defaults: the shipped one)",
        ),
        DeclareLaunchArgument(
            "model", default_value="",
            description="exported ONNX model; empty keeps the params file's value (empty there: "
            "the demonstration model shipped in the package)",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="use /clock (bag playback)"
        ),
        DeclareLaunchArgument(
            "rviz", default_value="false",
            description="start RViz with config/tracker.rviz (the annotated debug image, and "
            "the people in 3D with spatial.mode set)",
        ),
        DeclareLaunchArgument(
            "lifecycle", default_value="false",
            description="run as a managed (lifecycle) node",
        ),
        DeclareLaunchArgument(
            "autostart", default_value="true",
            description="with lifecycle:=true, configure and activate at once",
        ),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="node log level"
        ),
    ]


def _nodes(context):
    """Build the node with evaluated arguments (so an empty model does not override the
    params file, and RViz can be pointed at the namespaced debug image)."""

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    namespace = arg("namespace").strip("/")
    image = arg("image")
    compressed = arg("compressed").lower() in TRUE
    overrides = {"compressed": compressed, "use_sim_time": arg("use_sim_time").lower() in TRUE}
    for name in ("model", "qos_reliability"):
        if arg(name):
            overrides[name] = arg(name)
    common = dict(
        package=PACKAGE,
        executable="tracker_node",
        name=NODE_NAME,
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[arg("params_file"), overrides],
        remappings=[("image", image), ("image/compressed", image.rstrip("/") + "/compressed")],
        ros_arguments=["--log-level", arg("log_level")],
        # Small tracker matrices: single-threaded BLAS leaves the cores to ONNX Runtime.
        additional_env={"OPENBLAS_NUM_THREADS": "1"},
    )
    actions = []
    if arg("lifecycle").lower() in TRUE:
        node = LifecycleNode(arguments=["--lifecycle"], **common)
        actions.append(node)
        if arg("autostart").lower() in TRUE:
            actions += _autostart(node)
    else:
        node = Node(**common)
        actions.append(node)
    actions.append(RegisterEventHandler(OnProcessExit(target_action=node, on_exit=_tracker_exited)))

    def output(leaf: str) -> str:
        return "/" + "/".join(part for part in (namespace, NODE_NAME, leaf) if part)

    actions.append(
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            output="screen",
            arguments=["-d", PathJoinSubstitution(
                [FindPackageShare(PACKAGE), "config", "tracker.rviz"]
            ).perform(context)],
            parameters=[{"use_sim_time": overrides["use_sim_time"]}],
            remappings=[(f"/{NODE_NAME}/{leaf}", output(leaf))
                         for leaf in ("debug_image", "markers")],
            condition=IfCondition(LaunchConfiguration("rviz")),
        )
    )
    return actions


def _tracker_exited(event, context):
    """End the launch with the tracker. launch returns a non-zero status only when an action
    raises, so a failed tracker is reported by raising (one ERROR line, no traceback)."""
    if event.returncode != 0:
        raise RuntimeError(
            f"{NODE_NAME} exited with status {event.returncode} (its log above says why)"
        )
    if context.is_shutdown:
        return None  # the launch is ending already (SIGINT): a second Shutdown would fail
    return [Shutdown(reason=f"{NODE_NAME} exited")]


def _autostart(node):
    """Configure, then activate once configured; a failure of either ends the launch.

    Every handler goes after the start-up (``handle_once``, and the failure handlers are
    unregistered once the node is active), so later lifecycle changes are the user's: a
    ``deactivate`` leaves the node inactive, a failed manual ``configure`` does not end the
    launch."""
    failures = [
        OnStateTransition(
            target_lifecycle_node=node, start_state=start, goal_state=back,
            entities=[OpaqueFunction(function=_autostart_failed)], handle_once=True,
        )
        for start, back in (("configuring", "unconfigured"), ("activating", "inactive"))
    ]
    activate = OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                              transition_id=Transition.TRANSITION_ACTIVATE))],
        handle_once=True,
    )
    started = OnStateTransition(
        target_lifecycle_node=node, start_state="activating", goal_state="active",
        entities=[UnregisterEventHandler(handler) for handler in failures], handle_once=True,
    )
    configure = EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                            transition_id=Transition.TRANSITION_CONFIGURE))
    return [*(RegisterEventHandler(h) for h in (*failures, activate, started)), configure]


def _autostart_failed(context):
    raise RuntimeError(
        f"{NODE_NAME} could not be configured and activated (its log above says why)"
    )


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*_arguments(), OpaqueFunction(function=_nodes)])
