"""``fairmot-bag record``: topics from DDS into a bag, with QoS matched to their publishers.

Like ``ros2 bag record``, the recorder looks the topics up as they appear (a topic named before
its publisher starts is picked up when it does), subscribes with the QoS the publishers offer
(reliable when all are reliable, best effort otherwise; transient-local when all are) and stores
their offered profiles in the bag, so ``play`` offers the same QoS again. Messages are stored as
received CDR bytes, stamped with the receive time of the recorder's clock (which follows
``/clock`` under ``use_sim_time``). A keep-last depth of 1000 per topic means a reliable
publisher loses nothing to a briefly busy recorder.

The bag is finalised (index and ``metadata.yaml``) by :meth:`BagRecorder.close`, which the CLI
runs on SIGINT, SIGTERM, ``--duration`` and errors alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from rclpy.clock import Clock, ClockType

from fairmot_ros.bags import BagWriter, QosSpec, ensure_type
from fairmot_ros.replay.session import RosSession, import_message_type, qos_profile, qos_spec
from fairmot_ros.stamps import time_to_ns

__all__ = ["BagRecorder"]

RECORD_DEPTH = 1000
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"
CLOCK_TOPIC = "/clock"
DISCOVERY_PERIOD_S = 0.2
# Infrastructure topics every node has; recorded only when named.
_HIDDEN_BY_DEFAULT = {"/rosout", "/parameter_events"}


def _subscription_qos(offered: list[QosSpec]) -> QosSpec:
    reliable = all(q.reliability == "reliable" for q in offered)
    transient = all(q.durability == "transient_local" for q in offered)
    return QosSpec("reliable" if reliable else "best_effort",
                   "transient_local" if transient else "volatile", "keep_last", RECORD_DEPTH)


class BagRecorder:
    """Subscriptions writing into one :class:`BagWriter` (see the module doc)."""

    def __init__(
        self, session: RosSession, writer: BagWriter, topics: Sequence[str] = (),
        all_topics: bool = False, warn: Callable[[str], None] = print,
        on_matched: Callable[[str, str], None] | None = None, sim_time: bool = False,
    ) -> None:
        self.session, self.writer, self.warn = session, writer, warn
        self.on_matched = on_matched
        self._announced: set[str] = set()
        self.wanted = set(topics)
        self.all_topics = all_topics
        self.subscriptions: dict[str, object] = {}
        self.skipped: dict[str, str] = {}  # topic -> type that cannot be recorded
        self.closed = False
        # discovery runs on the steady clock: under use_sim_time a ROS-time timer would wait
        # for /clock, which may only start once the recorder is ready
        self._timer = session.node.create_timer(DISCOVERY_PERIOD_S, self.discover,
                                                clock=Clock(clock_type=ClockType.STEADY_TIME))
        # under sim time, log times are the latest /clock value (0 until one arrives), taken
        # from our own subscription so they never depend on when rclpy's time source updates.
        # It exists from the start, best effort and volatile (compatible with any publisher's
        # QoS), so a player finds it at once instead of after our next discovery round.
        self.clock_ns: int | None = None
        self._clock_sub = None
        if sim_time:
            self.clock_ns = 0
            self._clock_sub = session.node.create_subscription(
                import_message_type(CLOCK_TYPE), CLOCK_TOPIC, self._on_clock,
                qos_profile(QosSpec("best_effort", "volatile", "keep_last", 10)))
        self.discover()

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.writer.counts)

    def discover(self) -> None:
        """Subscribe to every wanted topic that now has a publisher; report new matches."""
        if self.closed:
            return
        node = self.session.node
        for name, subscription in self.subscriptions.items():
            if name not in self._announced and subscription.get_publisher_count() > 0:
                self._announced.add(name)
                if self.on_matched is not None:
                    self.on_matched(name, self.writer.types[name])
        for name, types in node.get_topic_names_and_types():
            if name in self.subscriptions or name in self.skipped or not types:
                continue
            if not (name in self.wanted or (self.all_topics and name not in _HIDDEN_BY_DEFAULT)):
                continue
            infos = [i for i in node.get_publishers_info_by_topic(name)
                     if i.node_name != node.get_name() or i.node_namespace != node.get_namespace()]
            if not infos:
                continue
            typename = types[0]
            msg_type = import_message_type(typename)
            if msg_type is None or not ensure_type(typename):
                self.skipped[name] = typename
                self.warn(f"not recording {name}: type {typename} is not importable here")
                continue
            offered = [qos_spec(i.qos_profile) for i in infos]
            self.writer.add_topic(name, typename, offered)
            self.subscriptions[name] = node.create_subscription(
                msg_type, name, partial(self._on_message, name),
                qos_profile(_subscription_qos(offered)), raw=True,
            )

    def _on_clock(self, msg: object) -> None:
        self.clock_ns = max(self.clock_ns or 0, time_to_ns(msg.clock))

    def _on_message(self, topic: str, data: bytes) -> None:
        if not self.closed:
            now = self.session.now_ns() if self.clock_ns is None else self.clock_ns
            self.writer.write(topic, now, data)

    def ready(self, topics: Sequence[str] | None = None) -> bool:
        """Whether ``topics`` (all wanted by default) are subscribed and matched."""
        names = list(topics) if topics is not None else sorted(self.wanted)
        return all(name in self.subscriptions
                   and self.subscriptions[name].get_publisher_count() > 0 for name in names)

    def close(self) -> None:
        """Stop recording and finalise the bag (index and metadata.yaml)."""
        if self.closed:
            return
        self.closed = True
        self.session.node.destroy_timer(self._timer)
        for subscription in self.subscriptions.values():
            self.session.node.destroy_subscription(subscription)
        if self._clock_sub is not None:
            self.session.node.destroy_subscription(self._clock_sub)
        self.writer.close()
