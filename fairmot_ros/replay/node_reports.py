"""What became of a frame sent to the tracker node in lock-step: answered, refused or dropped.

The node answers a frame it tracks with outputs stamped like it. A frame it refuses (by reason:
doc/failure-behaviour.md) or drops gets no output, but the node then publishes its
``/diagnostics`` report at once instead of at the next period
(``fairmot_ros.ros.diagnostics.PromptReports``). :class:`CameraReports` keeps the latest
refusal counters (by reason) and drop counter of one camera: the status whose ``hardware_id``
is the camera's image topic as the node resolved it. The counters are totals since the node
started, so a driver first hears one report (:meth:`CameraReports.settle`), then takes
:meth:`CameraReports.mark` before it sends a frame; while no answer has come,
:meth:`CameraReports.outcome_since` names the reason once a counter moved (only one frame is
outstanding in lock-step, so the count is that frame's), and the next frame leaves at once. A
frame that is neither answered nor reported (another node, no report heard yet) still waits
for the timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray

from fairmot_ros.ros import diagnostic_keys as keys

__all__ = ["DROPPED", "CameraReports", "FrameCounts", "camera_values"]

# The outcome of a frame the node replaced in its mailbox by a newer one.
DROPPED = "dropped"
# How long settle() listens for a report: the node reports every diagnostics_period (1 s by
# default) besides the prompt reports.
SETTLE_TIMEOUT_S = 3.0


def camera_values(msg: DiagnosticArray, image_topic: str) -> dict[str, str] | None:
    """The key/value pairs of the node's status for the camera on ``image_topic``, or None."""
    for status in msg.status:
        if status.name.startswith(keys.STATUS_PREFIX) and status.hardware_id == image_topic:
            return {kv.key: kv.value for kv in status.values}
    return None


def _count(text: str | None) -> int:
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


@dataclass(frozen=True)
class FrameCounts:
    """One camera's totals of frames refused (by reason) and dropped, from one report."""

    refused: Mapping[str, int] = field(default_factory=dict)
    dropped: int = 0

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> FrameCounts:
        return cls(keys.parse_reasons(values.get(keys.REJECTION_REASONS, "")),
                   _count(values.get(keys.FRAMES_DROPPED)))


class CameraReports:
    """The latest :class:`FrameCounts` of the camera on ``image_topic`` (see the module doc).

    Feed it every ``/diagnostics`` message (:meth:`on_diagnostics`), or let it subscribe.
    """

    def __init__(self, image_topic: str) -> None:
        self.image_topic = image_topic
        self.latest = FrameCounts()
        self.reports = 0

    def subscribe(self, node: Any) -> Any:
        """Subscribe ``node`` to ``/diagnostics`` (reliable, as the tracker node publishes)."""
        return node.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)

    def on_diagnostics(self, msg: DiagnosticArray) -> dict[str, str] | None:
        """Take the camera's counters from one report; returns its values (None: not there)."""
        values = camera_values(msg, self.image_topic)
        if values is not None:
            self.latest = FrameCounts.from_values(values)
            self.reports += 1
        return values

    def settle(self, spin_until: Callable[[Callable[[], bool], float], bool],
               timeout: float = SETTLE_TIMEOUT_S) -> bool:
        """Wait (``spin_until(condition, timeout)``) for a report heard from now on, so the
        counters include every frame before the run; False when none came."""
        heard = self.reports
        return spin_until(lambda: self.reports > heard, timeout)

    def mark(self) -> FrameCounts | None:
        """The counters now: take this just before a frame goes out (None until a report was
        heard: nothing to compare with)."""
        return self.latest if self.reports else None

    def outcome_since(self, mark: FrameCounts | None) -> str | None:
        """The rejection reason whose count rose since ``mark``, else :data:`DROPPED` when the
        drop count rose, else None (no report of a lost frame yet, or no ``mark``)."""
        if mark is None:
            return None
        latest = self.latest
        for reason, count in sorted(latest.refused.items()):
            if count > mark.refused.get(reason, 0):
                return reason
        return DROPPED if latest.dropped > mark.dropped else None
