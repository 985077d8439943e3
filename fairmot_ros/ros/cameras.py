"""One camera served by the node, on its ROS side: names, handles and statistics.

Everything that depends on the camera's own tracking history (tracker, camera motion, the
policy that empties the store) is its ROS-free :class:`fairmot_ros.pipeline.CameraPipeline`;
all cameras share the node's single detector (one ONNX Runtime session). So two cameras never
share track ids, trails or statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fairmot_ros.pipeline import CameraPipeline
from fairmot_ros.ros.camera_stats import CameraStats
from fairmot_ros.spatial.stage import SpatialSettings
from fairmot_ros.tracking import TrackerConfig
from fairmot_ros.visualize import TrailHistory

__all__ = ["Camera", "PendingFrame", "SequenceGaps", "make_cameras", "publisher_key"]

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


class SequenceGaps:
    """Frames lost before the node, from gaps in each publisher's sequence numbers."""

    def __init__(self) -> None:
        # Latest publication sequence number per publisher GID, in order of last use.
        self.last_sequence: dict[bytes, int] = {}

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


@dataclass
class Camera:
    """One camera. ``prefix`` is prepended to every published id (``"cam0/"`` when the node
    serves several cameras, empty otherwise); ``output_namespace`` is where its topics go;
    ``pending`` is its one-slot mailbox (guarded by the node's frame condition); ``trails``
    are the recent positions drawn on its debug image."""

    name: str
    topic: str
    prefix: str
    output_namespace: str
    pipeline: CameraPipeline
    trails: TrailHistory
    stats: CameraStats = field(default_factory=CameraStats)
    gaps: SequenceGaps = field(default_factory=SequenceGaps)
    pending: PendingFrame | None = None
    subscription: Any = None
    detections_pub: Any = None
    tracks_pub: Any = None
    debug_pub: Any = None
    spatial: Any = None  # its SpatialCamera (fairmot_ros.ros.spatial_node) with 3D on

    def output_topic(self, leaf: str) -> str:
        return f"{self.output_namespace}/{leaf}"

    def offer(self, frame: PendingFrame) -> bool:
        """Put the newest frame in the one-slot mailbox; True when it replaced an unprocessed one.

        Called with the node's frame condition held.
        """
        replaced = self.pending is not None
        self.pending = frame
        return replaced

    def take(self) -> PendingFrame | None:
        """Empty the mailbox (with the frame condition held)."""
        frame, self.pending = self.pending, None
        return frame


def publisher_key(info: dict) -> bytes | None:
    """The publisher GID of a message as ``bytes`` (None where the middleware gives none)."""
    gid = info.get("publisher_gid")
    return None if gid is None else bytes(gid["data"])


def make_cameras(
    topics: tuple[str, ...], names: tuple[str, ...], config: TrackerConfig, trail_length: int,
    detector: Any = None, spatial: SpatialSettings | None = None,
) -> list[Camera]:
    """One ``Camera`` per subscribed topic, each with a fresh pipeline (ids from 1) around the
    shared ``detector``, locating people in 3D with ``spatial`` settings."""
    several = len(topics) > 1
    return [
        Camera(
            name=name,
            topic=topic,
            prefix=f"{name}/" if several else "",
            output_namespace=f"~/{name}" if several else "~",
            pipeline=CameraPipeline(config, detector, spatial),
            trails=TrailHistory(max_points=trail_length),
        )
        for topic, name in zip(topics, names, strict=True)
    ]
