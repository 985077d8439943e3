"""The node side of a replay: what the tracker node answers, frame by frame, and its start.

:class:`NodeObserver` subscribes to everything the node says about the images a
:class:`fairmot_ros.replay.player.BagPlayer` sends (``~/detections``, ``~/tracks``,
``~/debug_image``, ``/diagnostics``) and pairs each answer with its frame through the header
stamp, which the node copies from the image. Its :meth:`NodeObserver.answered` is the
lock-step condition of the player: image k+1 leaves when the detections of image k are back
(or the node reported it refused or dropped, :attr:`NodeObserver.reports`, or a timeout
passed), so every frame is tracked and the MOT score measures the node, not the machine's
speed. Played at the recorded rate instead, the node works on the newest frame and
the frames it skipped show up as unanswered here and as dropped in its diagnostics.

Before the first frame :meth:`NodeObserver.connect` waits until both directions are matched,
sends a black warm-up frame until it is answered and clears the node's tracks with its
``~/reset`` service, so the first real frame cannot be lost to discovery and ids start at 1.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from fairmot_ros_msgs.msg import Track, TrackArray
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray

from fairmot_ros.replay.frames import image_message_bytes
from fairmot_ros.replay.node_reports import CameraReports
from fairmot_ros.replay.results import FrameResult, detections_result
from fairmot_ros.replay.session import ReplayError, RosSession
from fairmot_ros.ros import diagnostic_keys as keys
from fairmot_ros.stamps import time_to_ns

__all__ = [
    "CAMERA_FRAME_ID",
    "DiagnosticsSnapshot",
    "NodeObserver",
    "result_from_detections",
]

CAMERA_FRAME_ID = "camera"
NODE_NAME = "fairmot_tracker"  # fairmot_ros.ros.node.NODE_NAME (not imported: it loads ORT)
_STATE_NAMES = {
    Track.STATE_TENTATIVE: "tentative", Track.STATE_TRACKED: "tracked", Track.STATE_LOST: "lost",
}


def _stamp_ns(header: Any) -> int:
    return time_to_ns(header.stamp)


def result_from_detections(msg: Detection2DArray, frame: int) -> FrameResult:
    """The published ``Detection2DArray`` of ``frame`` as a :class:`FrameResult`."""
    return detections_result(msg, frame)


def _reliable(depth: int) -> QoSProfile:
    return QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=depth,
        durability=DurabilityPolicy.VOLATILE,
    )


@dataclass
class DiagnosticsSnapshot:
    """The node's camera and inference status values from one ``/diagnostics`` message."""

    camera: dict[str, str]
    engine: dict[str, str]

    def number(self, key: str) -> float:
        try:
            return float(self.camera.get(key, "nan"))
        except ValueError:
            return float("nan")


@dataclass
class ObserverStats:
    """What arrived that did not fit: duplicates, foreign stamps, wrong frame ids."""

    warmup_frames: int = 0
    duplicate_answers: int = 0
    foreign_answers: int = 0
    wrong_frame_id: int = 0
    ids_missing_from_store: int = 0
    sent_frames: list[int] = field(default_factory=list)


class NodeObserver:
    """Subscriber of everything the node says about the frames (see the module doc)."""

    def __init__(self, session: RosSession, namespace: str, frames_by_stamp: dict[int, int],
                 debug_image: bool = True) -> None:
        prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.image_topic = f"{prefix}/image"
        self.node_base = f"{prefix}/{NODE_NAME}"
        self.detections_topic = f"{self.node_base}/detections"
        self.tracks_topic = f"{self.node_base}/tracks"
        self.session = session
        self.stats = ObserverStats()
        self.results: dict[int, FrameResult] = {}
        self.frame_ids: dict[int, str] = {}
        self.store_states: dict[int, Counter] = {}
        self.diagnostics: list[DiagnosticsSnapshot] = []
        # The camera's refusal and drop counters, for the player's lock-step.
        self.reports = CameraReports(self.image_topic)
        self.debug_image: Image | None = None
        self.debug_image_frame: int | None = None
        self._frames_by_stamp = frames_by_stamp
        self._sent_at: dict[int, float] = {}
        self._warmup_stamp: int | None = None
        self._warmup_answers = 0
        self._debug_waiting: dict[int, Image] = {}
        self._debug_best = -1
        node = session.node
        self._detections_sub = node.create_subscription(
            Detection2DArray, self.detections_topic, self._on_detections, _reliable(100))
        self._tracks_sub = node.create_subscription(
            TrackArray, self.tracks_topic, self._on_tracks, _reliable(100))
        if debug_image:
            node.create_subscription(Image, f"{self.node_base}/debug_image",
                                     self._on_debug_image, _reliable(5))
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    @property
    def warmup_answers(self) -> int:
        return self._warmup_answers

    # ----- the player's hooks ----------------------------------------------------------------
    def sent(self, stamp_ns: int) -> None:
        """Called by the player just before the image stamped ``stamp_ns`` goes out."""
        self._sent_at[stamp_ns] = time.perf_counter()
        frame = self._frames_by_stamp.get(stamp_ns)
        if frame is not None:
            self.stats.sent_frames.append(frame)

    def answered(self, stamp_ns: int) -> bool:
        frame = self._frames_by_stamp.get(stamp_ns)
        return frame is not None and frame in self.results

    # ----- callbacks -------------------------------------------------------------------------
    def _on_detections(self, msg: Detection2DArray) -> None:
        stamp = _stamp_ns(msg.header)
        if stamp == self._warmup_stamp:
            self._warmup_answers += 1
            return
        frame = self._frames_by_stamp.get(stamp)
        if frame is None or stamp not in self._sent_at:
            self.stats.foreign_answers += 1
            return
        if frame in self.results:
            self.stats.duplicate_answers += 1
            return
        result = result_from_detections(msg, frame)
        result.round_trip_s = time.perf_counter() - self._sent_at[stamp]
        self.results[frame] = result
        self.frame_ids[frame] = msg.header.frame_id
        if msg.header.frame_id != CAMERA_FRAME_ID:
            self.stats.wrong_frame_id += 1
        waiting = self._debug_waiting.pop(stamp, None)
        if waiting is not None:
            self._consider_debug_image(frame, waiting)

    def _on_tracks(self, msg: TrackArray) -> None:
        frame = self._frames_by_stamp.get(_stamp_ns(msg.header))
        if frame is None:
            return
        self.store_states[frame] = Counter(_STATE_NAMES.get(t.state, "?") for t in msg.tracks)
        result = self.results.get(frame)
        if result is not None:
            tracked = {t.id for t in msg.tracks if t.state == Track.STATE_TRACKED}
            self.stats.ids_missing_from_store += sum(i not in tracked for i in result.ids)

    def _on_debug_image(self, msg: Image) -> None:
        stamp = _stamp_ns(msg.header)
        frame = self._frames_by_stamp.get(stamp)
        if frame is None:
            return
        if frame in self.results:
            self._consider_debug_image(frame, msg)
        else:  # the detections of this frame are still on their way
            self._debug_waiting[stamp] = msg
            while len(self._debug_waiting) > 4:
                self._debug_waiting.pop(next(iter(self._debug_waiting)))

    def _consider_debug_image(self, frame: int, msg: Image) -> None:
        """Keep the node's rendering of the busiest frame so far (the demo's snapshot frame)."""
        count = len(self.results[frame])
        if count > self._debug_best or (
            count == self._debug_best and self.debug_image_frame is not None
            and frame < self.debug_image_frame
        ):
            self._debug_best, self.debug_image, self.debug_image_frame = count, msg, frame

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        camera = self.reports.on_diagnostics(msg)
        engine = next(({kv.key: kv.value for kv in status.values} for status in msg.status
                       if status.name == keys.INFERENCE_STATUS), None)
        if camera is not None:
            self.diagnostics.append(DiagnosticsSnapshot(camera, engine or {}))

    # ----- connection --------------------------------------------------------------------------
    def _graph(self, player: Any, image_topic: str) -> str:
        """What discovery found, for a failed connection: the nodes seen on the domain and the
        matches of each direction (a node up but unmatched points at DDS discovery)."""
        try:
            names = sorted(f"{ns.rstrip('/')}/{name}" for name, ns in
                           self.session.node.get_node_names_and_namespaces())  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a report on a failure must not fail itself
            return f"graph unavailable: {exc}"
        return (f"nodes seen: {', '.join(names) or 'none'}; image subscribers "
                f"{player.publishers[image_topic].get_subscription_count()}, detections "
                f"publishers {self._detections_sub.get_publisher_count()}, tracks publishers "
                f"{self._tracks_sub.get_publisher_count()}")

    def connect(self, player: Any, image_topic: str, size: tuple[int, int],
                first_stamp_ns: int, timeout: float) -> None:
        """Match both directions, get one warm-up frame answered, reset the node's tracks.

        ``player`` is the :class:`BagPlayer` whose ``image_topic`` publisher feeds the node.
        """
        spin_until = self.session.spin_until
        ready = spin_until(
            lambda: player.publishers[image_topic].get_subscription_count() > 0
            and self._detections_sub.get_publisher_count() > 0
            and self._tracks_sub.get_publisher_count() > 0,
            timeout,
        )
        if not ready:
            raise ReplayError(
                f"no tracker_node subscribed to {self.image_topic} / published "
                f"{self.detections_topic} within {timeout:.0f} s "
                f"({self._graph(player, image_topic)})"
            )
        width, height = size
        self._warmup_stamp = max(1, first_stamp_ns // 2)
        player.publish_clock(self._warmup_stamp, force=True)
        _, warmup = image_message_bytes(np.zeros((height, width, 3), np.uint8),
                                        self._warmup_stamp, CAMERA_FRAME_ID)
        deadline = time.monotonic() + timeout
        while True:
            player.publishers[image_topic].publish(warmup)
            self.stats.warmup_frames += 1
            if spin_until(lambda: self._warmup_answers > 0, 2.0):
                break
            if time.monotonic() > deadline:
                raise ReplayError(f"tracker_node answered no warm-up frame within {timeout:.0f} s")
        if self.stats.warmup_frames > 1:  # let answers to earlier copies arrive before the reset
            spin_until(lambda: self._warmup_answers >= self.stats.warmup_frames, 1.0)
        self.reset_tracks(timeout)

    def reset_tracks(self, timeout: float) -> str:
        node = self.session.node
        client = node.create_client(Trigger, f"{self.node_base}/reset")
        try:
            if not self.session.spin_until(client.service_is_ready, timeout):
                raise ReplayError(f"service {self.node_base}/reset is not available")
            future = client.call_async(Trigger.Request())
            if not self.session.spin_until(future.done, timeout) or not future.result().success:
                raise ReplayError(f"{self.node_base}/reset failed")
            return future.result().message
        finally:
            node.destroy_client(client)

    def wait_for_final_diagnostics(self, timeout: float) -> DiagnosticsSnapshot | None:
        """The first diagnostics that count every answer this run received (warm-up included)."""
        expected = len(self.results) + self._warmup_answers

        def complete() -> bool:
            return bool(self.diagnostics) and (
                self.diagnostics[-1].number(keys.FRAMES_PUBLISHED) >= expected
            )

        self.session.spin_until(complete, timeout)
        return self.diagnostics[-1] if self.diagnostics else None
