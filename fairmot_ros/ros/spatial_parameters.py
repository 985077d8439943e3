"""The ``spatial.*`` parameters of the tracker node (people in 3D: doc/people-3d.md).

All are read at configure time (restart, or clean up and reconfigure the lifecycle node, to
change them); :mod:`fairmot_ros.ros.spatial_settings` types and checks their values.
"""

from __future__ import annotations

from typing import Any

from fairmot_ros.ros.param_spec import ParamSpec
from fairmot_ros.ros.spatial_settings import POSE_SOURCES, SPATIAL_MODES, SPATIAL_PREFIX

__all__ = ["SPATIAL_PARAMETERS"]


def _spatial(leaf: str, kind: type, default: Any, description: str, **kwargs: Any) -> ParamSpec:
    """A ``spatial.*`` parameter; all are read at configure time (restart to change)."""
    return ParamSpec(SPATIAL_PREFIX + leaf, kind, default, description, read_only=True,
                     **kwargs)


SPATIAL_PARAMETERS: tuple[ParamSpec, ...] = (
    _spatial("mode", str, "off",
             "People in 3D (doc/people-3d.md): off; ground (foot points on a flat ground, "
             "needs the camera's pose); depth (a depth image registered to the colour image); "
             "depth+ground (depth, falling back to the ground where a track's depth fails).",
             choices=SPATIAL_MODES),
    _spatial("camera_info_topics", list, [],
             "sensor_msgs/CameraInfo topic of each camera (image_topics order). Empty: "
             "camera_info beside each image topic."),
    _spatial("depth_topics", list, [],
             "Depth image topic of each camera (REP-118: 16UC1 mm or 32FC1 m, registered to the "
             "colour image). Empty: depth/image beside each image topic."),
    _spatial("depth_info_topics", list, [],
             "CameraInfo of each depth topic. Empty: camera_info beside each depth topic."),
    _spatial("depth_tolerance", float, 0.02,
             "Largest stamp difference (s) between a colour frame and the depth frame paired "
             "with it; a colour frame never waits for its depth.", low=0.0, high=1.0),
    _spatial("depth_buffer", int, 8,
             "Depth frames kept for pairing (the newest).", low=1, high=100),
    _spatial("depth_min", float, 0.2, "Nearest valid depth (m).", low=0.0, high=1000.0),
    _spatial("depth_max", float, 60.0, "Farthest valid depth (m).", low=0.0, high=1000.0),
    _spatial("target_frame", str, "",
             "Frame of the 3D outputs (tf at the image stamp). Empty: the camera's optical "
             "frame (the image's frame_id)."),
    _spatial("ground_frame", str, "base_footprint",
             "Frame whose z = 0 plane is the ground (z up); the parent of the camera pose "
             "parameters."),
    _spatial("pose_source", str, "auto",
             "Where the camera's pose above the ground comes from: tf (tf2 at the image stamp), "
             "transform (camera_translation, camera_rotation), height_pitch_roll, or auto (tf "
             "where tf2_ros is importable, else height_pitch_roll when camera_height > 0, else "
             "transform).", choices=POSE_SOURCES),
    _spatial("tf_timeout", float, 0.05,
             "Longest wait (s) for a transform at the image stamp.", low=0.0, high=5.0),
    _spatial("camera_height", float, 0.0,
             "Height (m) of the camera above ground_frame's origin (pose_source "
             "height_pitch_roll).", low=0.0, high=1000.0),
    _spatial("camera_pitch", float, 0.0,
             "Downward tilt (rad) of the camera's forward axis (height_pitch_roll).",
             low=-1.6, high=1.6),
    _spatial("camera_roll", float, 0.0,
             "Roll (rad) about the camera's forward axis (height_pitch_roll).",
             low=-3.15, high=3.15),
    _spatial("camera_translation", tuple, (0.0, 0.0, 0.0),
             "Position (m) of the camera's optical frame in ground_frame (pose_source "
             "transform)."),
    _spatial("camera_rotation", tuple, (0.0, 0.0, 0.0, 1.0),
             "Orientation of the optical frame in ground_frame, quaternion x, y, z, w "
             "(pose_source transform)."),
    _spatial("markers", bool, True,
             "Publish ~/markers (visualization_msgs/MarkerArray: a cylinder and the id per "
             "person) for RViz."),
    _spatial("marker_lifetime", float, 0.5,
             "Seconds a marker stays when no newer one replaces it.", low=0.0, high=60.0),
    _spatial("box_margin", float, 0.008,
             "How far the detector's boxes reach beyond the person at top and bottom, as a "
             "fraction of the box height (the shipped model's: 0.008).", low=0.0, high=0.2),
    _spatial("surface_offset", float, 0.15,
             "Depth mode: metres from the body surface a depth camera sees to the body's axis.",
             low=0.0, high=1.0),
    _spatial("max_range", float, 60.0,
             "Ground mode: foot points farther (m) from the camera are refused.",
             low=0.1, high=10000.0),
    _spatial("accel_sigma", float, 0.5,
             "Per-track 3D filter: white-noise acceleration (m/s^2).", low=0.01, high=100.0),
    _spatial("plausible_height_min", float, 1.0,
             "Shortest plausible person height (m); shorter ones are flagged.",
             low=0.1, high=3.0),
    _spatial("plausible_height_max", float, 2.3,
             "Tallest plausible person height (m); taller ones are flagged.", low=0.1, high=3.0),
)
