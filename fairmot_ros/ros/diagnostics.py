"""The ``diagnostic_msgs/DiagnosticArray`` statuses of the tracker node.

diagnostic_updater is not available as a wheel, so the node publishes diagnostic_msgs itself:
one status for the inference session and one per camera, built here from the camera's
counters (``fairmot_ros.ros.camera_stats``) and its camera-motion estimator; the keys are
those of ``fairmot_ros.ros.diagnostic_keys``. ``fairmot_ros.ros.reports`` publishes them.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from fairmot_ros.ros import diagnostic_keys as keys
from fairmot_ros.ros.camera_stats import CameraStats, IntervalSummary
from fairmot_ros.tracking.camera_motion import describe_warp

__all__ = [
    "CameraStats",
    "IntervalSummary",
    "camera_status",
    "engine_status",
    "missed_frames_advice",
    "motion_values",
    "spatial_values",
]

# Frames missed before the node during one period that call for the advice: at least this
# many, and at least as many as arrived.
MISSED_ADVICE_MIN = 10


def _values(pairs: list[tuple[str, object]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=str(value)) for key, value in pairs]


def camera_status(
    name: str,
    topic: str,
    summary: IntervalSummary,
    active_tracks: int,
    active: bool,
    last_rejection: str = "",
) -> DiagnosticStatus:
    """One camera's status: WARN when it gets no frames while active or frames are rejected."""
    level, message = DiagnosticStatus.OK, "tracking"
    if not active:
        message = "inactive"
    elif summary.received == 0:
        level, message = DiagnosticStatus.WARN, f"no images on {topic}"
    elif summary.publishers > 1:
        level, message = DiagnosticStatus.WARN, f"{summary.publishers} publishers on {topic}"
    elif summary.rejected:
        level, message = DiagnosticStatus.WARN, f"{summary.rejected} images rejected"
    elif summary.missed >= MISSED_ADVICE_MIN and summary.missed >= summary.received:
        level = DiagnosticStatus.WARN
        message = f"{summary.missed} frames missed before the node"
    elif summary.dropped:
        message = f"tracking, {summary.dropped} frames dropped (busy)"
    return DiagnosticStatus(
        level=level,
        name=f"{keys.STATUS_PREFIX}{name}",
        message=message,
        hardware_id=topic,
        values=_values(
            [
                (keys.INPUT_RATE, f"{summary.input_rate:.2f}"),
                (keys.OUTPUT_RATE, f"{summary.output_rate:.2f}"),
                (keys.FRAMES_RECEIVED, summary.total_received),
                (keys.FRAMES_PUBLISHED, summary.total_published),
                (keys.FRAMES_DROPPED, summary.total_dropped),
                (keys.FRAMES_MISSED, summary.total_missed),
                (keys.FRAMES_REJECTED, summary.total_rejected),
                (keys.STORE_EMPTIED_TIME, summary.total_time_reversals),
                (keys.STORE_EMPTIED_SIZE, summary.total_size_changes),
                (keys.TRACKS_CAPPED, summary.total_capped),
                (keys.PEOPLE_REIDENTIFIED, summary.total_reidentified),
                (keys.PUBLISHERS_SEEN, summary.publishers),
                (keys.REJECTION_REASONS, keys.format_reasons(summary.rejected_reasons)),
                (keys.LAST_REJECTION, last_rejection or "none"),
                (keys.PROCESSING_MEAN, f"{summary.processing_mean_ms:.2f}"),
                (keys.PROCESSING_MAX, f"{summary.processing_max_ms:.2f}"),
                (keys.RECEIVE_TO_PUBLISH_MEAN, f"{summary.latency_mean_ms:.2f}"),
                (keys.RECEIVE_TO_PUBLISH_MAX, f"{summary.latency_max_ms:.2f}"),
                (keys.AGE_AT_PUBLISH_MEAN, f"{summary.age_mean_ms:.2f}"),
                (keys.AGE_AT_PUBLISH_MAX, f"{summary.age_max_ms:.2f}"),
                (keys.ACTIVE_TRACKS, active_tracks),
            ]
        ),
    )


def motion_values(method: str, estimator: Any) -> list[KeyValue]:
    """Values of a camera's latest motion estimate (``estimator``: its
    ``CameraMotionEstimator``, None when ``method`` is "none")."""
    if estimator is None:
        return [KeyValue(key=keys.CAMERA_MOTION, value="none")]
    last = estimator.last
    summary = describe_warp(None if last is None else last.warp)
    frames = max(estimator.frames, 1)
    return _values([
        (keys.CAMERA_MOTION, method),
        (keys.CAMERA_MOTION_STATUS, "none yet" if last is None else last.status),
        (keys.CAMERA_MOTION_TRANSLATION, f"{summary.tx:.2f}, {summary.ty:.2f}"),
        (keys.CAMERA_MOTION_ROTATION, f"{summary.rotation_deg:.3f}"),
        (keys.CAMERA_MOTION_SCALE, f"{summary.scale:.4f}"),
        (keys.CAMERA_MOTION_INLIERS, 0 if last is None else last.inliers),
        (keys.CAMERA_MOTION_FAILURES, estimator.failures),
        (keys.CAMERA_MOTION_ESTIMATE_MEAN, f"{1000 * estimator.seconds / frames:.2f}"),
    ])


def spatial_values(mode: str, pose_source: str, spatial: Any, seconds: float,
                   restart: bool = True) -> list[KeyValue]:
    """Values of a camera's people in 3D (``spatial``: its ``SpatialCamera``, None when
    ``mode`` is "off")."""
    if spatial is None:
        return [KeyValue(key=keys.SPATIAL_MODE, value="off")]
    rate = spatial.interval(seconds, restart)
    published, people, failures = spatial.counts()
    return _values([
        (keys.SPATIAL_MODE, mode),
        (keys.SPATIAL_POSE_SOURCE, pose_source),
        (keys.SPATIAL_OUTPUT_RATE, f"{rate:.2f}"),
        (keys.SPATIAL_FRAMES, published),
        (keys.SPATIAL_PEOPLE, people),
        (keys.SPATIAL_FAILURES, keys.format_reasons(failures)),
    ])


def missed_frames_advice(
    summary: IntervalSummary, topic: str, compressed: bool, reliability: str
) -> str | None:
    """The warning for a period in which most frames never reached the node, naming the
    cures; None when the period was fine. Large raw images sent best effort between processes
    are mostly lost in Fast DDS's default UDP transport (fragments dropped), which looks like
    a slow tracker although the node is idle."""
    if summary.missed < MISSED_ADVICE_MIN or summary.missed < summary.received:
        return None
    total = summary.missed + summary.received
    cures = []
    if reliability != "reliable":
        cures.append("reliable QoS on both sides (qos_reliability:=reliable and a reliable "
                     "publisher)")
    if not compressed:
        cures.append("compressed input (compressed:=true)")
    cures.append("the DDS large-data transport (FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA in "
                 "every process)")
    return (
        f"{summary.missed} of {total} frames published on {topic} in the last "
        f"{summary.seconds:.1f} s never reached the node (lost in DDS before it, not dropped "
        f"by it); cures: {'; or '.join(cures)}"
    )


def engine_status(
    model_path: str,
    model_name: str,
    arch: str,
    input_size: tuple[int, int],
    provider: str,
    requested: tuple[str, ...],
    gpu_fallback_reason: str | None,
) -> DiagnosticStatus:
    """The shared inference session: WARN while a requested GPU provider is not active, with
    the reason (:func:`fairmot_ros.engine.gpu_fallback_reason`)."""
    level, message = DiagnosticStatus.OK, f"running on {provider}"
    if gpu_fallback_reason:
        level = DiagnosticStatus.WARN
        message = f"GPU requested but running on {provider}: {gpu_fallback_reason}"
    width, height = input_size
    return DiagnosticStatus(
        level=level,
        name=keys.INFERENCE_STATUS,
        message=message,
        hardware_id=provider,
        values=_values(
            [
                (keys.MODEL, model_path),
                (keys.MODEL_NAME, model_name or "unnamed"),
                (keys.ARCH, arch),
                (keys.INPUT_SIZE, f"{width}x{height}"),
                (keys.EXECUTION_PROVIDER, provider),
                (keys.REQUESTED_PROVIDERS, ", ".join(requested)),
            ]
        ),
    )
