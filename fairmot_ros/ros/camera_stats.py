"""Per-camera counters of the tracker node, read by its diagnostics reports.

The image thread and the subscription callbacks record into ``CameraStats`` (a few additions
under an uncontended lock per frame); the diagnostics reporter takes an interval snapshot once
per period and turns it into rates, latencies and drop counts.

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
* ``reidentified``: new tracks published under the id of a person who had left
  (``tracker.reid_memory_s``).
Every received frame ends up exactly once as published, dropped or rejected. A refused or
dropped frame also calls ``on_frame_lost``: the node then reports at once
(``fairmot_ros.ros.reports.PromptReports``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CameraStats", "IntervalSummary"]


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
    total_reidentified: int = 0
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
    reidentified: int = 0
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

    def record_reidentified(self, count: int) -> None:
        with self._lock:
            self.reidentified += count

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
                total_reidentified=self.reidentified,
                publishers=len(self._period_publishers),
            )
            if restart:
                self._period_publishers = set()
                self._period_start = totals
                self._latency, self._processing, self._age = (
                    _Accumulator(), _Accumulator(), _Accumulator()
                )
        return summary
