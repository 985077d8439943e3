"""The names in the tracker node's ``/diagnostics``: defined here once, read by name elsewhere.

The node writes these keys (``fairmot_ros.ros.diagnostics``); the demo, the bag player's
lock-step and the benchmarks read them. This module imports nothing, so any reader can use it
without loading the node (ONNX Runtime) or ROS.
"""

from __future__ import annotations

from collections.abc import Mapping

# Status names: "fairmot_tracker: inference" and "fairmot_tracker: <camera name>"; a camera's
# status carries the camera's resolved image topic as its hardware_id.
STATUS_PREFIX = "fairmot_tracker: "
INFERENCE_STATUS = STATUS_PREFIX + "inference"

# The inference status.
MODEL = "model"
MODEL_NAME = "model name"
ARCH = "arch"
INPUT_SIZE = "input size (WxH)"
EXECUTION_PROVIDER = "execution provider"
REQUESTED_PROVIDERS = "requested providers"

# A camera's status.
INPUT_RATE = "input rate (Hz)"
OUTPUT_RATE = "output rate (Hz)"
FRAMES_RECEIVED = "frames received"
FRAMES_PUBLISHED = "frames published"
FRAMES_DROPPED = "frames dropped (replaced while busy)"
FRAMES_MISSED = "frames missed before the node (sequence gaps)"
FRAMES_REJECTED = "frames rejected (undecodable)"
STORE_EMPTIED_TIME = "store emptied (stamps went back)"
STORE_EMPTIED_SIZE = "store emptied (image size changed)"
TRACKS_CAPPED = "tracks removed by max_tracks"
PEOPLE_REIDENTIFIED = "people re-identified (reid_memory_s)"
PUBLISHERS_SEEN = "publishers seen"
REJECTION_REASONS = "rejection reasons"  # "reason=count, ..." (format_reasons), or "none"
LAST_REJECTION = "last rejection"
PROCESSING_MEAN = "processing latency mean (ms)"
PROCESSING_MAX = "processing latency max (ms)"
RECEIVE_TO_PUBLISH_MEAN = "receive to publish latency mean (ms)"
RECEIVE_TO_PUBLISH_MAX = "receive to publish latency max (ms)"
AGE_AT_PUBLISH_MEAN = "image age at publish mean (ms)"
AGE_AT_PUBLISH_MAX = "image age at publish max (ms)"
ACTIVE_TRACKS = "active tracks"

# A camera's motion estimate (with tracker.camera_motion other than "none").
CAMERA_MOTION = "camera motion"
CAMERA_MOTION_STATUS = "camera motion status"
CAMERA_MOTION_TRANSLATION = "camera motion translation (px)"
CAMERA_MOTION_ROTATION = "camera motion rotation (deg)"
CAMERA_MOTION_SCALE = "camera motion scale"
CAMERA_MOTION_INLIERS = "camera motion inliers"
CAMERA_MOTION_FAILURES = "camera motion failures"
CAMERA_MOTION_ESTIMATE_MEAN = "camera motion estimate mean (ms)"

# A camera's people in 3D (with spatial.mode other than "off"). The failures are counted per
# reason (fairmot_ros.spatial.reasons: depth pairing, invalid depth, CameraInfo, tf) since
# start, as "reason=count, ..." (format_reasons).
SPATIAL_MODE = "3D mode"
SPATIAL_POSE_SOURCE = "3D pose source"
SPATIAL_OUTPUT_RATE = "3D output rate (Hz)"
SPATIAL_FRAMES = "3D frames published"
SPATIAL_PEOPLE = "3D people in the last frame"
SPATIAL_FAILURES = "3D failures by reason"

_NONE = "none"


def format_reasons(counts: Mapping[str, int]) -> str:
    """The value of :data:`REJECTION_REASONS`: ``reason=count`` pairs by name, or "none"."""
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or _NONE


def parse_reasons(text: str) -> dict[str, int]:
    """The counts per reason in a :data:`REJECTION_REASONS` value (empty for "none" or an
    unreadable value)."""
    counts: dict[str, int] = {}
    if not text or text == _NONE:
        return counts
    for item in text.split(", "):
        reason, sep, count = item.rpartition("=")
        if not sep or not reason or not count.isdigit():
            return {}
        counts[reason] = int(count)
    return counts
