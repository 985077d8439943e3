"""Tracks to ROS messages: ``vision_msgs/Detection2DArray`` and ``fairmot_ros_msgs/TrackArray``.

Both carry the header of the image the tracks were computed from (stamp and frame_id, also in
every ``Detection2D``), so consumers can pair them with the image and with each other without
guessing; the persistent track id is ``Detection2D.id`` itself, as a decimal string, prefixed
``<camera>/`` when one node serves several cameras. Boxes are the tracker's Kalman posterior
in pixels of the source image.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration, Time
from fairmot_ros_msgs.msg import Track as TrackMsg
from fairmot_ros_msgs.msg import TrackArray
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    ObjectHypothesisWithPose,
)

from fairmot_ros.stamps import seconds_to_stamp
from fairmot_ros.tracking import Track, TrackState

__all__ = [
    "detection_array",
    "duration_from_seconds",
    "time_from_seconds",
    "track_array",
    "track_id_string",
]


def track_id_string(track: Track, prefix: str = "") -> str:
    """The id consumers see: ``"12"``, or ``"cam0/12"`` with the prefix ``"cam0/"``."""
    return f"{prefix}{track.track_id}"


def _bbox(tlwh: np.ndarray) -> BoundingBox2D:
    box = BoundingBox2D()
    left, top, width, height = (float(v) for v in tlwh)
    box.center.position.x = left + width / 2.0
    box.center.position.y = top + height / 2.0
    box.size_x = width
    box.size_y = height
    return box


def detection_array(
    tracks: Sequence[Track], header: Any, class_id: str, id_prefix: str = ""
) -> Detection2DArray:
    """One ``Detection2D`` per track with id, Kalman box and one hypothesis (class, score)."""
    out = Detection2DArray(header=header)
    detections = []
    for track in tracks:
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_id
        hypothesis.hypothesis.score = float(track.score)
        detections.append(
            Detection2D(
                header=header,
                results=[hypothesis],
                bbox=_bbox(track.tlwh),
                id=track_id_string(track, id_prefix),
            )
        )
    out.detections = detections
    return out


def time_from_seconds(seconds: float) -> Time:
    """``builtin_interfaces/Time`` from float seconds (float64 keeps about 0.2 us at epoch)."""
    sec, nanosec = seconds_to_stamp(seconds)
    return Time(sec=sec, nanosec=nanosec)


def duration_from_seconds(seconds: float) -> Duration:
    """``builtin_interfaces/Duration`` from float seconds (negative values become zero)."""
    sec, nanosec = seconds_to_stamp(max(0.0, seconds))
    return Duration(sec=sec, nanosec=nanosec)


def _state(track: Track) -> int:
    if track.state == TrackState.Lost:
        return TrackMsg.STATE_LOST
    return TrackMsg.STATE_TRACKED if track.is_activated else TrackMsg.STATE_TENTATIVE


def _float32_array(vector: np.ndarray) -> array:
    values = array("f")
    values.frombytes(np.ascontiguousarray(vector, dtype=np.float32).tobytes())
    return values


def track_array(
    tracks: Sequence[Track], header: Any, id_prefix: str = "", with_embeddings: bool = False
) -> TrackArray:
    """The tracklet store (every live track, tentative, tracked and lost) as a ``TrackArray``."""
    out = TrackArray(header=header)
    messages = []
    for track in tracks:
        vx, vy = track.velocity
        message = TrackMsg(
            id=track_id_string(track, id_prefix),
            track_id=track.track_id,
            state=_state(track),
            score=float(track.score),
            bbox=_bbox(track.tlwh),
            velocity_x=vx,
            velocity_y=vy,
            start_stamp=time_from_seconds(track.start_time),
            age=duration_from_seconds(track.age),
            time_since_update=duration_from_seconds(track.time_since_update),
        )
        if with_embeddings:
            message.embedding = _float32_array(track.embedding)
        messages.append(message)
    out.tracks = messages
    return out
