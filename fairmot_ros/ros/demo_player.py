"""The camera side of the demo: publishes frames to the tracker node over DDS, collects answers.

Frames go out as ``sensor_msgs/Image`` (bgr8, ``frame_id`` ``camera``, stamp = frame time)
on a reliable publisher; the node is started with reliable input, so nothing is lost on the
way in. Answers (``Detection2DArray``, ``TrackArray``, the debug image) are matched to frames
by their header stamp, which the node copies from the image.

Pacing: :meth:`FramePlayer.play_lockstep` sends frame k+1 only when the detections of frame
k have arrived (or a timeout passed), so every frame is tracked and the MOT score measures
the node, not the machine's speed. :meth:`FramePlayer.play_realtime` publishes at the camera
rate whatever the node does; the node then works on the newest frame and the frames it
skipped show up as unanswered here and as dropped in its diagnostics.

Before the first frame the player waits until both directions are matched, sends a black
warm-up frame until it is answered and clears the node's tracks with its ``~/reset`` service,
so the first real frame cannot be lost to discovery and ids start at 1.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from fairmot_ros_msgs.msg import Track, TrackArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray

from fairmot_ros.ros.demo_process import DemoError
from fairmot_ros.ros.demo_render import FrameResult
from fairmot_ros.ros.image_codec import bgr_to_imgmsg
from fairmot_ros.ros.track_messages import detections_to_arrays

__all__ = [
    "CAMERA_FRAME_ID",
    "DiagnosticsSnapshot",
    "FramePlayer",
    "frame_stamp_ns",
    "result_from_detections",
]

CAMERA_FRAME_ID = "camera"
NODE_NAME = "fairmot_tracker"  # fairmot_ros.ros.node.NODE_NAME (not imported: it loads ORT)
_STATE_NAMES = {
    Track.STATE_TENTATIVE: "tentative", Track.STATE_TRACKED: "tracked", Track.STATE_LOST: "lost",
}


def frame_stamp_ns(frame: int, fps: float) -> int:
    """Stamp of 1-based ``frame`` at ``fps``: ``frame / fps`` seconds, as ``fairmot-eval`` times
    frames (never zero, which the node would replace by its receive time)."""
    return round(frame * 1e9 / fps)


def _time_msg(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def _stamp_ns(header: Any) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def result_from_detections(msg: Detection2DArray, frame: int) -> FrameResult:
    """The published ``Detection2DArray`` of ``frame`` as a :class:`FrameResult`."""
    ids, tlwh, scores = detections_to_arrays(msg)
    return FrameResult(frame, _stamp_ns(msg.header), ids, tlwh, scores)


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
class PlayStats:
    """Bookkeeping of one run; every sent frame is answered, timed out or (realtime) skipped."""

    sent: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    warmup_frames: int = 0
    duplicate_answers: int = 0
    foreign_answers: int = 0
    wrong_frame_id: int = 0
    ids_missing_from_store: int = 0
    late_publishes: int = 0
    seconds: float = 0.0


class FramePlayer:
    """Publisher of the frames and subscriber of everything the node says about them."""

    def __init__(
        self, domain_id: int, namespace: str, debug_image: bool = True,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.image_topic = f"{prefix}/image"
        self.node_base = f"{prefix}/{NODE_NAME}"
        self.alive = alive
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("fairmot_demo_player", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.stats = PlayStats()
        self.results: dict[int, FrameResult] = {}
        self.frame_ids: dict[int, str] = {}
        self.store_states: dict[int, Counter] = {}
        self.diagnostics: list[DiagnosticsSnapshot] = []
        self.debug_image: Image | None = None
        self.debug_image_frame: int | None = None
        self._frames_by_stamp: dict[int, int] = {}
        self._sent_at: dict[int, float] = {}
        self._warmup_stamp: int | None = None
        self._warmup_answers = 0
        self._debug_waiting: dict[int, Image] = {}
        self._debug_best = -1
        self.publisher = self.node.create_publisher(Image, self.image_topic, _reliable(2))
        self._detections_sub = self.node.create_subscription(
            Detection2DArray, f"{self.node_base}/detections", self._on_detections, _reliable(100)
        )
        self._tracks_sub = self.node.create_subscription(
            TrackArray, f"{self.node_base}/tracks", self._on_tracks, _reliable(100)
        )
        if debug_image:
            self.node.create_subscription(
                Image, f"{self.node_base}/debug_image", self._on_debug_image, _reliable(5)
            )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    # ----- callbacks ---------------------------------------------------------------------------
    def _on_detections(self, msg: Detection2DArray) -> None:
        stamp = _stamp_ns(msg.header)
        if stamp == self._warmup_stamp:
            self._warmup_answers += 1
            return
        frame = self._frames_by_stamp.get(stamp)
        if frame is None:
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
        camera = engine = None
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name.startswith(f"{NODE_NAME}: ") and status.hardware_id == self.image_topic:
                camera = values
            elif status.name == f"{NODE_NAME}: inference":
                engine = values
        if camera is not None:
            self.diagnostics.append(DiagnosticsSnapshot(camera, engine or {}))

    # ----- spinning ----------------------------------------------------------------------------
    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Run callbacks until ``predicate`` holds (True) or ``timeout`` passes (False).

        Raises :class:`DemoError` as soon as the node process is gone.
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not self.alive():
                raise DemoError("tracker_node exited while the demo was waiting for it")
            self.executor.spin_once(timeout_sec=min(0.02, remaining))
        return True

    # ----- connection --------------------------------------------------------------------------
    def connect(self, size: tuple[int, int], first_stamp_ns: int, timeout: float) -> None:
        """Match both directions, get one warm-up frame answered, reset the node's tracks."""
        ready = self.spin_until(
            lambda: self.publisher.get_subscription_count() > 0
            and self._detections_sub.get_publisher_count() > 0
            and self._tracks_sub.get_publisher_count() > 0,
            timeout,
        )
        if not ready:
            raise DemoError(
                f"no tracker_node subscribed to {self.image_topic} / published "
                f"{self.node_base}/detections within {timeout:.0f} s"
            )
        width, height = size
        self._warmup_stamp = max(1, first_stamp_ns // 2)
        header = Header(stamp=_time_msg(self._warmup_stamp), frame_id=CAMERA_FRAME_ID)
        warmup = bgr_to_imgmsg(np.zeros((height, width, 3), np.uint8), header)
        deadline = time.monotonic() + timeout
        while True:
            self.publisher.publish(warmup)
            self.stats.warmup_frames += 1
            if self.spin_until(lambda: self._warmup_answers > 0, 2.0):
                break
            if time.monotonic() > deadline:
                raise DemoError(f"tracker_node answered no warm-up frame within {timeout:.0f} s")
        if self.stats.warmup_frames > 1:  # let answers to earlier copies arrive before the reset
            self.spin_until(lambda: self._warmup_answers >= self.stats.warmup_frames, 1.0)
        self.reset_tracks(timeout)

    def reset_tracks(self, timeout: float) -> str:
        client = self.node.create_client(Trigger, f"{self.node_base}/reset")
        try:
            if not self.spin_until(client.service_is_ready, timeout):
                raise DemoError(f"service {self.node_base}/reset is not available")
            future = client.call_async(Trigger.Request())
            if not self.spin_until(future.done, timeout) or not future.result().success:
                raise DemoError(f"{self.node_base}/reset failed")
            return future.result().message
        finally:
            self.node.destroy_client(client)

    # ----- playing -----------------------------------------------------------------------------
    def _publish(self, frame: int, image: np.ndarray, stamp_ns: int) -> None:
        self._frames_by_stamp[stamp_ns] = frame
        header = Header(stamp=_time_msg(stamp_ns), frame_id=CAMERA_FRAME_ID)
        msg = bgr_to_imgmsg(image, header)
        self._sent_at[stamp_ns] = time.perf_counter()
        self.publisher.publish(msg)
        self.stats.sent.append(frame)

    def play_lockstep(
        self, frames: Iterable[tuple[int, np.ndarray]], fps: float, timeout: float,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Send each frame when the previous one is answered or ``timeout`` s have passed."""
        start = time.perf_counter()
        for frame, image in frames:
            stamp = frame_stamp_ns(frame, fps)
            self._publish(frame, image, stamp)
            if not self.spin_until(lambda f=frame: f in self.results, timeout):
                self.stats.timed_out.append(frame)
            if progress is not None:
                progress(frame)
        self.stats.seconds = time.perf_counter() - start

    def play_realtime(
        self, frames: Iterable[tuple[int, np.ndarray]], fps: float, timeout: float,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Publish at ``fps`` regardless of answers; then wait for the last frame's answer.

        The node keeps only the newest frame, so its last frame is always processed; frames
        it skipped stay unanswered. A publish more than one period late restarts the clock
        instead of bursting to catch up, and is counted.
        """
        period = 1.0 / fps
        start = time.perf_counter()
        next_time = time.monotonic()
        last = None
        for frame, image in frames:
            self.spin_until(lambda t=next_time: time.monotonic() >= t, period + 1.0)
            if time.monotonic() - next_time > period:
                self.stats.late_publishes += 1
                next_time = time.monotonic()
            self._publish(frame, image, frame_stamp_ns(frame, fps))
            last = frame
            next_time += period
            if progress is not None:
                progress(frame)
        if last is not None and not self.spin_until(lambda: last in self.results, timeout):
            self.stats.timed_out.append(last)
        self.stats.seconds = time.perf_counter() - start

    def wait_for_final_diagnostics(self, timeout: float) -> DiagnosticsSnapshot | None:
        """The first diagnostics that count every answer this run received (warm-up included)."""
        expected = len(self.results) + self._warmup_answers

        def complete() -> bool:
            return bool(self.diagnostics) and (
                self.diagnostics[-1].number("frames published") >= expected
            )

        self.spin_until(complete, timeout)
        return self.diagnostics[-1] if self.diagnostics else None
