"""The tracker node's ``/diagnostics``: a periodic report, and a prompt one after a lost frame.

:class:`DiagnosticsReporter` publishes one ``DiagnosticArray`` per ``diagnostics_period`` on a
steady-time timer (with ``use_sim_time`` and nothing on ``/clock`` a ROS-time timer would never
fire, and ``/diagnostics`` would stop without a word): the inference status and one status per
camera, built by ``fairmot_ros.ros.diagnostics``. It also warns (every 30 s) while sim time has
no ``/clock`` and when most frames of a camera never reached the node.

A refused or dropped frame makes the node report at once (:class:`PromptReports`, a coalescing
one-shot timer) instead of at the next period, so that a lock-step driver
(``fairmot-bag play --lockstep``, ``fairmot-demo``) learns within milliseconds that the frame it
sent will get no answer (``fairmot_ros.replay.node_reports``). A prompt report covers the
period so far and does not restart it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType

from fairmot_ros.ros.diagnostics import (
    camera_status,
    engine_status,
    missed_frames_advice,
    motion_values,
    spatial_values,
)

__all__ = ["DiagnosticsReporter", "PromptReports"]

# A prompt report goes out this long after the frame that asks for it (frames refused in a
# burst share it), and at least PROMPT_MIN_GAP_S after the previous prompt report, so a stream
# that drops every other frame adds at most 1 / PROMPT_MIN_GAP_S reports a second.
PROMPT_DELAY_S = 0.002
PROMPT_MIN_GAP_S = 0.1
# The missed-frames advice is repeated at most this often while frames keep going missing.
MISSED_ADVICE_EVERY_S = 30.0
# And the warning that sim time has no /clock.
SIM_CLOCK_WARN_EVERY_S = 30.0


class PromptReports:
    """A diagnostics report soon after a frame is refused or dropped, besides the periodic one.

    :meth:`request` may be called from any thread; the report is published from the node's
    executor by a one-shot steady-time timer. Requests made before it fires share its report,
    and prompt reports are at least :data:`PROMPT_MIN_GAP_S` apart.
    """

    def __init__(self, node: Any, publish: Callable[[], None]) -> None:
        self._publish = publish
        self._lock = threading.Lock()
        self._armed = False
        self._last = float("-inf")
        self.timer = node.create_timer(
            PROMPT_DELAY_S, self._fire, clock=Clock(clock_type=ClockType.STEADY_TIME),
            autostart=False,
        )

    def request(self) -> None:
        with self._lock:
            if self._armed:
                return
            self._armed = True
            delay = max(PROMPT_DELAY_S, self._last + PROMPT_MIN_GAP_S - time.monotonic())
            self.timer.timer_period_ns = int(delay * 1e9)
            self.timer.reset()

    def _fire(self) -> None:
        self.timer.cancel()
        with self._lock:  # a request from now on arms the timer again
            self._armed = False
            self._last = time.monotonic()
        self._publish()


class DiagnosticsReporter:
    """Publishes the node's reports (see the module doc).

    ``runtime`` is read at each report: ``cameras`` (``fairmot_ros.ros.cameras.Camera``),
    ``detector``, ``model_path``, ``settings`` and ``active``.
    """

    def __init__(self, node: Any, runtime: Any, period: float) -> None:
        self.node, self.runtime = node, runtime
        self.logger = node.get_logger()
        self._last = time.monotonic()
        self._sim_clock_warned_at: float | None = None
        self._missed_warned_at: dict[str, float] = {}
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.timer = node.create_timer(
            period, self.publish, clock=Clock(clock_type=ClockType.STEADY_TIME),
        )
        self.prompt = PromptReports(node, lambda: self.publish(restart=False))

    def destroy(self) -> None:
        for timer in (self.timer, self.prompt.timer):
            self.node.destroy_timer(timer)
        self.node.destroy_publisher(self.publisher)

    def publish(self, restart: bool = True) -> None:
        """The report of the period that ends now (the timer), or with ``restart`` False of
        the period so far (a prompt report after a refused or dropped frame)."""
        now = time.monotonic()
        seconds = now - self._last
        if restart:
            self._last = now
            self._check_sim_clock(now)
        runtime, node = self.runtime, self.node
        engine = runtime.detector.engine
        contract = engine.contract
        statuses = [
            engine_status(
                str(runtime.model_path), contract.model_name, contract.arch,
                (contract.input_width, contract.input_height), engine.active_provider,
                tuple(engine.requested_providers), engine.gpu_fallback_reason,
            )
        ]
        settings = runtime.settings
        for camera in runtime.cameras:
            summary = camera.stats.interval(seconds, restart)
            topic = node.resolve_topic_name(camera.topic)
            if restart:
                self._advise_missed(camera.name, summary, topic, settings, now)
            pipeline = camera.pipeline
            status = camera_status(
                camera.name, topic, summary, pipeline.live_tracks(), runtime.active,
                camera.stats.last_rejection,
            )
            status.values.extend(motion_values(pipeline.config.camera_motion, pipeline.motion))
            spatial = camera.spatial
            status.values.extend(spatial_values(
                settings.spatial.mode, spatial.poses.source if spatial is not None else "none",
                spatial, seconds, restart))
            statuses.append(status)
        message = DiagnosticArray(status=statuses)
        message.header.stamp = node.get_clock().now().to_msg()
        self.publisher.publish(message)

    def _advise_missed(self, name: str, summary: Any, topic: str, settings: Any,
                       now: float) -> None:
        advice = missed_frames_advice(summary, topic, settings.compressed,
                                      settings.qos_reliability)
        last = self._missed_warned_at.get(name)
        if advice and (last is None or now - last >= MISSED_ADVICE_EVERY_S):
            self._missed_warned_at[name] = now
            self.logger.warning(f"{name}: {advice}")

    def _check_sim_clock(self, now: float) -> None:
        """WARN (every 30 s) while use_sim_time is on and no /clock message has come: the node
        clock then reads 0, and everything timed by it stands still."""
        clock = self.node.get_clock()
        if not getattr(clock, "ros_time_is_active", False) or clock.now().nanoseconds != 0:
            return
        if (
            self._sim_clock_warned_at is not None
            and now - self._sim_clock_warned_at < SIM_CLOCK_WARN_EVERY_S
        ):
            return
        self._sim_clock_warned_at = now
        publishers = self.node.count_publishers("/clock")
        self.logger.warning(
            f"use_sim_time is true but no /clock message has arrived ({publishers} publishers "
            "of /clock): the node clock stands at 0; start the bag player with --clock or set "
            "use_sim_time:=false"
        )
