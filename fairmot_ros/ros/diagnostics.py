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
* ``rejected``: a frame whose bytes could not be decoded, by reason.
Every received frame ends up exactly once as published, dropped or rejected.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

__all__ = ["CameraStats", "IntervalSummary", "camera_status", "engine_status"]


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
    _latency: _Accumulator = field(default_factory=_Accumulator)
    _processing: _Accumulator = field(default_factory=_Accumulator)
    _age: _Accumulator = field(default_factory=_Accumulator)
    _period_start: dict[str, int] = field(default_factory=dict)

    def record_received(self, replaced: bool, missed: int) -> None:
        with self._lock:
            self.received += 1
            self.dropped += replaced
            self.missed += missed

    def record_rejected(self, reason: str, detail: str) -> None:
        with self._lock:
            self.rejected += 1
            self.rejected_reasons[reason] += 1
            self.last_rejection = f"{reason}: {detail}"

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
            )
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
    elif summary.rejected:
        level, message = DiagnosticStatus.WARN, f"{summary.rejected} images rejected"
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
