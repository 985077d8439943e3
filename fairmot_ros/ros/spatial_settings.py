"""The node's 3D settings (``spatial.*`` parameters), typed and checked, without ROS.

:func:`spatial_settings` reads the ``spatial.*`` values of the parameter table, derives the
per-camera topics that were left empty and returns a :class:`SpatialNodeSettings` (with the
core's :class:`~fairmot_ros.spatial.stage.SpatialSettings` when 3D is on) and the problems
found, for the node's settings to report with the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fairmot_ros.spatial.depth import DepthSettings
from fairmot_ros.spatial.motion import MotionSettings
from fairmot_ros.spatial.stage import SpatialSettings

__all__ = ["POSE_SOURCES", "SPATIAL_MODES", "SPATIAL_PREFIX", "SpatialNodeSettings",
           "spatial_settings"]

SPATIAL_PREFIX = "spatial."
SPATIAL_MODES = ("off", "ground", "depth", "depth+ground")
# auto: tf2 where tf2_ros is importable, else the parameters (height/pitch/roll when
# spatial.camera_height > 0, else the static transform).
POSE_SOURCES = ("auto", "tf", "transform", "height_pitch_roll")


@dataclass(frozen=True)
class SpatialNodeSettings:
    """What the node needs for 3D, one entry per camera in the topic tuples."""

    mode: str = "off"
    camera_info_topics: tuple[str, ...] = ()
    depth_topics: tuple[str, ...] = ()
    depth_info_topics: tuple[str, ...] = ()
    depth_tolerance: float = 0.02
    depth_buffer: int = 8
    target_frame: str = ""
    ground_frame: str = "base_footprint"
    pose_source: str = "auto"
    tf_timeout: float = 0.05
    camera_height: float = 0.0
    camera_pitch: float = 0.0
    camera_roll: float = 0.0
    camera_translation: tuple[float, ...] = (0.0, 0.0, 0.0)
    camera_rotation: tuple[float, ...] = (0.0, 0.0, 0.0, 1.0)
    markers: bool = True
    marker_lifetime: float = 0.5
    core: SpatialSettings | None = None

    @property
    def enabled(self) -> bool:
        return self.core is not None

    @property
    def uses_depth(self) -> bool:
        return self.core is not None and self.core.depth is not None

    @property
    def uses_ground(self) -> bool:
        return self.core is not None and self.core.ground


def _sibling(topic: str, leaf: str) -> str:
    """``leaf`` in the namespace of ``topic``: ("/cam/image_raw", "camera_info") ->
    "/cam/camera_info"; a topic without a namespace gives ``leaf`` itself."""
    head, sep, _ = topic.rstrip("/").rpartition("/")
    return f"{head}/{leaf}" if sep else leaf


def _per_camera(name: str, given: Sequence[str], derived: Sequence[str],
                problems: list[str]) -> tuple[str, ...]:
    if not given:
        return tuple(derived)
    if len(given) != len(derived):
        problems.append(f"{name} has {len(given)} entries for {len(derived)} image_topics")
    return tuple(str(t) for t in given)


def spatial_settings(values: Mapping[str, Any], image_topics: Sequence[str]
                     ) -> tuple[SpatialNodeSettings, list[str]]:
    """Settings from the merged parameter values (every ``spatial.*`` name present) and the
    problems found (empty when valid). Topics left empty are derived from ``image_topics``:
    ``camera_info`` and ``depth/image`` beside each image topic, ``camera_info`` beside each
    depth topic."""
    v = {k[len(SPATIAL_PREFIX):]: val for k, val in values.items()
         if k.startswith(SPATIAL_PREFIX)}
    problems: list[str] = []
    mode = str(v["mode"])
    info = _per_camera("spatial.camera_info_topics", v["camera_info_topics"],
                       [_sibling(t, "camera_info") for t in image_topics], problems)
    depth = _per_camera("spatial.depth_topics", v["depth_topics"],
                        [_sibling(t, "depth/image") for t in image_topics], problems)
    depth_info = _per_camera("spatial.depth_info_topics", v["depth_info_topics"],
                             [_sibling(t, "camera_info") for t in depth], problems)
    translation = tuple(float(x) for x in v["camera_translation"])
    rotation = tuple(float(x) for x in v["camera_rotation"])
    if len(translation) != 3 or not all(math.isfinite(x) for x in translation):
        problems.append("spatial.camera_translation must be 3 finite values (x, y, z)")
    if len(rotation) != 4 or not all(math.isfinite(x) for x in rotation) or not any(rotation):
        problems.append("spatial.camera_rotation must be a non-zero quaternion (x, y, z, w)")
    if v["depth_min"] >= v["depth_max"]:
        problems.append("spatial.depth_min must be below spatial.depth_max")
    if v["plausible_height_min"] >= v["plausible_height_max"]:
        problems.append("spatial.plausible_height_min must be below plausible_height_max")
    if v["pose_source"] == "height_pitch_roll" and mode in ("ground", "depth+ground") and (
            v["camera_height"] <= 0):
        problems.append("spatial.pose_source height_pitch_roll needs spatial.camera_height > 0")
    core = None
    if mode != "off" and not problems:
        low, high = float(v["plausible_height_min"]), float(v["plausible_height_max"])
        try:
            core = SpatialSettings(
                depth=DepthSettings(min_depth=float(v["depth_min"]),
                                    max_depth=float(v["depth_max"])) if "depth" in mode
                else None,
                ground="ground" in mode,
                surface_offset=float(v["surface_offset"]),
                max_range=float(v["max_range"]),
                plausible_height=(low, high),
                nominal_height=min(max(1.7, low), high),
                box_margin=float(v["box_margin"]),
                motion=MotionSettings(accel_sigma=float(v["accel_sigma"])),
            )
        except ValueError as exc:
            problems.append(f"spatial: {exc}")
    settings = SpatialNodeSettings(
        mode=mode, camera_info_topics=info, depth_topics=depth, depth_info_topics=depth_info,
        depth_tolerance=float(v["depth_tolerance"]), depth_buffer=int(v["depth_buffer"]),
        target_frame=str(v["target_frame"]), ground_frame=str(v["ground_frame"]),
        pose_source=str(v["pose_source"]), tf_timeout=float(v["tf_timeout"]),
        camera_height=float(v["camera_height"]), camera_pitch=float(v["camera_pitch"]),
        camera_roll=float(v["camera_roll"]), camera_translation=translation,
        camera_rotation=rotation, markers=bool(v["markers"]),
        marker_lifetime=float(v["marker_lifetime"]), core=core,
    )
    return settings, problems
