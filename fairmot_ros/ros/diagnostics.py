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
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

__all__ = [
    "CameraStats",
    "IntervalSummary",
    "camera_status",
    "engine_status",
    "missed_frames_advice",
]

# Frames missed before the node during one period that call for the advice: at least this
# many, and at least as many as arrived.
MISSED_ADVICE_MIN = 10


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

    def record_received(self, replaced: bool, missed: int, publisher: bytes | None = None) -> None:
        with self._lock:
            self.received += 1
            self.dropped += replaced
            self.missed += missed
            if publisher is not None:
                self._period_publishers.add(publisher)

    def record_rejected(self, reason: str, detail: str) -> None:
        with self._lock:
            self.rejected += 1
            self.rejected_reasons[reason] += 1
            self.last_rejection = f"{reason}: {detail}"

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

    def interval(self, seconds: float) -> IntervalSummary:
        """Summarise the period that ends now and start the next one."""
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
            self._period_publishers = set()
            self._period_start = totals
            self._latency, self._processing, self._age = (
                _Accumulator(), _Accumulator(), _Accumulator()
            )
        return summary


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
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(summary.rejected_reasons.items()))
    return DiagnosticStatus(
        level=level,
        name=f"fairmot_tracker: {name}",
        message=message,
        hardware_id=topic,
        values=_values(
            [
                ("input rate (Hz)", f"{summary.input_rate:.2f}"),
                ("output rate (Hz)", f"{summary.output_rate:.2f}"),
                ("frames received", summary.total_received),
                ("frames published", summary.total_published),
                ("frames dropped (replaced while busy)", summary.total_dropped),
                ("frames missed before the node (sequence gaps)", summary.total_missed),
                ("frames rejected (undecodable)", summary.total_rejected),
                ("store emptied (stamps went back)", summary.total_time_reversals),
                ("store emptied (image size changed)", summary.total_size_changes),
                ("tracks removed by max_tracks", summary.total_capped),
                ("publishers seen", summary.publishers),
                ("rejection reasons", reasons or "none"),
                ("last rejection", last_rejection or "none"),
                ("processing latency mean (ms)", f"{summary.processing_mean_ms:.2f}"),
                ("processing latency max (ms)", f"{summary.processing_max_ms:.2f}"),
                ("receive to publish latency mean (ms)", f"{summary.latency_mean_ms:.2f}"),
                ("receive to publish latency max (ms)", f"{summary.latency_max_ms:.2f}"),
                ("image age at publish mean (ms)", f"{summary.age_mean_ms:.2f}"),
                ("image age at publish max (ms)", f"{summary.age_max_ms:.2f}"),
                ("active tracks", active_tracks),
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
        name="fairmot_tracker: inference",
        message=message,
        hardware_id=provider,
        values=_values(
            [
                ("model", model_path),
                ("model name", model_name or "unnamed"),
                ("arch", arch),
                ("input size (WxH)", f"{width}x{height}"),
                ("execution provider", provider),
                ("requested providers", ", ".join(requested)),
            ]
        ),
    )
