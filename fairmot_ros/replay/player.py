"""``fairmot-bag play``: a bag's messages published over DDS, as recorded or in lock-step.

Messages are published as their recorded CDR bytes with the QoS their publishers offered
(``--qos-reliability`` overrides it) and, by default, the recorded timing divided by ``rate``.
``clock_hz`` adds ``/clock`` carrying the bag's time, so nodes with ``use_sim_time`` follow the
bag (as ``ros2 bag play --clock``). In lock-step, the image topic's message k+1 leaves only when
``answered(stamp of image k)`` holds or ``timeout`` passed: every image is processed, in order,
as fast as the node can go, so a replay gives the same outputs each time. Other topics keep
their recorded order relative to the images. With ``reports``
(:class:`fairmot_ros.replay.node_reports.CameraReports`), an image that the node reports as
refused or dropped instead of answering is counted by reason and the next one leaves at once;
only an image neither answered nor reported waits for the timeout.

A type that is not installed is built from the definitions the bag carries (MCAP schemas) by
:mod:`fairmot_ros.replay.message_packages`, once, and then published like any other (``ros2 bag
play`` would ignore such a topic with a warning); a type that cannot be built either is skipped,
counted, and reported once per topic. Service-event topics (``pkg/srv/Name_Event``) are not
replayed, as by ``ros2 bag play`` without ``--publish-service-requests``; a topic of a type that
is not installed and has no messages gets no publisher. A bag left with nothing to publish is a
:class:`ReplayError`.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairmot_ros.bags import BagMessage, BagReader, QosSpec, header_stamp_ns
from fairmot_ros.replay.frames import COMPRESSED_TYPE, IMAGE_TYPE, choose_image_topic
from fairmot_ros.replay.message_packages import MessagePackageError, message_class
from fairmot_ros.replay.session import ReplayError, RosSession, import_message_type, qos_profile
from fairmot_ros.stamps import ns_to_seconds, ns_to_stamp, seconds_to_ns

__all__ = ["AnswerWatcher", "BagPlayer", "PlayOptions", "PlayStats"]

CLOCK_TOPIC = "/clock"
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"
DEFAULT_CLOCK_HZ = 40.0  # ros2 bag play --clock's default rate
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
CLOCK_PREROLL_S = 1.0
CLOCK_MATCH_WAIT_S = 5.0
CLOCK_MATCH_GRACE_S = 0.3
SERVICE_EVENT_TYPE = re.compile(r"^[^/]+/srv/[^/]+_Event$")


@dataclass
class PlayOptions:
    """How to play (the ``fairmot-bag play`` options)."""

    rate: float = 1.0
    loop: bool = False
    clock_hz: float | None = None
    topics: list[str] | None = None
    remap: dict[str, str] = field(default_factory=dict)
    reliability: str | None = None
    lockstep: bool = False
    timeout: float = 30.0
    image_topic: str | None = None  # lock-step's image topic where the bag has several


@dataclass
class PlayStats:
    """Bookkeeping of one play: what went out, what was answered, what was skipped."""

    published: Counter = field(default_factory=Counter)
    skipped_types: dict[str, int] = field(default_factory=dict)
    skipped_service_events: dict[str, int] = field(default_factory=dict)  # topic -> messages
    images_sent: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    # Lock-step images the node reported instead of answering, by stamp: the rejection reason,
    # or node_reports.DROPPED.
    reported: dict[int, str] = field(default_factory=dict)
    stamps_out_of_order: int = 0
    late_publishes: int = 0
    clock_messages: int = 0
    seconds: float = 0.0


class AnswerWatcher:
    """Header stamps of what arrives on an output topic (any stamped type, read raw)."""

    def __init__(self, session: RosSession, topic: str, timeout: float) -> None:
        self.session, self.topic = session, topic
        self.stamps: dict[int, float] = {}
        found = session.spin_until(lambda: self._type() is not None, timeout)
        if not found:
            raise ReplayError(f"no publisher of {topic} appeared within {timeout:.0f} s")
        typename = self._type()
        msg_type = import_message_type(typename)
        if msg_type is None:
            raise ReplayError(f"the type {typename} of {topic} is not importable here")
        self.subscription = session.node.create_subscription(
            msg_type, topic, self._on_message,
            qos_profile(QosSpec("reliable", "volatile", "keep_last", 100)), raw=True,
        )

    def _type(self) -> str | None:
        for name, types in self.session.node.get_topic_names_and_types():
            if name == self.topic and types:
                return types[0]
        return None

    def _on_message(self, data: bytes) -> None:
        self.stamps.setdefault(header_stamp_ns(data), time.perf_counter())

    def answered(self, stamp_ns: int) -> bool:
        return stamp_ns in self.stamps

    def matched(self) -> bool:
        return self.subscription.get_publisher_count() > 0


class BagPlayer:
    """Publishers for a bag's topics, and the loop that plays them (see the module doc)."""

    def __init__(
        self, session: RosSession, reader: BagReader, options: PlayOptions,
        warn: Callable[[str], None] = print,
    ) -> None:
        self.session, self.reader, self.options, self.warn = session, reader, options, warn
        self.stats = PlayStats()
        self.image_topic: str | None = None
        if options.lockstep:
            self.image_topic = options.image_topic or choose_image_topic(reader, options.topics)
        topics = options.topics if options.topics else sorted(reader.topics)
        missing = [t for t in topics if t not in reader.topics]
        if missing:
            raise ReplayError(f"{reader.path} has no topic {', '.join(missing)} "
                              f"(it has {', '.join(sorted(reader.topics)) or 'none'})")
        self.publishers: dict[str, object] = {}
        self._bag_definitions: dict[str, str] | None = None
        unplayable: list[str] = []
        for topic in topics:
            msg_type = self._topic_type(topic, unplayable)
            if msg_type is None:
                continue
            info = reader.topics[topic]
            spec = info.qos[0] if info.qos else QosSpec()
            if options.reliability:
                spec = QosSpec(options.reliability, spec.durability, spec.history, spec.depth)
            self.publishers[topic] = session.node.create_publisher(
                msg_type, options.remap.get(topic, topic), qos_profile(spec, max(spec.depth, 10))
            )
        if self.image_topic is not None and self.image_topic not in self.publishers:
            raise ReplayError(f"cannot publish the image topic {self.image_topic}")
        if not any(reader.topics[t].count for t in self.publishers):
            if self.publishers:
                unplayable.append(f"{', '.join(sorted(self.publishers))}: no messages")
            raise ReplayError(f"{reader.path}: nothing playable: "
                              f"{'; '.join(unplayable) or 'the bag has no topics'}")
        self.clock = None
        if options.clock_hz is not None:
            clock_type = import_message_type(CLOCK_TYPE)
            self.clock = session.node.create_publisher(clock_type, CLOCK_TOPIC, 10)
            self._clock_type = clock_type
        self._clock_due = 0.0

    # ----- types -----------------------------------------------------------------------------
    def _topic_type(self, topic: str, unplayable: list[str]) -> type | None:
        """The class to publish ``topic`` with, or None (skipped, reason appended)."""
        info = self.reader.topics[topic]
        if SERVICE_EVENT_TYPE.match(info.type):
            self.stats.skipped_service_events[topic] = info.count
            self.warn(f"skipping {info.count} service event(s) on {topic} ({info.type}): "
                      "service events are not replayed as topics")
            unplayable.append(f"{topic} carries service events")
            return None
        msg_type = import_message_type(info.type)
        if msg_type is not None:
            return msg_type
        if info.count == 0:  # nothing to publish: no build, no warning
            unplayable.append(f"{topic} ({info.type}) has no messages")
            return None
        try:
            return message_class(info.type, self._definitions(), on_build=self._on_build)
        except MessagePackageError as exc:
            self.stats.skipped_types[info.type] = \
                self.stats.skipped_types.get(info.type, 0) + info.count
            self.warn(f"skipping {info.count} message(s) on {topic}: type {info.type} is not "
                      f"importable here and cannot be built: {exc}")
            unplayable.append(f"{topic}: {info.type} cannot be built ({exc})")
            return None

    def _definitions(self) -> dict[str, str]:
        """The bag's definitions of every type that is not installed and has messages, merged,
        so that each package is built once with all of its types (a package cannot be loaded
        twice in one process)."""
        if self._bag_definitions is None:
            merged: dict[str, str] = {}
            for info in self.reader.topics.values():
                if info.count and not SERVICE_EVENT_TYPE.match(info.type) \
                        and import_message_type(info.type) is None:
                    for name, text in self.reader.type_definitions(info.type).items():
                        merged.setdefault(name, text)
            self._bag_definitions = merged
        return self._bag_definitions

    def _on_build(self, package: str, prefix: Path) -> None:
        self.warn(f"building message package {package} from the bag's definitions "
                  f"(once, cached in {prefix})")

    # ----- publishing ------------------------------------------------------------------------
    def published_name(self, topic: str) -> str:
        return self.options.remap.get(topic, topic)

    def publish(self, topic: str, data: bytes | memoryview) -> None:
        self.publishers[topic].publish(bytes(data))
        self.stats.published[topic] += 1

    def publish_clock(self, bag_time_ns: int, force: bool = False) -> None:
        """``/clock`` at ``bag_time_ns``, at most ``clock_hz`` times a second unless forced."""
        if self.clock is None:
            return
        now = time.monotonic()
        if not force and now < self._clock_due:
            return
        self._clock_due = now + 1.0 / (self.options.clock_hz or DEFAULT_CLOCK_HZ)
        msg = self._clock_type()
        msg.clock.sec, msg.clock.nanosec = ns_to_stamp(int(bag_time_ns))
        self.clock.publish(msg)
        self.stats.clock_messages += 1

    def wait_for_subscribers(self, timeout: float, topics: list[str] | None = None) -> bool:
        """Spin until every publisher of ``topics`` (all by default) has a subscriber."""
        chosen = [self.publishers[t] for t in (topics or list(self.publishers))]
        return self.session.spin_until(
            lambda: all(p.get_subscription_count() > 0 for p in chosen), timeout)

    # ----- playing ---------------------------------------------------------------------------
    def _wait_until(self, target: float, bag_time: Callable[[], int]) -> None:
        while True:
            remaining = target - time.monotonic()
            if remaining <= 0:
                return
            self.publish_clock(bag_time())
            self.session.executor.spin_once(timeout_sec=min(remaining, 0.01))
            if not self.session.alive():
                raise ReplayError("tracker_node exited while the bag was playing")

    def messages(self) -> Iterator[BagMessage]:
        if not self.publishers:  # never ask for no topics: some readers take that as "all"
            return iter(())
        return self.reader.messages(list(self.publishers))

    def play(
        self, answered: Callable[[int], bool] | None = None,
        on_image: Callable[[int], None] | None = None,
        progress: Callable[[int], None] | None = None, reports: Any = None,
    ) -> PlayStats:
        """Play the bag once (or forever with ``loop``); returns the statistics.

        ``on_image(stamp)`` runs just before an image of the lock-step topic is published;
        ``answered(stamp)`` says whether its output has arrived (lock-step only);
        ``reports`` (a ``CameraReports``) says whether the node refused or dropped it.
        """
        started = time.perf_counter()
        while True:
            self._play_once(answered, on_image, progress, reports)
            if not self.options.loop:
                break
        self.stats.seconds = time.perf_counter() - started
        return self.stats

    def _play_once(self, answered, on_image, progress, reports) -> None:
        options, stats = self.options, self.stats
        rate = options.rate if options.rate > 0 else 1.0
        start_wall = time.monotonic()
        bag_start: int | None = None
        last_stamp = None
        for message in self.messages():
            if bag_start is None:
                bag_start = message.log_time_ns
                self._preroll_clock(bag_start)
                start_wall = time.monotonic()
            offset = ns_to_seconds(message.log_time_ns - bag_start) / rate
            if not options.lockstep:
                target = start_wall + offset
                if time.monotonic() - target > 0.5:  # fell behind: count, do not burst
                    stats.late_publishes += 1
                self._wait_until(target, lambda b=bag_start, w=start_wall: b + seconds_to_ns(
                    (time.monotonic() - w) * rate))
            else:
                self.publish_clock(message.log_time_ns, force=True)
            is_image = message.topic == self.image_topic if self.image_topic is not None \
                else message.type in IMAGE_TYPES
            stamp = header_stamp_ns(message.data) if is_image else None
            if stamp is not None:
                if last_stamp is not None and stamp <= last_stamp:
                    stats.stamps_out_of_order += 1
                    if stats.stamps_out_of_order == 1:
                        self.warn(f"image stamps out of order on {message.topic}: "
                                  f"{stamp} after {last_stamp} (counted, played as recorded)")
                last_stamp = stamp
                if on_image is not None:
                    on_image(stamp)
            mark = reports.mark() if stamp is not None and reports is not None else None
            self.publish(message.topic, message.data)
            if stamp is not None:
                stats.images_sent.append(stamp)
                if options.lockstep and answered is not None:
                    self._wait_answer(stamp, answered, message.log_time_ns, reports, mark)
                if progress is not None:
                    progress(len(stats.images_sent))

    def _preroll_clock(self, bag_start: int) -> None:
        """``/clock`` at the bag's start before the first message: for :data:`CLOCK_PREROLL_S`
        and until every ``/clock`` subscription the graph shows has matched our publisher
        (at most :data:`CLOCK_MATCH_WAIT_S`), so sim-time subscribers that are still being
        discovered know the bag's time before the first image reaches them.

        DDS matching is two-sided and we only see our side, so after the last match we keep
        publishing for :data:`CLOCK_MATCH_GRACE_S` while the subscribers match us."""
        if self.clock is None:
            return
        node, clock = self.session.node, self.clock
        earliest = time.monotonic() + CLOCK_PREROLL_S
        latest = time.monotonic() + CLOCK_MATCH_WAIT_S
        matched_at: float | None = None
        self.publish_clock(bag_start, force=True)
        while True:
            self._wait_until(time.monotonic() + 0.05, lambda: bag_start)
            now = time.monotonic()
            if clock.get_subscription_count() < node.count_subscribers(CLOCK_TOPIC):
                matched_at = None
            elif matched_at is None:
                matched_at = now
            if now >= latest or (matched_at is not None
                                 and now >= max(earliest, matched_at + CLOCK_MATCH_GRACE_S)):
                break
        self.publish_clock(bag_start, force=True)  # the newest matches see it now, too

    def _wait_answer(self, stamp: int, answered: Callable[[int], bool], bag_time: int,
                     reports: Any = None, mark: Any = None) -> None:
        deadline = time.monotonic() + self.options.timeout
        while not answered(stamp):
            outcome = reports.outcome_since(mark) if reports is not None else None
            if outcome is not None:
                self.stats.reported[stamp] = outcome
                return
            if time.monotonic() > deadline:
                self.stats.timed_out.append(stamp)
                return
            self.publish_clock(bag_time)
            self.session.executor.spin_once(timeout_sec=0.01)
            if not self.session.alive():
                raise ReplayError("tracker_node exited while the bag was playing")
