"""What the node answered for one frame, and those answers as MOT result rows.

ROS-free: a :class:`FrameResult` is what one ``Detection2DArray`` said about one frame, as
recorded in an output bag (:mod:`fairmot_ros.replay.eval`) or received live by the demo's
observer (:mod:`fairmot_ros.replay.lockstep`); pictures (:mod:`fairmot_ros.replay.render`) and
MOT files (:func:`mot_rows` for :func:`fairmot_ros.evaluation.mot_io.write_mot_results`) are
made from these records, so they show exactly what the node published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fairmot_ros.stamps import time_to_ns

__all__ = ["FrameResult", "detections_result", "mot_rows", "numeric_track_id"]


@dataclass
class FrameResult:
    """One frame as the node answered it: published ids and Kalman boxes (tlwh, pixels)."""

    frame: int
    stamp_ns: int
    ids: list[str]
    tlwh: np.ndarray
    scores: np.ndarray
    round_trip_s: float | None = None
    frame_id: str = ""

    def __len__(self) -> int:
        return len(self.ids)


def detections_result(msg: Any, frame: int) -> FrameResult:
    """One ``Detection2DArray`` (rclpy or rosbags object) as a :class:`FrameResult`: ids,
    Kalman boxes as tlwh from centre and size, score of the first hypothesis (NaN if none)."""
    detections = list(msg.detections)
    centres = np.array([(d.bbox.center.position.x, d.bbox.center.position.y)
                        for d in detections], dtype=np.float64).reshape(-1, 2)
    sizes = np.array([(d.bbox.size_x, d.bbox.size_y) for d in detections],
                     dtype=np.float64).reshape(-1, 2)
    tlwh = np.hstack([centres - sizes / 2.0, sizes])
    scores = np.array([d.results[0].hypothesis.score if len(d.results) else np.nan
                       for d in detections], dtype=np.float64)
    return FrameResult(frame, time_to_ns(msg.header.stamp), [str(d.id) for d in detections],
                       tlwh, scores, frame_id=msg.header.frame_id)


def numeric_track_id(track_id: str, table: dict[str, int]) -> int:
    """The integer MOT id of a published id: ``"12"`` -> 12; other strings get fresh numbers.

    A single-camera node publishes decimal ids; prefixed ids (``"cam0/12"``) are numbered in
    order of appearance from 1000000 on (through ``table``) so they cannot collide with those.
    """
    if track_id.isdigit():
        return int(track_id)
    return table.setdefault(track_id, 1_000_000 + len(table))


def mot_rows(results: Mapping[int, FrameResult]) -> list[tuple[int, int, np.ndarray]]:
    """``(frame, id, tlwh)`` rows for :func:`fairmot_ros.evaluation.mot_io.write_mot_results`."""
    table: dict[str, int] = {}
    rows = []
    for frame in sorted(results):
        result = results[frame]
        for track_id, box in zip(result.ids, result.tlwh, strict=True):
            rows.append((frame, numeric_track_id(track_id, table), np.asarray(box, float)))
    return rows
