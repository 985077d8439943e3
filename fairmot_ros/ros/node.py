"""The ``tracker_node`` executable: FairMOT tracking as a plain or a lifecycle ROS 2 node.

    tracker_node [--lifecycle] --ros-args --params-file config/tracker.yaml -p model:=x.onnx

Plain mode (the default) loads the model, subscribes and starts tracking at once. With
``--lifecycle`` the node is a managed node: ``configure`` loads and warms up the ONNX session,
``activate`` subscribes, ``deactivate``/``cleanup``/``shutdown`` undo it, driven through the
standard ``~/change_state`` and ``~/get_state`` services; after ``shutdown`` the process exits.
SIGINT and SIGTERM end either mode cleanly with exit status 0, however often and whenever they
arrive; a start-up failure logs one error line and exits with status 1.

Signals: rclpy's own handlers shut the context down from the signal, and an executor that is
just building its wait set then fails with ``RCLError: ... context is not valid`` (a traceback
and exit status 1 on a plain Ctrl-C). So the node installs no rclpy handlers: SIGINT/SIGTERM
only set a stop flag that the spin loop checks between callbacks, and the context is shut
down afterwards, in order, by the main thread.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from fairmot_ros.ros.runtime import StartupError, TrackerRuntime

__all__ = ["NODE_NAME", "ManagedTrackerNode", "TrackerNode", "main"]

NODE_NAME = "fairmot_tracker"
# How often the spin loop looks at the stop flag; also the longest a signal waits to be seen.
_SPIN_SLICE_S = 0.2
# After a lifecycle shutdown: time for the change_state reply to leave before the node goes.
_SHUTDOWN_LINGER_S = 0.5


class TrackerNode(Node):
    """Plain node: configured and active from construction until shutdown."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.runtime = TrackerRuntime(self)
        self.runtime.configure()
        self.runtime.activate()

    def close(self) -> None:
        self.runtime.cleanup()


class ManagedTrackerNode(LifecycleNode):
    """Lifecycle node: parameters are declared at construction, everything else on demand."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.runtime = TrackerRuntime(self)
        # Set by the shutdown transition: the process has nothing left to do and exits.
        self.finalized = threading.Event()

    def _attempt(self, what: str, action: Any) -> TransitionCallbackReturn:
        try:
            action()
        except StartupError as exc:
            self.get_logger().error(f"{what} failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._attempt("configure", self.runtime.configure)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = self._attempt("activate", self.runtime.activate)
        if result == TransitionCallbackReturn.SUCCESS:
            return super().on_activate(state)
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.cleanup()
        self.finalized.set()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.runtime.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        self.runtime.cleanup()


class _RosLogHandler(logging.Handler):
    """Sends the core's Python ``logging`` records (e.g. the engine's provider warnings) to the
    node's ROS logger, so they carry the node name and reach /rosout like everything else."""

    def __init__(self, logger: Any) -> None:
        super().__init__()
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._logger.warning(message)
        elif record.levelno >= logging.INFO:
            self._logger.info(message)
        else:
            self._logger.debug(message)


def _forward_core_logging() -> None:
    core = logging.getLogger("fairmot_ros")
    core.addHandler(_RosLogHandler(rclpy.logging.get_logger(NODE_NAME)))
    core.setLevel(logging.INFO)
    core.propagate = False


def _parse_cli(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tracker_node", description=__doc__.split("\n\n")[0],
        epilog="ROS arguments follow --ros-args (parameters: see config/tracker.yaml).",
    )
    parser.add_argument(
        "--lifecycle", action="store_true",
        help="run as a managed (lifecycle) node that waits for configure/activate",
    )
    return parser.parse_args(argv)


class _StopFlag:
    """SIGINT/SIGTERM handler that only records the request (see the module docstring)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: Any) -> None:
        self.event.set()

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self)


def _spin(node: Any, stop: threading.Event) -> None:
    """Run callbacks until a signal or a lifecycle shutdown asks the process to end."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    finalized = getattr(node, "finalized", None)
    try:
        while not stop.is_set() and not (finalized is not None and finalized.is_set()):
            executor.spin_once(timeout_sec=_SPIN_SLICE_S)
        if finalized is not None and finalized.is_set():
            deadline = time.monotonic() + _SHUTDOWN_LINGER_S
            while time.monotonic() < deadline and not stop.is_set():
                executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(node)
        executor.shutdown(timeout_sec=1.0)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``tracker_node``; returns the process exit status."""
    stop = _StopFlag()
    stop.install()
    args = list(sys.argv if argv is None else argv)
    cli = _parse_cli(rclpy.utilities.remove_ros_args(args)[1:])
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    _forward_core_logging()
    node = None
    status = 0
    try:
        node = ManagedTrackerNode() if cli.lifecycle else TrackerNode()
        _spin(node, stop.event)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except StartupError as exc:
        rclpy.logging.get_logger(NODE_NAME).error(f"cannot start: {exc}")
        status = 1
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
        # Python restores the default handlers while the interpreter finalizes, and a Ctrl-C
        # pressed again then would end the process by the signal (status -2). Ignored
        # handlers are left alone: from here on the process only exits.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
    return status


if __name__ == "__main__":
    sys.exit(main())
