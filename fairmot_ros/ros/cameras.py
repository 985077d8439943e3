"""One camera served by the node: its topics, tracklet store, id space, mailbox and counters.

All cameras share the node's single detector (one ONNX Runtime session); everything that
depends on the camera's own history lives here, so two cameras never share track ids,
trails or statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fairmot_ros.ros.diagnostics import CameraStats
from fairmot_ros.tracking import JDETracker, TrackerConfig
from fairmot_ros.visualize import TrailHistory

__all__ = ["Camera", "PendingFrame", "make_cameras", "publisher_key"]

# Publishers whose sequence numbers are remembered per camera (the most recently heard).
_MAX_PUBLISHERS = 64


@dataclass(slots=True)
class PendingFrame:
    """A message waiting for the image thread, with when it arrived.

    ``received_perf`` (``time.perf_counter``) times the node's latency; ``received_ns`` (ROS
    clock) stands in for the stamp of images published with a zero stamp.
    """

    msg: Any
    received_perf: float
    received_ns: int
    publisher: bytes | None = None  # GID of the publisher that sent it (from MessageInfo)


@dataclass
class Camera:
    """Per-camera state. ``prefix`` is prepended to every published id (``"cam0/"`` when the
    node serves several cameras, empty otherwise); ``output_namespace`` is where its topics go."""

    name: str
    topic: str
    prefix: str
    output_namespace: str
    tracker: JDETracker
    trails: TrailHistory
    stats: CameraStats = field(default_factory=CameraStats)
    pending: PendingFrame | None = None
    zero_stamp_warned: bool = False
    time_reversals_seen: int = 0
    capped_seen: int = 0
    # (width, height) of the last image tracked: a different size empties the store.
    image_size: tuple[int, int] | None = None
    # Publisher of the last image tracked, the publishers whose images were tracked (most
    # recent last, at most _MAX_PUBLISHERS), and whether "several clocks" was said already.
    last_publisher: bytes | None = None
    tracked_publishers: dict[bytes, None] = field(default_factory=dict)
    several_clocks_warned: bool = False
    # time.monotonic() of the last warning about frames missed before the node.
    missed_warned_at: float | None = None
    # Latest publication sequence number per publisher GID, to count frames lost before us.
    last_sequence: dict[bytes, int] = field(default_factory=dict)
    subscription: Any = None
    detections_pub: Any = None
    tracks_pub: Any = None
    debug_pub: Any = None

    def output_topic(self, leaf: str) -> str:
        return f"{self.output_namespace}/{leaf}"

    def offer(self, frame: PendingFrame) -> bool:
        """Put the newest frame in the one-slot mailbox; True when it replaced an unprocessed one.

        Called with the node's frame condition held.
        """
        replaced = self.pending is not None
        self.pending = frame
        return replaced

    def missed_before(self, info: dict) -> int:
        """Frames of this message's publisher that never reached us since its previous one."""
        sequence = info.get("publication_sequence_number")
        gid = info.get("publisher_gid")
        if sequence is None or gid is None:
            return 0
        key = publisher_key(info)
        last = self.last_sequence.pop(key, None)
        self.last_sequence[key] = sequence  # newest last: the dict is in order of last use
        if len(self.last_sequence) > _MAX_PUBLISHERS:  # publishers come and go on long runs
            del self.last_sequence[next(iter(self.last_sequence))]
        return sequence - last - 1 if last is not None and sequence > last + 1 else 0

    def note_publisher(self, publisher: bytes | None) -> bool:
        """Record the publisher of a tracked image; True when its images were tracked before
        (a publisher that comes back, not a new one such as a restarted bag player)."""
        if publisher is None:
            return False
        known = publisher in self.tracked_publishers
        self.tracked_publishers.pop(publisher, None)
        self.tracked_publishers[publisher] = None  # moved to the end: most recent last
        if len(self.tracked_publishers) > _MAX_PUBLISHERS:
            del self.tracked_publishers[next(iter(self.tracked_publishers))]
        return known

    def take(self) -> PendingFrame | None:
        """Empty the mailbox (with the frame condition held)."""
        frame, self.pending = self.pending, None
        return frame


def publisher_key(info: dict) -> bytes | None:
    """The publisher GID of a message as ``bytes`` (None where the middleware gives none)."""
    gid = info.get("publisher_gid")
    return None if gid is None else bytes(gid["data"])


def make_cameras(
    topics: tuple[str, ...], names: tuple[str, ...], config: TrackerConfig, trail_length: int
) -> list[Camera]:
    """One ``Camera`` per subscribed topic, each with a fresh tracker (ids from 1)."""
    several = len(topics) > 1
    return [
        Camera(
            name=name,
            topic=topic,
            prefix=f"{name}/" if several else "",
            output_namespace=f"~/{name}" if several else "~",
            tracker=JDETracker(config),
            trails=TrailHistory(max_points=trail_length),
        )
        for topic, name in zip(topics, names, strict=True)
    ]
