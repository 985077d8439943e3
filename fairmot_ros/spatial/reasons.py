"""Why a frame or a track got no 3D position: the one list of reason names.

A refused input raises :class:`SpatialError` with one of these names (or a function returns
one); callers count them by name (the node's diagnostics print ``reason=count``).
"""

from __future__ import annotations

# Camera model (CameraInfo) and pose.
K_INVALID = "camera_info_k_invalid"  # K zero (uncalibrated), NaN/inf, fx or fy <= 0
D_INVALID = "camera_info_d_invalid"  # NaN/inf coefficients, or a count the model does not take
DISTORTION_UNSUPPORTED = "camera_info_distortion_unsupported"
SIZE_INVALID = "camera_info_size_invalid"  # width or height 0
SIZE_MISMATCH = "camera_info_size_mismatch"  # CameraInfo size is not the colour image's
NO_CAMERA_INFO = "no_camera_info"
POSE_INVALID = "pose_invalid"  # not a rotation, NaN translation, ...
NO_POSE = "no_pose"  # no transform to the ground or to the output frame (tf missing)
POSE_EXTRAPOLATION = "pose_extrapolation"  # tf would have to extrapolate to the image stamp

# Depth image.
DEPTH_ENCODING = "depth_encoding_unsupported"  # not 16UC1 / mono16 / 32FC1
DEPTH_SIZE_MISMATCH = "depth_size_mismatch"  # not registered to the colour image's size
DEPTH_MALFORMED = "depth_malformed"  # step or data length do not hold the image
DEPTH_ALL_INVALID = "depth_all_invalid"  # no valid pixel in the whole image
DEPTH_NONE = "no_depth"  # no depth image received yet
DEPTH_BEHIND = "depth_behind"  # the newest depth is older than the colour stamp - tolerance
DEPTH_AHEAD = "depth_ahead"  # the oldest depth kept is newer than the colour stamp + tolerance
DEPTH_GAP = "depth_gap"  # depth before and after, none within the tolerance

# One track.
TRACK_NO_VALID_DEPTH = "track_no_valid_depth"  # too few valid depths in the inner box
TRACK_DEPTH_OUT_OF_RANGE = "track_depth_out_of_range"
TRACK_ABOVE_HORIZON = "track_above_horizon"  # the foot ray does not meet the ground ahead
TRACK_GROUND_TOO_FAR = "track_ground_too_far"  # the foot point lies beyond max_range


class SpatialError(ValueError):
    """An input that cannot give a 3D position; ``reason`` is one of this module's names."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
