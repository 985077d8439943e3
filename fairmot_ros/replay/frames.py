"""Frames in and out of bags: a video or image folder becomes a bag, a bag's images become BGR.

ROS-free. Images are written as ``sensor_msgs/Image`` (``bgr8``, no row padding) or as
``sensor_msgs/CompressedImage`` (JPEG or PNG), stamped ``t0 + (frame - 1) / fps`` with the frame
number of the source (so the stamps of PETS09-S2L1 frames 401-795 say which frames they are);
the log time of each message equals its stamp, as when a camera driver's messages are recorded
without delay. The default ``t0`` is one frame period: stamps are then ``frame / fps``, the
timestamps ``fairmot-eval`` gives the tracker, so a replay tracks with the same time steps.

Image bytes are read and written by :mod:`fairmot_ros.image_bytes`, the node's own decoding of
image messages, so a rendered frame is the frame the node saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fairmot_ros.bags import (
    BagError,
    BagReader,
    BagWriter,
    QosSpec,
    message_class,
    serialize,
)
from fairmot_ros.image_bytes import (
    COMPRESSED_FORMATS,
    ImageDecodeError,
    bgr8_fields,
    compressed_to_bgr,
    encode_compressed,
    raw_to_bgr,
)
from fairmot_ros.sequences import MotSequence
from fairmot_ros.stamps import ns_to_stamp

__all__ = [
    "COMPRESSED_TYPE",
    "IMAGE_TYPE",
    "BagFrame",
    "bag_frames",
    "choose_image_topic",
    "frame_stamp_ns",
    "image_message_bytes",
    "message_header",
    "video_to_bag",
]

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
FIRST_FRAME_KEY = "fairmot_ros.first_frame"  # custom_data: source frame number of image 1
SOURCE_KEY = "fairmot_ros.source"
# What a camera driver offers for raw images and what the player uses for them: reliable so a
# lock-step replay loses nothing, depth 10 as rclcpp's default.
IMAGE_QOS = QosSpec("reliable", "volatile", "keep_last", 10)


def frame_stamp_ns(frame: int, fps: float, t0_ns: int | None = None) -> int:
    """Stamp of 1-based ``frame``: ``t0 + (frame - 1) / fps``; ``frame / fps`` without ``t0``
    (never zero, which the node would replace by its receive time)."""
    if t0_ns is None:
        return round(frame * 1e9 / fps)
    return t0_ns + round((frame - 1) * 1e9 / fps)


def message_header(stamp_ns: int, frame_id: str) -> object:
    """A ``std_msgs/Header`` (rosbags object, for :func:`fairmot_ros.bags.serialize`)."""
    sec, nanosec = ns_to_stamp(stamp_ns)
    time = message_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)
    return message_class("std_msgs/msg/Header")(stamp=time, frame_id=frame_id)


def image_message_bytes(image: np.ndarray, stamp_ns: int, frame_id: str,
                        compressed: str | None = None) -> tuple[str, bytes]:
    """``(type, CDR bytes)`` of a BGR frame as ``Image`` (bgr8) or ``CompressedImage``."""
    header = message_header(stamp_ns, frame_id)
    if compressed:
        try:
            payload = encode_compressed(image, compressed)
        except ValueError as exc:
            raise BagError(str(exc)) from None
        msg = message_class(COMPRESSED_TYPE)(header=header, format=compressed, data=payload)
        return COMPRESSED_TYPE, serialize(msg, COMPRESSED_TYPE)
    msg = message_class(IMAGE_TYPE)(header=header, **bgr8_fields(image))
    return IMAGE_TYPE, serialize(msg, IMAGE_TYPE)


@dataclass
class VideoBagSummary:
    """What :func:`video_to_bag` wrote."""

    path: Path
    topic: str
    type: str
    frames: int
    first_frame: int
    last_frame: int
    fps: float
    size: tuple[int, int]


def video_to_bag(
    sequence: MotSequence, out: Path, topic: str = "/camera/image_raw", frame_id: str = "camera",
    fps: float | None = None, t0_ns: int | None = None, resize: tuple[int, int] | None = None,
    compressed: str | None = None, storage: str = "mcap", overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VideoBagSummary:
    """Write the frames of ``sequence`` (its frame range) as a bag with one image topic."""
    rate = fps or (sequence.frame_rate if sequence.frame_rate > 0 else 30.0)
    if compressed is not None and compressed not in COMPRESSED_FORMATS:
        raise BagError(f"--compressed must be jpeg or png, not {compressed!r}")
    typename = COMPRESSED_TYPE if compressed else IMAGE_TYPE
    custom = {FIRST_FRAME_KEY: str(sequence.first), SOURCE_KEY: sequence.name or
              str(sequence.source)}
    count, first, last, size = 0, 0, 0, (0, 0)
    with BagWriter(out, storage, overwrite, custom_data=custom) as writer:
        writer.add_topic(topic, typename, [IMAGE_QOS])
        for frame, image in sequence.frames():
            if resize is not None:
                image = cv2.resize(image, resize, interpolation=cv2.INTER_AREA)
            stamp = frame_stamp_ns(frame, rate, t0_ns)
            _, data = image_message_bytes(image, stamp, frame_id, compressed)
            writer.write(topic, stamp, data)
            count, last = count + 1, frame
            first = first or frame
            size = (image.shape[1], image.shape[0])
            if progress is not None:
                progress(count)
    if not count:
        raise BagError("the frame range selects no frames of the source")
    return VideoBagSummary(out, topic, typename, count, first, last, rate, size)


def choose_image_topic(reader: BagReader, topics: list[str] | None = None) -> str:
    """The one image topic to use: the only one in the bag, or the one named in ``topics``."""
    images = reader.image_topics()
    if topics:
        chosen = [t for t in topics if t in images]
        missing = [t for t in topics if t not in reader.topics]
        if missing:
            raise BagError(f"{reader.path} has no topic {', '.join(missing)} "
                           f"(image topics: {', '.join(images) or 'none'})")
        if len(chosen) != 1:
            raise BagError(f"name exactly one image topic with --topics (image topics: "
                           f"{', '.join(images) or 'none'})")
        return chosen[0]
    if not images:
        raise BagError(f"{reader.path} has no sensor_msgs Image or CompressedImage topic")
    if len(images) > 1:
        raise BagError(f"{reader.path} has several image topics ({', '.join(images)}); "
                       "choose one with --topics")
    return images[0]


@dataclass
class BagFrame:
    """One image of a bag: its header stamp, decoded BGR pixels and the raw message."""

    stamp_ns: int
    image: np.ndarray | None
    log_time_ns: int


def bag_frames(reader: BagReader, topic: str, decode: bool = True) -> Iterator[BagFrame]:
    """The images of ``topic`` in recorded order; ``decode=False`` reads stamps only."""
    from fairmot_ros.bags import header_stamp_ns

    for message in reader.messages([topic]):
        image = None
        if decode:
            msg = reader.decode(message)
            try:
                if message.type == COMPRESSED_TYPE:
                    image = compressed_to_bgr(msg.format, msg.data)
                else:
                    image = raw_to_bgr(msg.encoding, msg.height, msg.width, msg.step,
                                       msg.is_bigendian, msg.data)
            except ImageDecodeError as exc:
                raise BagError(f"an image of {topic} does not decode: {exc}") from None
        yield BagFrame(header_stamp_ns(message.data), image, message.log_time_ns)
