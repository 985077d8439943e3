"""The node's settings: every parameter value typed and checked, swapped whole on a change.

Built from the declaration table of :mod:`fairmot_ros.ros.parameters`; the tracker part is
checked by ``TrackerConfig.validate``, so a runtime change follows the rules the core applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fairmot_ros.ros.parameters import (
    ALL_PARAMETERS,
    BY_NAME,
    CAMERA_NAME,
    CLASS_ID_MAX_LENGTH,
    MAX_CAMERAS,
    TRACKER_PREFIX,
    format_value,
)
from fairmot_ros.ros.spatial_settings import SpatialNodeSettings, spatial_settings
from fairmot_ros.tracking import TrackerConfig

__all__ = ["NodeSettings", "settings_from_values"]


@dataclass(frozen=True)
class NodeSettings:
    """All parameter values, typed and validated; swapped whole on every accepted change.

    The image thread reads one ``NodeSettings`` reference per frame, so it never sees a
    half-applied change and never calls into the parameter API.
    """

    model: str
    providers: tuple[str, ...]
    require_gpu: bool
    intra_op_threads: int
    heads_at_peaks: bool
    topk: int
    image_topics: tuple[str, ...]
    camera_names: tuple[str, ...]
    compressed: bool
    qos_reliability: str
    queue_depth: int
    max_image_pixels: int
    class_id: str
    publish_embeddings: bool
    debug_trail_length: int
    diagnostics_period: float
    tracker: TrackerConfig
    spatial: SpatialNodeSettings = SpatialNodeSettings()

    @property
    def subscribed_topics(self) -> tuple[str, ...]:
        suffix = "/compressed" if self.compressed else ""
        return tuple(topic.rstrip("/") + suffix for topic in self.image_topics)


def _camera_names(topics: Sequence[str], names: Sequence[str]) -> tuple[str, ...]:
    if not names:
        return tuple(f"cam{i}" for i in range(len(topics)))
    return tuple(names)


def _topic_problems(topics: Sequence[str]) -> list[str]:
    """Topic names rcl would refuse when subscribing (checked by rclpy's own validator where
    rclpy is installed), so the node says so at start-up instead of failing to subscribe."""
    try:
        from rclpy.exceptions import InvalidTopicNameException
        from rclpy.validate_topic_name import validate_topic_name
    except ImportError:
        return []
    problems = []
    for topic in topics:
        if "\x00" in topic:
            continue  # reported with the other NUL characters
        try:
            validate_topic_name(topic)
        except InvalidTopicNameException as exc:
            reason = str(exc).splitlines()[0].removeprefix("Invalid topic name: ").rstrip(":")
            problems.append(f"image_topics entry {topic!r} is not a valid topic name: {reason}")
    return problems


def _string_problems(merged: Mapping[str, Any]) -> list[str]:
    """NUL characters (rcl strings end there, so the value would be cut silently) and an
    oversized class_id."""
    problems = []
    for name, value in merged.items():
        texts = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            problems.append(f"{name} contains a NUL character")
    class_id = merged["class_id"]
    if isinstance(class_id, str) and len(class_id) > CLASS_ID_MAX_LENGTH:
        problems.append(
            f"class_id has {len(class_id)} characters, at most {CLASS_ID_MAX_LENGTH}"
        )
    return problems


def settings_from_values(values: Mapping[str, Any]) -> NodeSettings:
    """Build validated settings from parameter values (missing names take their defaults).

    Raises ``ValueError`` whose message lists every problem, for the parameter callback to
    hand back as the rejection reason.
    """
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown parameters: {', '.join(unknown)}")
    merged = {spec.name: spec.default for spec in ALL_PARAMETERS}
    merged.update({name: value for name, value in values.items() if value is not None})
    problems: list[str] = []
    for name, value in merged.items():
        spec = BY_NAME[name]
        if isinstance(value, float) and math.isnan(value):
            problems.append(f"{name} is NaN")
        elif spec.choices and value not in spec.choices:
            problems.append(f"{name} {value!r} is not one of {', '.join(spec.choices)}")
        elif spec.low is not None and spec.high is not None and not (
            spec.low <= value <= spec.high
        ):
            low, high = format_value(spec.low), format_value(spec.high)
            problems.append(f"{name} {value} is outside [{low}, {high}]")

    topics = tuple(str(t) for t in merged["image_topics"])
    names = _camera_names(topics, [str(n) for n in merged["camera_names"]])
    if not topics or any(not t.strip("/ ") for t in topics):
        problems.append(f"image_topics {list(topics)} must list at least one non-empty topic")
    if len(set(topics)) != len(topics):
        problems.append(f"image_topics {list(topics)} contains duplicates")
    if len(names) != len(topics):
        problems.append(
            f"camera_names has {len(names)} entries for {len(topics)} image_topics"
        )
    bad_names = [n for n in names if not CAMERA_NAME.match(n)]
    if bad_names:
        problems.append(f"camera_names {bad_names} must match {CAMERA_NAME.pattern}")
    if len(set(names)) != len(names):
        problems.append(f"camera_names {list(names)} contains duplicates")
    problems.extend(_topic_problems(topics))
    if len(topics) > MAX_CAMERAS:
        problems.append(f"image_topics lists {len(topics)} topics, at most {MAX_CAMERAS}")
    problems.extend(_string_problems(merged))
    if not merged["providers"]:
        problems.append("providers must name at least one ONNX Runtime execution provider")

    tracker_values = {
        name[len(TRACKER_PREFIX):]: value
        for name, value in merged.items()
        if name.startswith(TRACKER_PREFIX)
    }
    tracker = TrackerConfig(**tracker_values)
    problems.extend(tracker.validate())
    spatial, spatial_problems = spatial_settings(merged, topics)
    problems.extend(spatial_problems)
    if problems:
        raise ValueError("; ".join(problems))
    return NodeSettings(
        model=str(merged["model"]),
        providers=tuple(merged["providers"]),
        require_gpu=bool(merged["require_gpu"]),
        intra_op_threads=int(merged["intra_op_threads"]),
        heads_at_peaks=bool(merged["heads_at_peaks"]),
        topk=int(merged["topk"]),
        image_topics=topics,
        camera_names=names,
        compressed=bool(merged["compressed"]),
        qos_reliability=str(merged["qos_reliability"]),
        queue_depth=int(merged["queue_depth"]),
        max_image_pixels=int(merged["max_image_pixels"]),
        class_id=str(merged["class_id"]),
        publish_embeddings=bool(merged["publish_embeddings"]),
        debug_trail_length=int(merged["debug_trail_length"]),
        diagnostics_period=float(merged["diagnostics_period"]),
        tracker=tracker,
        spatial=spatial,
    )
