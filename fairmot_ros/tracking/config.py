"""Every tracker constant as a named, validated field.

The defaults are the values of the original FairMOT ``JDETracker`` (spec section 5), so
``TrackerConfig()`` reproduces it. The ROS node maps its parameters onto these fields and
uses :meth:`TrackerConfig.validate` to reject a bad runtime value with a reason instead of
letting the tracker fail later on the image thread.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

# Sane limits: beyond them a value is a typo or an attack, and the tracker would misbehave
# (frame_rate 1e-300 turns every stamp into frame 0, so lost tracks never expire).
FRAME_RATE_RANGE = (0.1, 1000.0)
TRACK_BUFFER_MAX = 100_000
MAX_TRACKS_RANGE = (1, 100_000)
REID_MEMORY_MAX_S = 86_400.0  # a day of image time

# chi-square 0.95 quantile for 4 degrees of freedom (x, y, aspect, height): the gate of the
# fused appearance + motion cost.
CHI2INV95_4DOF = 9.4877
# Providers of the frame-to-frame camera-motion warp (see tracking/camera_motion.py); "none" is
# the original still-camera tracker.
CAMERA_MOTION_METHODS = ("none", "sparse_flow", "sparse_flow_affine")


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings; the defaults are the original FairMOT values.

    Time-related fields are in *frames at* ``frame_rate``, like the original, and the tracker
    turns message timestamps into frames with ``frame_rate`` (see ``JDETracker``).
    """

    # Nominal camera rate in frames per second: converts timestamps into frames and scales the
    # lost-track budget (buffer_size = int(frame_rate / 30 * track_buffer)).
    frame_rate: float = 30.0
    # Frames a lost track is remembered at 30 fps.
    track_buffer: int = 30
    # Detection score threshold; also the birth threshold (det_thresh) of new tracks.
    conf_thres: float = 0.4

    # Association thresholds, each the cost limit of lapjv for its stage.
    embedding_match_thresh: float = 0.4  # stage 1: fused cosine + Mahalanobis cost
    iou_match_thresh: float = 0.5  # stage 2: 1 - IoU, tracked tracks only
    unconfirmed_match_thresh: float = 0.7  # stage 3: 1 - IoU, tracks born last frame
    duplicate_iou_distance: float = 0.15  # tracked/lost pairs closer than this are duplicates
    motion_lambda: float = 0.98  # weight of the cosine distance in the fused cost
    gating_threshold: float = CHI2INV95_4DOF  # squared Mahalanobis gate of the fused cost
    feature_alpha: float = 0.9  # exponential smoothing of the track embedding

    # Kalman noise, proportional to the box height.
    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160

    # Optional BYTE-style pass: detections with byte_low_thres < score <= conf_thres are matched
    # by IoU to tracked tracks left over after stage 2; they never start tracks.
    byte_enabled: bool = False
    byte_low_thres: float = 0.1
    byte_match_thresh: float = 0.5

    # Output filters of the original evaluation loop (applied by ``filter_tracks``, not by
    # ``JDETracker.update``): keep a box when w*h > min_box_area and not w/h > max_aspect_ratio.
    # max_aspect_ratio = 0 disables the ratio rule.
    min_box_area: float = 100.0
    max_aspect_ratio: float = 1.6

    # Timestamps that land within this many frames of a whole frame count as exactly that frame,
    # so float round-off of message stamps cannot perturb the filter at a steady rate.
    time_snap_frames: float = 1e-3

    # Hard cap on live tracks (tracked + lost), whatever the other fields: the tracklet store
    # stays bounded even when lost tracks would be kept for a very long time (a tiny
    # frame_rate, a huge track_buffer, a crowd of false positives). Over the cap, the tracks
    # lost longest go first (JDETracker.capped_tracks counts them).
    max_tracks: int = 1000
    # Camera-motion compensation used by whoever feeds the tracker images (the ROS node, the
    # evaluation loop): "none" (the original), "sparse_flow" (optical flow + RANSAC similarity)
    # or "sparse_flow_affine". ``JDETracker.update`` itself only applies a given warp.
    camera_motion: str = "none"
    # Re-identification of people who come back after their track was removed (see
    # tracking/reid_gallery.py), applied by ``CameraPipeline`` like camera_motion: a removed
    # reported track's embedding is remembered for reid_memory_s seconds, and a new track
    # within reid_max_distance (cosine) of it is published under its id. 0 is the original
    # (no gallery).
    reid_memory_s: float = 0.0
    reid_max_distance: float = 0.2

    @property
    def buffer_size(self) -> int:
        """Lost-track budget in frames (the original ``max_time_lost``)."""
        return int(self.frame_rate / 30.0 * self.track_buffer)

    @property
    def detector_threshold(self) -> float:
        """The score threshold the detector must use to feed this tracker everything it uses."""
        return min(self.conf_thres, self.byte_low_thres) if self.byte_enabled else self.conf_thres

    def validate(self) -> list[str]:
        """Reasons this configuration is unusable; empty when it is fine."""
        reasons: list[str] = []
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type in ("bool", bool):
                if not isinstance(value, bool):
                    reasons.append(f"{field.name} must be true or false, got {value!r}")
                continue
            if field.name == "camera_motion":
                if value not in CAMERA_MOTION_METHODS:
                    reasons.append(
                        f"{field.name} {value!r} must be one of {', '.join(CAMERA_MOTION_METHODS)}"
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                reasons.append(f"{field.name} must be a number, got {type(value).__name__}")
            elif math.isnan(value):
                reasons.append(f"{field.name} is NaN")

        def check(ok: bool, message: str) -> None:
            if not ok:
                reasons.append(message)

        if reasons:
            return reasons
        low, high = FRAME_RATE_RANGE
        check(
            low <= self.frame_rate <= high,
            f"frame_rate {self.frame_rate} must be in [{low:g}, {high:g}]",
        )
        check(
            0 <= self.track_buffer <= TRACK_BUFFER_MAX
            and float(self.track_buffer).is_integer(),
            f"track_buffer {self.track_buffer} must be a whole number in [0, {TRACK_BUFFER_MAX}]",
        )
        low, high = MAX_TRACKS_RANGE
        check(
            low <= self.max_tracks <= high and float(self.max_tracks).is_integer(),
            f"max_tracks {self.max_tracks} must be a whole number in [{low}, {high}]",
        )
        check(0 <= self.conf_thres <= 1, f"conf_thres {self.conf_thres} must be in [0, 1]")
        for name, high in (
            ("embedding_match_thresh", 2), ("iou_match_thresh", 1), ("unconfirmed_match_thresh", 1)
        ):
            value = getattr(self, name)
            check(0 < value <= high, f"{name} {value} must be in (0, {high}]")
        check(
            0 <= self.duplicate_iou_distance <= 1,
            f"duplicate_iou_distance {self.duplicate_iou_distance} must be in [0, 1]",
        )
        check(0 <= self.motion_lambda <= 1, f"motion_lambda {self.motion_lambda} must be in [0, 1]")
        check(
            0 < self.gating_threshold <= 1000,
            f"gating_threshold {self.gating_threshold} must be in (0, 1000]",
        )
        check(0 <= self.feature_alpha < 1, f"feature_alpha {self.feature_alpha} must be in [0, 1)")
        for name in ("std_weight_position", "std_weight_velocity"):
            value = getattr(self, name)
            check(0 < value <= 1, f"{name} {value} must be in (0, 1]")
        check(
            0 <= self.byte_low_thres <= 1, f"byte_low_thres {self.byte_low_thres} must be in [0, 1]"
        )
        if self.byte_enabled:
            check(
                self.byte_low_thres < self.conf_thres,
                f"byte_low_thres {self.byte_low_thres} must be below conf_thres {self.conf_thres}",
            )
        check(
            0 < self.byte_match_thresh <= 1,
            f"byte_match_thresh {self.byte_match_thresh} must be in (0, 1]",
        )
        check(
            0 <= self.min_box_area <= 1e8, f"min_box_area {self.min_box_area} must be in [0, 1e8]"
        )
        check(
            0 <= self.max_aspect_ratio <= 1000,
            f"max_aspect_ratio {self.max_aspect_ratio} must be in [0, 1000]",
        )
        check(
            0 <= self.time_snap_frames < 0.5,
            f"time_snap_frames {self.time_snap_frames} must be in [0, 0.5)",
        )
        check(
            0 <= self.reid_memory_s <= REID_MEMORY_MAX_S,
            f"reid_memory_s {self.reid_memory_s} must be in [0, {REID_MEMORY_MAX_S:g}]",
        )
        check(
            0 < self.reid_max_distance <= 2,
            f"reid_max_distance {self.reid_max_distance} must be in (0, 2]",
        )
        return reasons

    def checked(self) -> TrackerConfig:
        """Return self, or raise ValueError listing every problem."""
        reasons = self.validate()
        if reasons:
            raise ValueError("invalid TrackerConfig: " + "; ".join(reasons))
        return self

    def with_values(self, **changes: Any) -> TrackerConfig:
        """A copy with some fields changed (unknown names raise TypeError)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
