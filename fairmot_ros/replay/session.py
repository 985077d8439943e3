"""The DDS side of replay: one rclpy context + node + executor, QoS and type look-ups.

The player, the recorder and the demo's observer share one :class:`RosSession`, so a single
process can play a bag, watch the node's answers and record them on one executor, with every
callback running inside :meth:`RosSession.spin_until` (never concurrently with the caller).
Messages are carried as CDR bytes (``raw=True`` subscriptions, ``publish(bytes)``): what is
recorded is exactly what was published.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from fairmot_ros.bags import QosSpec
from fairmot_ros.replay.node_process import ReplayError, TrackerNodeProcess

__all__ = ["ReplayError", "RosSession", "import_message_type", "qos_profile", "qos_spec"]


def import_message_type(typename: str) -> Any | None:
    """The rclpy class of ``pkg/msg/Name`` when its Python package is importable, else None."""
    package, _, name = typename.partition("/msg/")
    if not package or not name:
        return None
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError):
        return None


_RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE,
                "best_effort": ReliabilityPolicy.BEST_EFFORT}
_DURABILITY = {"volatile": DurabilityPolicy.VOLATILE,
               "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}
_HISTORY = {"keep_last": HistoryPolicy.KEEP_LAST, "keep_all": HistoryPolicy.KEEP_ALL}


def qos_profile(spec: QosSpec, depth: int | None = None) -> QoSProfile:
    """An rclpy profile from a bag's QoS (unknown values fall back to rclpy's defaults)."""
    return QoSProfile(
        reliability=_RELIABILITY.get(spec.reliability, ReliabilityPolicy.RELIABLE),
        durability=_DURABILITY.get(spec.durability, DurabilityPolicy.VOLATILE),
        history=_HISTORY.get(spec.history, HistoryPolicy.KEEP_LAST),
        depth=max(1, depth if depth is not None else spec.depth),
    )


def qos_spec(profile: QoSProfile) -> QosSpec:
    """The bag form of a publisher's profile, as discovered over DDS."""
    def name(policy: Any, table: dict, default: str) -> str:
        return next((k for k, v in table.items() if v == policy), default)

    return QosSpec(name(profile.reliability, _RELIABILITY, "reliable"),
                   name(profile.durability, _DURABILITY, "volatile"),
                   name(profile.history, _HISTORY, "keep_last"), int(profile.depth or 10))


class RosSession:
    """An rclpy context in one ROS domain with one node, spun by :meth:`spin_until`."""

    def __init__(self, domain_id: int | None, name: str, parameters: list | None = None,
                 alive: Callable[[], bool] = lambda: True) -> None:
        self.context = rclpy.Context()
        kwargs = {} if domain_id is None else {"domain_id": domain_id}
        rclpy.init(args=[], context=self.context, **kwargs)  # our CLI is not ROS arguments
        self.node = rclpy.create_node(name, context=self.context,
                                      parameter_overrides=parameters or [])
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.alive = alive

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def spin_until(self, predicate: Callable[[], bool], timeout: float,
                   wake_at: float | None = None, poll: float = 0.02) -> bool:
        """Run callbacks until ``predicate`` holds (True) or ``timeout`` passes (False).

        Between callbacks the executor waits at most ``poll`` seconds, and not past ``wake_at``
        (a ``time.perf_counter()`` value: when a time-based predicate turns true). Raises
        :class:`ReplayError` as soon as the watched process (``alive``) is gone.
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not self.alive():
                raise ReplayError("tracker_node exited while the replay was waiting for it")
            if wake_at is not None:
                remaining = min(remaining, max(0.0, wake_at - time.perf_counter()))
            self.executor.spin_once(timeout_sec=min(poll, remaining))
        return True

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)


@contextmanager
def node_session(node: TrackerNodeProcess, domain_id: int | None,
                 name: str) -> Iterator[RosSession]:
    """Start ``node`` and open a session beside it; on the way out close the session and stop
    the node (its exit status is ``node.exit_code``). A :class:`ReplayError` raised while the
    node is gone carries the end of its log."""
    node.start()
    session = None
    try:
        session = RosSession(domain_id, name, alive=node.alive)
        yield session
    except ReplayError as exc:
        if node.process is not None and not node.alive():
            raise node.failure(str(exc)) from None
        raise
    finally:
        if session is not None:
            session.close()
        node.stop()
