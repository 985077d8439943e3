"""Every parameter of the tracker node: name, type, default, description, range, mutability.

This table is the single source for the node's declarations (:func:`declare_parameters`), for
its validated settings (:mod:`fairmot_ros.ros.settings`), for ``config/tracker.yaml`` and for
the parameter table of doc/parameters.md (:mod:`fairmot_ros.ros.parameter_files`), so they
cannot drift apart. Tracker parameters are generated from the fields of the core's
``TrackerConfig`` (prefixed ``tracker.``) and validated by
``TrackerConfig.validate``, so a runtime change is checked by the same rules the core applies.

Parameters that need the ONNX session or the subscriptions to be rebuilt are read-only: set
them in the YAML file or on the command line and restart (or clean up and reconfigure the
lifecycle node). Everything else can be re-tuned while the node runs. The ``spatial.*``
parameters (people in 3D) are declared in :mod:`fairmot_ros.ros.spatial_parameters`.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from fairmot_ros.image_bytes import DEFAULT_MAX_IMAGE_PIXELS
from fairmot_ros.ros.param_spec import ParamSpec, format_value
from fairmot_ros.ros.spatial_parameters import SPATIAL_PARAMETERS
from fairmot_ros.tracking import TrackerConfig
from fairmot_ros.tracking.config import (
    CAMERA_MOTION_METHODS,
    FRAME_RATE_RANGE,
    MAX_TRACKS_RANGE,
    REID_MEMORY_MAX_S,
    TRACK_BUFFER_MAX,
)

__all__ = [
    "ALL_PARAMETERS",
    "SPATIAL_PARAMETERS",
    "BY_NAME",
    "NODE_PARAMETERS",
    "QOS_RELIABILITY_CHOICES",
    "TRACKER_PARAMETERS",
    "TRACKER_PREFIX",
    "ParamSpec",
    "declare_parameters",
    "format_value",
]

TRACKER_PREFIX = "tracker."
QOS_RELIABILITY_CHOICES = ("best_effort", "reliable")
DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
# Camera names become topic name tokens and id prefixes: keep them to what both allow.
CAMERA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# class_id is copied into every detection of every frame: a short label, not a payload.
CLASS_ID_MAX_LENGTH = 256
MAX_CAMERAS = 16
# OpenCV's own decoder limit (CV_IO_MAX_IMAGE_PIXELS): a larger setting would not be honoured.
MAX_IMAGE_PIXELS_LIMIT = 1 << 30


NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "model", str, "",
        "Path of the exported FairMOT ONNX model (fairmot-export). Empty: the demonstration "
        "model shipped in the package (fairmot_ros/default_model/).",
        read_only=True,
    ),
    ParamSpec(
        "providers", list, list(DEFAULT_PROVIDERS),
        "ONNX Runtime execution providers in order of preference; the first one that loads "
        "is used and logged.",
        read_only=True,
    ),
    ParamSpec(
        "require_gpu", bool, False,
        "Fail at start-up instead of running on the CPU when no GPU provider becomes active.",
        read_only=True,
    ),
    ParamSpec(
        "intra_op_threads", int, 0,
        "ONNX Runtime intra-op threads; 0 lets ONNX Runtime decide.",
        read_only=True, low=0, high=256,
    ),
    ParamSpec(
        "heads_at_peaks", bool, True,
        "Compute the box, offset and re-ID heads only at the decoded heatmap peaks instead of "
        "over the whole map (same detections up to float32 rounding, less CPU time); false: "
        "run the model's dense heads.",
        read_only=True,
    ),
    ParamSpec(
        "topk", int, 500,
        "Heatmap peaks decoded per image (K of the original decoder).",
        low=1, high=5000,
    ),
    ParamSpec(
        "image_topics", list, ["image"],
        "Image topics, one per camera; all share one ONNX Runtime session. With compressed "
        "input the node subscribes to each topic + /compressed.",
        read_only=True,
    ),
    ParamSpec(
        "camera_names", list, [],
        "Names of the cameras in image_topics order (letters, digits, _). Empty: cam0, cam1, "
        "... With more than one camera, outputs go to ~/NAME/... and ids read NAME/ID.",
        read_only=True,
    ),
    ParamSpec(
        "compressed", bool, False,
        "Subscribe to sensor_msgs/CompressedImage (jpeg/png) on TOPIC/compressed instead of "
        "sensor_msgs/Image.",
        read_only=True,
    ),
    ParamSpec(
        "qos_reliability", str, "best_effort",
        "Reliability of the image subscriptions: best_effort (sensor-data profile, matches "
        "every publisher) or reliable (only matches reliable publishers).",
        read_only=True, choices=QOS_RELIABILITY_CHOICES,
    ),
    ParamSpec(
        "queue_depth", int, 1,
        "History depth of the image subscriptions. The node always processes the newest "
        "frame; older ones waiting in its one-slot mailbox are counted as dropped.",
        read_only=True, low=1, high=100,
    ),
    ParamSpec(
        "max_image_pixels", int, DEFAULT_MAX_IMAGE_PIXELS,
        "Images declaring more pixels (width x height, read from the PNG/JPEG header or the "
        "Image fields) are refused before decoding (reason image_too_large). The default is "
        "three times 8K UHD (7680x4320).",
        low=1, high=MAX_IMAGE_PIXELS_LIMIT,
    ),
    ParamSpec(
        "class_id", str, "person",
        f"class_id written in every ObjectHypothesis of the detections (at most "
        f"{CLASS_ID_MAX_LENGTH} characters, no NUL).",
    ),
    ParamSpec(
        "publish_embeddings", bool, False,
        "Fill Track.embedding (the smoothed re-ID vector) in ~/tracks; off keeps the messages "
        "small for consumers that only need ids and boxes.",
    ),
    ParamSpec(
        "debug_trail_length", int, 20,
        "Centre points per track drawn as a trail on ~/debug_image (published only while "
        "subscribed); 0 draws no trails.",
        low=0, high=500,
    ),
    ParamSpec(
        "diagnostics_period", float, 1.0,
        "Seconds between diagnostic_msgs/DiagnosticArray messages on /diagnostics.",
        read_only=True, low=0.1, high=60.0,
    ),
)

# Description and descriptor range of every TrackerConfig field; the defaults come from
# TrackerConfig itself so they cannot disagree with the core.
_TRACKER_DOCS: dict[str, tuple[str, float | None, float | None]] = {
    "frame_rate": (
        "Nominal camera rate (fps): converts image stamps into frames and scales the "
        "lost-track budget. A change empties the tracklet store.", *FRAME_RATE_RANGE),
    "track_buffer": (
        "Frames (at 30 fps) a lost track is kept for re-identification.", 0, TRACK_BUFFER_MAX),
    "conf_thres": (
        "Detection score threshold, also the threshold for starting new tracks.", 0.0, 1.0),
    "embedding_match_thresh": (
        "Cost limit of the first association stage (fused re-ID cosine + motion cost).",
        0.0, 2.0),
    "iou_match_thresh": (
        "Cost limit (1 - IoU) of the second stage, tracked tracks against the remaining "
        "detections.", 0.0, 1.0),
    "unconfirmed_match_thresh": (
        "Cost limit (1 - IoU) for confirming tracks born in the previous frame.", 0.0, 1.0),
    "duplicate_iou_distance": (
        "Tracked and lost tracks closer than this 1 - IoU are duplicates; the younger goes.",
        0.0, 1.0),
    "motion_lambda": (
        "Weight of the re-ID cosine distance against the Mahalanobis motion distance.",
        0.0, 1.0),
    "gating_threshold": (
        "Squared Mahalanobis distance beyond which a track-detection pair is impossible.",
        0.0, 1000.0),
    "feature_alpha": (
        "Exponential smoothing factor of a track's re-ID embedding.", 0.0, 1.0),
    "std_weight_position": (
        "Kalman position noise as a fraction of the box height.", 0.0, 1.0),
    "std_weight_velocity": (
        "Kalman velocity noise as a fraction of the box height.", 0.0, 1.0),
    "byte_enabled": (
        "Also match low-score detections to leftover tracks by IoU (BYTE-style extension, "
        "off in the original).", None, None),
    "byte_low_thres": (
        "Lowest detection score used by the BYTE-style pass.", 0.0, 1.0),
    "byte_match_thresh": (
        "Cost limit (1 - IoU) of the BYTE-style pass.", 0.0, 1.0),
    "min_box_area": (
        "Output filter: publish a track only if its box area (px^2) exceeds this; 0 keeps "
        "all.", 0.0, 1.0e8),
    "max_aspect_ratio": (
        "Output filter: drop tracks whose width/height exceeds this (1.6 for pedestrians); "
        "0 disables.", 0.0, 1000.0),
    "time_snap_frames": (
        "Stamps within this many frames of a whole frame count as that frame (absorbs "
        "stamp round-off). A change empties the tracklet store.", 0.0, 0.5),
    "max_tracks": (
        "Hard cap on live tracks (tracked + lost) per camera, whatever the other values; over "
        "it the tracks lost longest are removed first (counted in /diagnostics).",
        *MAX_TRACKS_RANGE),
    "camera_motion": (
        "Camera-motion compensation for moving cameras: none (the original, still camera) or "
        "an image estimate of each frame's global motion (sparse optical flow + RANSAC "
        "similarity, or a full affine), applied to every track before matching.", None, None),
    "reid_memory_s": (
        "Seconds of image time a person whose track was removed is remembered; a new track "
        "whose re-ID embedding is within reid_max_distance of a remembered person is "
        "published under that person's id (doc/node.md, \"People who come back\"). 0: off, "
        "the original tracker.", 0.0, REID_MEMORY_MAX_S),
    "reid_max_distance": (
        "Largest cosine distance between a new track's embedding and a remembered person's "
        "for the new track to take that person's id.", 0.0, 2.0),
}
# Tracker fields that take one of a few words.
_TRACKER_CHOICES: dict[str, tuple[str, ...]] = {"camera_motion": CAMERA_MOTION_METHODS}


def _tracker_parameters() -> tuple[ParamSpec, ...]:
    defaults = TrackerConfig()
    specs = []
    for field in fields(TrackerConfig):
        value = getattr(defaults, field.name)
        description, low, high = _TRACKER_DOCS.get(
            field.name, (f"TrackerConfig.{field.name}.", None, None)
        )
        specs.append(
            ParamSpec(
                TRACKER_PREFIX + field.name, type(value), value, description, low=low, high=high,
                choices=_TRACKER_CHOICES.get(field.name, ()),
            )
        )
    return tuple(specs)


TRACKER_PARAMETERS: tuple[ParamSpec, ...] = _tracker_parameters()
ALL_PARAMETERS: tuple[ParamSpec, ...] = NODE_PARAMETERS + TRACKER_PARAMETERS + SPATIAL_PARAMETERS
BY_NAME: dict[str, ParamSpec] = {spec.name: spec for spec in ALL_PARAMETERS}


def declare_parameters(node: Any) -> dict[str, Any]:
    """Declare every parameter on ``node``; returns the values (YAML/CLI overrides applied).

    ROS cannot infer the type of an empty list, so string arrays whose default is empty are
    declared by type. Left like that they would hold no value, and rclpy's get_parameters
    service answers a request naming such a parameter with no values at all (``ros2 param
    dump`` prints ``{}``). So without an override they are given the empty string array
    explicitly, before the descriptor is made read-only.
    """
    from rclpy.parameter import Parameter

    values: dict[str, Any] = {}
    for spec in ALL_PARAMETERS:
        default = spec.default
        if spec.kind is list and not default:
            descriptor = spec.descriptor()
            descriptor.read_only = False
            declared = node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, descriptor)
            if declared.type_ == Parameter.Type.NOT_SET:
                node.set_parameters([Parameter(spec.name, Parameter.Type.STRING_ARRAY, [])])
            node.set_descriptor(spec.name, spec.descriptor())
            declared = node.get_parameter(spec.name)
        else:
            value = list(default) if spec.kind is tuple else default
            declared = node.declare_parameter(spec.name, value, spec.descriptor())
        values[spec.name] = declared.value
    return values
