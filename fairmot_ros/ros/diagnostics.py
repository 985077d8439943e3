"""Per-camera counters and the ``diagnostic_msgs/DiagnosticArray`` built from them.

diagnostic_updater is not available as a wheel, so the node publishes diagnostic_msgs itself.
The image thread records into ``CameraStats`` (a few additions under an uncontended lock per
frame); the diagnostics timer takes an interval snapshot once per period and turns it into
rates, latencies and drop counts.

What is counted, per camera:
* ``dropped``: a frame that reached the subscription callback but was replaced in the camera's
  one-slot mailbox by a newer frame before the image thread was free to take it;
* ``missed``: frames that never reached the callback (DDS history overflow while the executor
  was busy, network loss with best effort), counted from gaps in the publishers' sequence
  numbers (``MessageInfo.publication_sequence_number`` per publisher GID; gaps before the first
  message seen from a publisher are not counted, and middlewares without sequence numbers
  report none);
* ``rejected``: a frame refused before tracking, by reason (undecodable bytes, an invalid
  stamp, a size over the pixel limit, an image too thin for the model input);
* ``store resets``: times the camera's tracklet store was emptied because image stamps went
  back in time or the image size changed (the frame itself is tracked and published);
* ``capped``: tracks removed by the ``tracker.max_tracks`` cap.
Every received frame ends up exactly once as published, dropped or rejected.

A refused or dropped frame also makes the node report at once (:class:`PromptReports`, a
coalescing one-shot timer) instead of at the next period, so that a lock-step driver
(``fairmot-bag play --lockstep``, ``fairmot-demo``) learns within milliseconds that the frame it
sent will get no answer (``fairmot_ros.replay.node_reports``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType

from fairmot_ros.ros import diagnostic_keys as keys

__all__ = [
    "CameraStats",
    "IntervalSummary",
    "PromptReports",
    "camera_status",
    "engine_status",
    "missed_frames_advice",
]

# Frames missed before the node during one period that call for the advice: at least this
# many, and at least as many as arrived.
MISSED_ADVICE_MIN = 10
# A prompt report goes out this long after the frame that asks for it (frames refused in a
# burst share it), and at least PROMPT_MIN_GAP_S after the previous prompt report, so a stream
# that drops every other frame adds at most 1 / PROMPT_MIN_GAP_S reports a second.
PROMPT_DELAY_S = 0.002
PROMPT_MIN_GAP_S = 0.1


@dataclass
class IntervalSummary:
    """What happened to one camera's frames during one diagnostics period."""

    seconds: float
    received: int
    published: int
    dropped: int
    rejected: int
    rejected_reasons: dict[str, int]
    latency_mean_ms: float
    latency_max_ms: float
    processing_mean_ms: float
    processing_max_ms: float
    age_mean_ms: float
    age_max_ms: float
    total_received: int
    total_published: int
    total_dropped: int
    total_missed: int
    total_rejected: int
    missed: int = 0
    total_time_reversals: int = 0
    total_size_changes: int = 0
    total_capped: int = 0
    publishers: int = 0

    @property
    def input_rate(self) -> float:
        return self.received / self.seconds if self.seconds > 0 else 0.0

    @property
    def output_rate(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Accumulator:
    count: int = 0
    total: float = 0.0
    peak: float = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value > self.peak:
            self.peak = value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass
class CameraStats:
    """Thread-safe counters of one camera; ``interval`` reads and restarts the period."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    received: int = 0
    published: int = 0
    dropped: int = 0
    missed: int = 0
    rejected: int = 0
    rejected_reasons: Counter = field(default_factory=Counter)
    last_rejection: str = ""
    time_reversals: int = 0
    size_changes: int = 0
    capped: int = 0
    _latency: _Accumulator = field(default_factory=_Accumulator)
    _processing: _Accumulator = field(default_factory=_Accumulator)
    _age: _Accumulator = field(default_factory=_Accumulator)
    _period_start: dict[str, int] = field(default_factory=dict)
    _period_publishers: set = field(default_factory=set)
    # Called (outside the lock, from the recording thread) after a frame was refused or
    # dropped: the node reports at once (PromptReports.request).
    on_frame_lost: Callable[[], None] | None = field(default=None, repr=False)

    def record_received(self, replaced: bool, missed: int, publisher: bytes | None = None) -> None:
        with self._lock:
            self.received += 1
            self.dropped += replaced
            self.missed += missed
            if publisher is not None:
                self._period_publishers.add(publisher)
        if replaced and self.on_frame_lost is not None:
            self.on_frame_lost()

    def record_rejected(self, reason: str, detail: str) -> None:
        with self._lock:
            self.rejected += 1
            self.rejected_reasons[reason] += 1
            self.last_rejection = f"{reason}: {detail}"
        if self.on_frame_lost is not None:
            self.on_frame_lost()

    def record_store_reset(self, cause: str) -> None:
        """The tracklet store was emptied: ``cause`` is "time_reversal" or "size_change"."""
        with self._lock:
            if cause == "time_reversal":
                self.time_reversals += 1
            else:
                self.size_changes += 1

    def record_capped(self, count: int) -> None:
        with self._lock:
            self.capped += count

    def record_published(self, processing_s: float, latency_s: float, age_s: float) -> None:
        """``processing_s``: decode to publish; ``latency_s``: receive to publish;
        ``age_s``: publish time minus the image stamp."""
        with self._lock:
            self.published += 1
            self._processing.add(processing_s)
            self._latency.add(latency_s)
            self._age.add(age_s)

    def interval(self, seconds: float, restart: bool = True) -> IntervalSummary:
        """Summarise the period that ends now and start the next one; with ``restart``
        False, the period so far (``seconds`` long), which goes on."""
        with self._lock:
            start = self._period_start
            totals = {
                "received": self.received,
                "published": self.published,
                "dropped": self.dropped,
                "rejected": self.rejected,
                "missed": self.missed,
            }
            delta = {k: v - start.get(k, 0) for k, v in totals.items()}
            summary = IntervalSummary(
                seconds=seconds,
                received=delta["received"],
                published=delta["published"],
                dropped=delta["dropped"],
                rejected=delta["rejected"],
                rejected_reasons=dict(self.rejected_reasons),
                latency_mean_ms=self._latency.mean * 1e3,
                latency_max_ms=self._latency.peak * 1e3,
                processing_mean_ms=self._processing.mean * 1e3,
                processing_max_ms=self._processing.peak * 1e3,
                age_mean_ms=self._age.mean * 1e3,
                age_max_ms=self._age.peak * 1e3,
                total_received=self.received,
                total_published=self.published,
                total_dropped=self.dropped,
                total_missed=self.missed,
                total_rejected=self.rejected,
                missed=delta["missed"],
                total_time_reversals=self.time_reversals,
                total_size_changes=self.size_changes,
                total_capped=self.capped,
                publishers=len(self._period_publishers),
            )
            if restart:
                self._period_publishers = set()
                self._period_start = totals
                self._latency, self._processing, self._age = (
                    _Accumulator(), _Accumulator(), _Accumulator()
                )
        return summary


class PromptReports:
    """A diagnostics report soon after a frame is refused or dropped, besides the periodic one.

    :meth:`request` may be called from any thread; the report is published from the node's
    executor by a one-shot steady-time timer. Requests made before it fires share its report,
    and prompt reports are at least :data:`PROMPT_MIN_GAP_S` apart.
    """

    def __init__(self, node: Any, publish: Callable[[], None]) -> None:
        self._publish = publish
        self._lock = threading.Lock()
        self._armed = False
        self._last = float("-inf")
        self.timer = node.create_timer(
            PROMPT_DELAY_S, self._fire, clock=Clock(clock_type=ClockType.STEADY_TIME),
            autostart=False,
        )

    def request(self) -> None:
        with self._lock:
            if self._armed:
                return
            self._armed = True
            delay = max(PROMPT_DELAY_S, self._last + PROMPT_MIN_GAP_S - time.monotonic())
            self.timer.timer_period_ns = int(delay * 1e9)
            self.timer.reset()

    def _fire(self) -> None:
        self.timer.cancel()
        with self._lock:  # a request from now on arms the timer again
            self._armed = False
            self._last = time.monotonic()
        self._publish()


def _values(pairs: list[tuple[str, object]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=str(value)) for key, value in pairs]


def camera_status(
    name: str,
    topic: str,
    summary: IntervalSummary,
    active_tracks: int,
    active: bool,
    last_rejection: str = "",
) -> DiagnosticStatus:
    """One camera's status: WARN when it gets no frames while active or frames are rejected."""
    level, message = DiagnosticStatus.OK, "tracking"
    if not active:
        message = "inactive"
    elif summary.received == 0:
        level, message = DiagnosticStatus.WARN, f"no images on {topic}"
    elif summary.publishers > 1:
        level, message = DiagnosticStatus.WARN, f"{summary.publishers} publishers on {topic}"
    elif summary.rejected:
        level, message = DiagnosticStatus.WARN, f"{summary.rejected} images rejected"
    elif summary.missed >= MISSED_ADVICE_MIN and summary.missed >= summary.received:
        level = DiagnosticStatus.WARN
        message = f"{summary.missed} frames missed before the node"
    elif summary.dropped:
        message = f"tracking, {summary.dropped} frames dropped (busy)"
    return DiagnosticStatus(
        level=level,
        name=f"{keys.STATUS_PREFIX}{name}",
        message=message,
        hardware_id=topic,
        values=_values(
            [
                (keys.INPUT_RATE, f"{summary.input_rate:.2f}"),
                (keys.OUTPUT_RATE, f"{summary.output_rate:.2f}"),
                (keys.FRAMES_RECEIVED, summary.total_received),
                (keys.FRAMES_PUBLISHED, summary.total_published),
                (keys.FRAMES_DROPPED, summary.total_dropped),
                (keys.FRAMES_MISSED, summary.total_missed),
                (keys.FRAMES_REJECTED, summary.total_rejected),
                (keys.STORE_EMPTIED_TIME, summary.total_time_reversals),
                (keys.STORE_EMPTIED_SIZE, summary.total_size_changes),
                (keys.TRACKS_CAPPED, summary.total_capped),
                (keys.PUBLISHERS_SEEN, summary.publishers),
                (keys.REJECTION_REASONS, keys.format_reasons(summary.rejected_reasons)),
                (keys.LAST_REJECTION, last_rejection or "none"),
                (keys.PROCESSING_MEAN, f"{summary.processing_mean_ms:.2f}"),
                (keys.PROCESSING_MAX, f"{summary.processing_max_ms:.2f}"),
                (keys.RECEIVE_TO_PUBLISH_MEAN, f"{summary.latency_mean_ms:.2f}"),
                (keys.RECEIVE_TO_PUBLISH_MAX, f"{summary.latency_max_ms:.2f}"),
                (keys.AGE_AT_PUBLISH_MEAN, f"{summary.age_mean_ms:.2f}"),
                (keys.AGE_AT_PUBLISH_MAX, f"{summary.age_max_ms:.2f}"),
                (keys.ACTIVE_TRACKS, active_tracks),
            ]
        ),
    )


def missed_frames_advice(
    summary: IntervalSummary, topic: str, compressed: bool, reliability: str
) -> str | None:
    """The warning for a period in which most frames never reached the node, naming the
    cures; None when the period was fine. Large raw images sent best effort between processes
    are mostly lost in Fast DDS's default UDP transport (fragments dropped), which looks like
    a slow tracker although the node is idle."""
    if summary.missed < MISSED_ADVICE_MIN or summary.missed < summary.received:
        return None
    total = summary.missed + summary.received
    cures = []
    if reliability != "reliable":
        cures.append("reliable QoS on both sides (qos_reliability:=reliable and a reliable "
                     "publisher)")
    if not compressed:
        cures.append("compressed input (compressed:=true)")
    cures.append("the DDS large-data transport (FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA in "
                 "every process)")
    return (
        f"{summary.missed} of {total} frames published on {topic} in the last "
        f"{summary.seconds:.1f} s never reached the node (lost in DDS before it, not dropped "
        f"by it); cures: {'; or '.join(cures)}"
    )


def engine_status(
    model_path: str,
    model_name: str,
    arch: str,
    input_size: tuple[int, int],
    provider: str,
    requested: tuple[str, ...],
    gpu_fallback_reason: str | None,
) -> DiagnosticStatus:
    """The shared inference session: WARN while a requested GPU provider is not active, with
    the reason (:func:`fairmot_ros.engine.gpu_fallback_reason`)."""
    level, message = DiagnosticStatus.OK, f"running on {provider}"
    if gpu_fallback_reason:
        level = DiagnosticStatus.WARN
        message = f"GPU requested but running on {provider}: {gpu_fallback_reason}"
    width, height = input_size
    return DiagnosticStatus(
        level=level,
        name=keys.INFERENCE_STATUS,
        message=message,
        hardware_id=provider,
        values=_values(
            [
                (keys.MODEL, model_path),
                (keys.MODEL_NAME, model_name or "unnamed"),
                (keys.ARCH, arch),
                (keys.INPUT_SIZE, f"{width}x{height}"),
                (keys.EXECUTION_PROVIDER, provider),
                (keys.REQUESTED_PROVIDERS, ", ".join(requested)),
            ]
        ),
    )
