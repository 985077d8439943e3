"""``fairmot-bag eval``: recorded ``Detection2DArray``s -> MOT results -> TrackEval metrics.

ROS-free. An output is paired with its frame through its header stamp, which the node copies
from the image: frame numbers come from the input bag's image stamps in order, starting at the
source frame number the bag was made from (``from-video`` keeps it in the bag's custom data)
or at ``first_frame`` (default 1, as MOT numbers an image folder). Without an input bag the
outputs' own stamps are numbered the same way, which is right only when no image went
unanswered. Scoring is :func:`fairmot_ros.evaluation.metrics.evaluate_mot`, the code behind
``fairmot-eval``, over the input's frame range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fairmot_ros.bags import BagError, BagReader
from fairmot_ros.evaluation.metrics import METRICS_LIBRARY, evaluate_mot
from fairmot_ros.evaluation.mot_io import read_mot, result_rows
from fairmot_ros.replay.frames import FIRST_FRAME_KEY, bag_frames, choose_image_topic
from fairmot_ros.replay.results import FrameResult, detections_result, mot_rows
from fairmot_ros.stamps import time_to_ns

__all__ = [
    "DETECTIONS_TYPE",
    "RecordedRun",
    "frame_numbers",
    "read_recorded_run",
    "score_rows",
]

DETECTIONS_TYPE = "vision_msgs/msg/Detection2DArray"


@dataclass
class FrameNumbers:
    """Frame number of each image stamp, and what was odd about the stamps."""

    by_stamp: dict[int, int]
    first: int
    last: int
    out_of_order: int = 0
    duplicates: int = 0


def frame_numbers(stamps: list[int], first_frame: int) -> FrameNumbers:
    """Number distinct stamps in increasing order from ``first_frame``; count disorder."""
    out_of_order = sum(b <= a for a, b in zip(stamps, stamps[1:], strict=False))
    unique = sorted(set(stamps))
    by_stamp = {stamp: first_frame + i for i, stamp in enumerate(unique)}
    return FrameNumbers(by_stamp, first_frame, first_frame + max(len(unique) - 1, 0),
                        out_of_order, len(stamps) - len(unique))


def input_frame_numbers(reader: BagReader, topics: list[str] | None = None,
                        first_frame: int | None = None) -> tuple[str, FrameNumbers]:
    """The image topic of an input bag and the frame number of each of its stamps."""
    topic = choose_image_topic(reader, topics)
    stamps = [frame.stamp_ns for frame in bag_frames(reader, topic, decode=False)]
    if first_frame is None:
        first_frame = int(reader.custom_data.get(FIRST_FRAME_KEY, 1) or 1)
    return topic, frame_numbers(stamps, first_frame)


@dataclass
class RecordedRun:
    """The outputs of one recorded run, by frame, and how they matched the input."""

    results: dict[int, FrameResult]
    frames: FrameNumbers
    topic: str
    image_topic: str | None = None
    outputs: int = 0
    unmatched_outputs: int = 0
    duplicate_outputs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def unanswered(self) -> list[int]:
        return sorted(set(self.frames.by_stamp.values()) - set(self.results))


def _detections_topic(reader: BagReader, topic: str | None) -> str:
    if topic is not None:
        if topic not in reader.topics:
            raise BagError(f"{reader.path} has no topic {topic}")
        return topic
    found = sorted(n for n, i in reader.topics.items() if i.type == DETECTIONS_TYPE)
    if not found:
        raise BagError(f"{reader.path} has no {DETECTIONS_TYPE} topic")
    if len(found) > 1:
        raise BagError(f"{reader.path} has several {DETECTIONS_TYPE} topics "
                       f"({', '.join(found)}); choose one with --topic")
    return found[0]


def read_recorded_run(
    output_bag: Path, input_bag: Path | None = None, topic: str | None = None,
    image_topics: list[str] | None = None, first_frame: int | None = None,
) -> RecordedRun:
    """Decode the recorded detections and give each its frame (see the module doc)."""
    notes: list[str] = []
    with BagReader(output_bag) as reader:
        if reader.note:
            notes.append(reader.note)
        topic = _detections_topic(reader, topic)
        messages = [reader.decode(m) for m in reader.messages([topic])]
    stamps_of = [time_to_ns(m.header.stamp) for m in messages]
    image_topic = None
    if input_bag is not None:
        with BagReader(input_bag) as inputs:
            if inputs.note:
                notes.append(inputs.note)
            image_topic, frames = input_frame_numbers(inputs, image_topics, first_frame)
    else:
        frames = frame_numbers(sorted(stamps_of), first_frame or 1)
    if frames.out_of_order:
        notes.append(f"{frames.out_of_order} image stamp(s) out of order: frames are numbered "
                     "in stamp order")
    run = RecordedRun({}, frames, topic, image_topic, outputs=len(messages), notes=notes)
    for msg, stamp in zip(messages, stamps_of, strict=True):
        frame = frames.by_stamp.get(stamp)
        if frame is None:
            run.unmatched_outputs += 1
        elif frame in run.results:
            run.duplicate_outputs += 1
        else:
            run.results[frame] = detections_result(msg, frame)
    return run


def score_rows(gt_rows: np.ndarray, rows: list, first: int, last: int) -> dict[str, Any]:
    """TrackEval metrics of ``(frame, id, tlwh)`` rows over frames ``first..last``, rounded."""
    metrics = evaluate_mot(gt_rows, result_rows(rows), first, last)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in metrics.items()}


def evaluate_run(run: RecordedRun, gt_path: Path) -> dict[str, Any]:
    """The ``fairmot-bag eval`` report of a recorded run against a MOT ground-truth file."""
    if not gt_path.is_file():
        raise BagError(f"ground truth not found: {gt_path}")
    rows = mot_rows(run.results)
    return {
        "detections_topic": run.topic,
        "first_frame": run.frames.first,
        "last_frame": run.frames.last,
        "frames": len(run.frames.by_stamp),
        "answered": len(run.results),
        "unanswered": len(run.unanswered),
        "unmatched_outputs": run.unmatched_outputs,
        "duplicate_outputs": run.duplicate_outputs,
        "notes": run.notes,
        "metrics": score_rows(read_mot(gt_path), rows, run.frames.first, run.frames.last),
        "metrics_library": METRICS_LIBRARY,
    }
