"""What the tracker node does, independent of whether it is a plain or a lifecycle node.

Threads: the executor thread runs subscription callbacks (which only drop the message into
the camera's one-slot mailbox), services, parameter callbacks and the diagnostics timer. One
image thread takes the newest frame of every camera that has one, decodes them, runs them
through the shared detector in one batch, updates each camera's tracker and publishes. So the
executor is never blocked by inference, the node always works on the newest frame, and a frame
overwritten in a mailbox is counted as dropped instead of silently queued or lost.

Failures of single frames never stop the node: each is counted once in /diagnostics under
its reason and warned about at most every few seconds (see README "Failure behaviour").

Stages: ``configure`` loads and warms up the ONNX session and creates publishers, trackers and
the diagnostics timer; ``activate`` subscribes and starts the image thread; ``deactivate`` and
``cleanup`` undo them in reverse. A plain node runs configure + activate at start-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, KeyValue
from fairmot_ros_msgs.msg import TrackArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray

from fairmot_ros.detector import Detector
from fairmot_ros.engine import Engine
from fairmot_ros.ros import diagnostic_keys as keys
from fairmot_ros.ros.cameras import Camera, PendingFrame, make_cameras, publisher_key
from fairmot_ros.ros.diagnostics import (
    PromptReports,
    camera_status,
    engine_status,
    missed_frames_advice,
)
from fairmot_ros.ros.image_codec import (
    ImageDecodeError,
    ImageDecoder,
    bgr_to_imgmsg,
    check_scalable,
)
from fairmot_ros.ros.parameters import NodeSettings, declare_parameters, settings_from_values
from fairmot_ros.ros.track_messages import detection_array, track_array, track_id_string
from fairmot_ros.tracking import filter_tracks
from fairmot_ros.tracking.camera_motion import CameraMotionEstimator, describe_warp, estimator_for
from fairmot_ros.visualize import draw_tracks

__all__ = ["StartupError", "TrackerRuntime", "resolve_model_path"]

# Outputs are reliable keep-last: that matches reliable and best-effort subscribers alike.
_OUTPUT_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10
)
_DEBUG_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1
)


# Per-frame warnings are printed at most this often (a bad stream would flood the log).
_WARN_EVERY_S = 5.0
# The missed-frames advice is repeated at most this often while frames keep going missing.
_MISSED_ADVICE_EVERY_S = 30.0
# And the warning that sim time has no /clock.
_SIM_CLOCK_WARN_EVERY_S = 30.0
_NANOSECONDS = 1_000_000_000
# frame_id is copied into the header of every output and every Detection2D: a TF frame name,
# not a payload.
_MAX_FRAME_ID = 256


class StartupError(RuntimeError):
    """The node cannot start (model missing, GPU required but absent, bad parameters)."""


def resolve_model_path(model: str) -> Path:
    """The model to load: the ``model`` parameter, or the package's shipped default model."""
    if model:
        path = Path(model).expanduser().resolve()
        if not path.is_file():
            raise StartupError(f"model file {path} does not exist (parameter 'model')")
        return path
    from fairmot_ros.default_model import default_model_path

    try:
        return default_model_path()
    except FileNotFoundError as exc:
        raise StartupError(f"no 'model' parameter given and {exc}") from None


def input_qos(settings: NodeSettings) -> QoSProfile:
    """Sensor-data style by default (best effort, keep last ``queue_depth``, volatile)."""
    reliability = (
        ReliabilityPolicy.RELIABLE
        if settings.qos_reliability == "reliable"
        else ReliabilityPolicy.BEST_EFFORT
    )
    return QoSProfile(
        reliability=reliability,
        history=HistoryPolicy.KEEP_LAST,
        depth=settings.queue_depth,
        durability=DurabilityPolicy.VOLATILE,
    )


def _stamp_seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class TrackerRuntime:
    """Parameters, cameras, the shared detector, the image thread, services and diagnostics."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.logger = node.get_logger()
        try:
            # A YAML/CLI override of the wrong type or out of its declared range is a user
            # error: one line naming it, not a traceback.
            self._values = declare_parameters(node)
            self.settings = settings_from_values(self._values)
        except (ValueError, ParameterException) as exc:
            raise StartupError(f"invalid parameters: {exc}") from None
        node.add_on_set_parameters_callback(self._validate_parameters)
        node.add_post_set_parameters_callback(self._apply_parameters)
        self.detector: Detector | None = None
        self.model_path: Path | None = None
        self.cameras: list[Camera] = []
        self.active = False
        self._decoder = ImageDecoder(max_pixels=self.settings.max_image_pixels)
        self._sim_clock_warned_at: float | None = None
        self._frames = threading.Condition()
        self._tracker_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._diagnostics_pub = None
        self._diagnostics_timer = None
        self._prompt_reports: PromptReports | None = None
        self._last_diagnostics = time.monotonic()
        # Camera-motion estimators by camera name, with the method they implement.
        self._motion: dict[str, tuple[str, CameraMotionEstimator]] = {}
        self._reset_srv = node.create_service(Trigger, "~/reset", self._on_reset)

    # ----- parameters ------------------------------------------------------------------------
    def _own(self, parameters: Sequence[Any]) -> dict[str, Any]:
        """The changes that concern this node's table (not use_sim_time, qos_overrides, ...)."""
        return {p.name: p.value for p in parameters if p.name in self._values}

    def _validate_parameters(self, parameters: Sequence[Any]) -> SetParametersResult:
        """Reject a change that makes the whole configuration invalid, saying why."""
        changes = self._own(parameters)
        if not changes:
            return SetParametersResult(successful=True)
        try:
            settings_from_values({**self._values, **changes})
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters: Sequence[Any]) -> None:
        """Swap in the new settings; the image thread picks them up at its next frame."""
        changes = self._own(parameters)
        if not changes:
            return
        self._values.update(changes)
        self.settings = settings_from_values(self._values)
        self.logger.info(
            "parameters changed: " + ", ".join(f"{k}={v}" for k, v in changes.items())
        )

    def _apply_tracking_settings(self, settings: NodeSettings) -> None:
        """Hand re-tunable values to the detector and trackers (image thread, between frames)."""
        config = settings.tracker
        self._decoder.max_pixels = settings.max_image_pixels
        if self.detector is not None:
            self.detector.conf_thres = config.detector_threshold
            self.detector.topk = settings.topk
        with self._tracker_lock:
            for camera in self.cameras:
                if camera.tracker.configure(config):
                    camera.trails.clear()
                    self.logger.warning(
                        f"{camera.name}: tracker timing changed (frame_rate/time_snap_frames); "
                        "tracks were cleared and ids restart at 1"
                    )

    # ----- lifecycle stages ------------------------------------------------------------------
    def configure(self) -> None:
        """Load and warm up the ONNX session; create trackers, publishers and diagnostics."""
        settings = self.settings
        self.model_path = resolve_model_path(settings.model)
        try:
            engine = Engine(
                self.model_path,
                providers=settings.providers,
                require_gpu=settings.require_gpu,
                threads=settings.intra_op_threads or None,
                heads_at_peaks=settings.heads_at_peaks,
            )
        except Exception as exc:  # EngineError, GpuUnavailableError, ContractError
            raise StartupError(str(exc)) from None
        engine.warmup()
        self.detector = Detector(
            engine, conf_thres=settings.tracker.detector_threshold, topk=settings.topk
        )
        self._applied = settings
        self.cameras = make_cameras(
            settings.subscribed_topics,
            settings.camera_names,
            settings.tracker,
            settings.debug_trail_length,
        )
        node = self.node
        for camera in self.cameras:
            camera.detections_pub = node.create_publisher(
                Detection2DArray, camera.output_topic("detections"), _OUTPUT_QOS
            )
            camera.tracks_pub = node.create_publisher(
                TrackArray, camera.output_topic("tracks"), _OUTPUT_QOS
            )
            camera.debug_pub = node.create_publisher(
                Image, camera.output_topic("debug_image"), _DEBUG_QOS
            )
        self._diagnostics_pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._last_diagnostics = time.monotonic()
        # Steady time, not the node clock: with use_sim_time and nothing on /clock a ROS-time
        # timer never fires, and /diagnostics would stop without a word.
        self._diagnostics_timer = node.create_timer(
            settings.diagnostics_period, self._publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )
        # A refused or dropped frame is reported at once: lock-step players wait for it.
        self._prompt_reports = PromptReports(node, lambda: self._publish_diagnostics(False))
        for camera in self.cameras:
            camera.stats.on_frame_lost = self._prompt_reports.request

    def activate(self) -> None:
        """Subscribe to the cameras and start the image thread; log the start-up line."""
        settings = self.settings
        message_type = CompressedImage if settings.compressed else Image
        qos = input_qos(settings)
        for camera in self.cameras:
            camera.subscription = self.node.create_subscription(
                message_type, camera.topic,
                lambda msg, info, c=camera: self._on_image(c, msg, info), qos,
            )
        self._stopping = False
        self._thread = threading.Thread(target=self._image_loop, name="fairmot_images")
        self._thread.start()
        self.active = True
        self._log_startup(settings, message_type.__name__)

    def deactivate(self) -> None:
        """Unsubscribe and stop the image thread (after the frame in progress)."""
        self.active = False
        for camera in self.cameras:
            if camera.subscription is not None:
                self.node.destroy_subscription(camera.subscription)
                camera.subscription = None
        with self._frames:
            self._stopping = True
            for camera in self.cameras:
                camera.take()
            self._frames.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def cleanup(self) -> None:
        """Release publishers, timer, trackers and the ONNX session."""
        if self.active:
            self.deactivate()
        node = self.node
        for camera in self.cameras:
            for publisher in (camera.detections_pub, camera.tracks_pub, camera.debug_pub):
                node.destroy_publisher(publisher)
        self.cameras = []
        self._motion.clear()
        if self._diagnostics_timer is not None:
            node.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._prompt_reports is not None:
            node.destroy_timer(self._prompt_reports.timer)
            self._prompt_reports = None
        if self._diagnostics_pub is not None:
            node.destroy_publisher(self._diagnostics_pub)
            self._diagnostics_pub = None
        self.detector = None

    # ----- start-up report -------------------------------------------------------------------
    def _log_startup(self, settings: NodeSettings, message_type: str) -> None:
        engine = self.detector.engine
        contract = engine.contract
        node = self.node
        cameras = "; ".join(
            f"{c.name}: {node.resolve_topic_name(c.topic)} -> "
            f"{node.resolve_topic_name(c.output_topic('detections'))}"
            for c in self.cameras
        )
        fallback = engine.gpu_fallback_reason
        heads = (
            "heads at peaks" if engine.peak_heads is not None
            else f"dense heads: {engine.dense_heads_reason}"
        )  # fmt: skip
        line = (
            f"tracking with {self.model_path} ({contract.model_name or 'unnamed'}, "
            f"{contract.arch}, input {contract.input_width}x{contract.input_height}, "
            f"re-ID {contract.reid_dim}, {heads}) on {engine.active_provider}"
            f"{f' (GPU not used: {fallback})' if fallback else ''}; "
            f"input {message_type} {settings.qos_reliability} depth {settings.queue_depth}; "
            f"{cameras}; decoder {self._decoder.backend}"
        )
        if fallback:
            self.logger.warning(line)
        else:
            self.logger.info(line)

    # ----- frames ----------------------------------------------------------------------------
    def _on_image(self, camera: Camera, msg: Any, info: dict) -> None:
        """Subscription callback: put the frame in the camera's mailbox, nothing more."""
        stamp = msg.header.stamp
        received_ns = 0
        if stamp.sec == 0 and stamp.nanosec == 0:  # the clock is read only for unstamped images
            received_ns = self.node.get_clock().now().nanoseconds
        publisher = publisher_key(info)
        frame = PendingFrame(msg, time.perf_counter(), received_ns, publisher)
        with self._frames:
            replaced = camera.offer(frame)
            self._frames.notify()
        camera.stats.record_received(replaced, camera.missed_before(info), publisher)

    def _image_loop(self) -> None:
        while True:
            with self._frames:
                while not self._stopping and not any(c.pending for c in self.cameras):
                    self._frames.wait()
                if self._stopping:
                    return
                batch = [(c, c.take()) for c in self.cameras if c.pending is not None]
            finished: list[Camera] = []
            try:
                self._process(batch, finished)
            except Exception as exc:  # noqa: BLE001 - the node must outlive one bad frame
                if self._stopping or not self.node.context.ok():
                    return
                for camera, _ in batch:
                    if camera not in finished:
                        camera.stats.record_rejected("processing_error", repr(exc))
                self.logger.error(
                    f"frame processing failed: {exc!r}", throttle_duration_sec=5.0
                )

    def _process(self, batch: list[tuple[Camera, PendingFrame]], finished: list[Camera]) -> None:
        """Decode, detect (one batch), track and publish; ``finished`` collects the cameras
        whose frame was fully accounted for (published or rejected)."""
        settings = self.settings
        if settings is not self._applied:
            self._apply_tracking_settings(settings)
            self._applied = settings
        start = time.perf_counter()
        decoded = []
        for camera, frame in batch:
            try:
                image = self._decode(frame, settings)
            except ImageDecodeError as exc:
                camera.stats.record_rejected(exc.reason, exc.detail)
                finished.append(camera)
                self.logger.warning(
                    f"{camera.name}: dropped an image: {exc}",
                    throttle_duration_sec=_WARN_EVERY_S,
                )
                continue
            decoded.append((camera, frame, image))
        if not decoded:
            return
        detections = self.detector.detect_batch([image for _, _, image in decoded])
        config = settings.tracker
        clock = self.node.get_clock()
        for (camera, frame, image), dets in zip(decoded, detections, strict=True):
            header = frame.msg.header
            timestamp = _stamp_seconds(header.stamp)
            if frame.received_ns:
                timestamp = frame.received_ns * 1e-9
                if not camera.zero_stamp_warned:
                    camera.zero_stamp_warned = True
                    self.logger.warning(
                        f"{camera.name}: images on {camera.topic} have a zero stamp; tracking "
                        "with receive times (outputs keep the zero stamp)"
                    )
            self._check_image_size(camera, image)
            warp = self._camera_warp(camera.name, config.camera_motion, image, dets.boxes)
            with self._tracker_lock:
                tracks = camera.tracker.update(
                    dets.boxes, dets.scores, dets.embeddings, timestamp, warp=warp
                )
                store = camera.tracker.all_tracks()
                reversals = camera.tracker.time_reversals
                capped = camera.tracker.capped_tracks
            returning = camera.note_publisher(frame.publisher)
            if reversals != camera.time_reversals_seen:
                camera.time_reversals_seen = reversals
                self._stamps_went_back(camera, frame, returning)
            camera.last_publisher = frame.publisher
            if capped != camera.capped_seen:
                camera.stats.record_capped(capped - camera.capped_seen)
                camera.capped_seen = capped
                self.logger.warning(
                    f"{camera.name}: more than tracker.max_tracks = {config.max_tracks} live "
                    "tracks; the tracks lost longest were removed",
                    throttle_duration_sec=_WARN_EVERY_S,
                )
            shown = filter_tracks(tracks, config.min_box_area, config.max_aspect_ratio)
            camera.detections_pub.publish(
                detection_array(shown, header, settings.class_id, camera.prefix)
            )
            camera.tracks_pub.publish(
                track_array(store, header, camera.prefix, settings.publish_embeddings)
            )
            if camera.debug_pub.get_subscription_count() > 0:
                self._publish_debug(camera, image, shown, header, settings)
            done = time.perf_counter()
            now_ns = clock.now().nanoseconds
            stamp_ns = frame.received_ns or header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
            camera.stats.record_published(
                done - start, done - frame.received_perf, (now_ns - stamp_ns) * 1e-9
            )
            finished.append(camera)

    def _decode(self, frame: PendingFrame, settings: NodeSettings) -> Any:
        """The frame's BGR image, or ImageDecodeError naming why it cannot be tracked."""
        msg = frame.msg
        if msg.header.stamp.nanosec >= _NANOSECONDS:
            # builtin_interfaces/Time: nanosec < 1e9. Such a stamp would read up to 4.3 s
            # ahead and the next valid frame would look like a jump back in time.
            raise ImageDecodeError(
                "invalid_stamp",
                f"stamp {msg.header.stamp.sec} s + {msg.header.stamp.nanosec} ns "
                "(nanosec must be below 1e9)",
            )
        if len(msg.header.frame_id) > _MAX_FRAME_ID:
            raise ImageDecodeError(
                "bad_frame_id",
                f"frame_id of {len(msg.header.frame_id)} characters (at most {_MAX_FRAME_ID})",
            )
        if settings.compressed:
            image = self._decoder.compressed(msg)
        else:
            image = self._decoder.image(msg)
        contract = self.detector.engine.contract
        check_scalable(image.shape[0], image.shape[1], contract.input_height, contract.input_width)
        return image

    def _check_image_size(self, camera: Camera, image: Any) -> None:
        """Tracks live in the pixel coordinates of one image size: when the size changes, the
        camera's store is emptied (ids restart at 1), counted and warned about."""
        size = (int(image.shape[1]), int(image.shape[0]))
        previous, camera.image_size = camera.image_size, size
        if previous is None or previous == size:
            return
        with self._tracker_lock:
            camera.tracker.reset()
            camera.time_reversals_seen = camera.tracker.time_reversals
            camera.capped_seen = camera.tracker.capped_tracks
        camera.trails.clear()
        camera.stats.record_store_reset("size_change")
        self.logger.warning(
            f"{camera.name}: image size changed from {previous[0]}x{previous[1]} to "
            f"{size[0]}x{size[1]} on {camera.topic}; tracks were cleared and ids restart at 1",
            throttle_duration_sec=_WARN_EVERY_S,
        )

    def _stamps_went_back(self, camera: Camera, frame: PendingFrame, returning: bool) -> None:
        """Count and report a time reversal; name the likely cause once when the frame came
        from another publisher than the one before, one whose images were tracked earlier
        (two clocks taking turns on one topic; a restarted bag player is a new publisher)."""
        camera.trails.clear()
        camera.stats.record_store_reset("time_reversal")
        other = (
            returning
            and camera.last_publisher is not None
            and frame.publisher != camera.last_publisher
        )
        if other and not camera.several_clocks_warned:
            camera.several_clocks_warned = True
            self.logger.warning(
                f"{camera.name}: several publishers with different clocks send to "
                f"{self.node.resolve_topic_name(camera.topic)} (publisher GIDs "
                f"{camera.last_publisher.hex()[:16]}... and {frame.publisher.hex()[:16]}...): "
                "each switch between them empties the tracklet store, so tracking cannot work; "
                "publish one camera per topic (a second camera remapped here by mistake, or a "
                "bag playing beside a live camera?)"
            )
            return
        self.logger.warning(
            f"{camera.name}: image stamps went back in time (bag restarted?); tracks were "
            "cleared", throttle_duration_sec=_WARN_EVERY_S,
        )

    def _camera_warp(self, name: str, method: str, image: Any, boxes: Any) -> Any:
        """This camera's motion since its previous frame (None without compensation); the
        estimator is masked by this frame's detections, as in the core evaluation loop."""
        current = self._motion.get(name)
        if method == "none":
            self._motion.pop(name, None)
            return None
        if current is None or current[0] != method:
            current = (method, estimator_for(method))
            self._motion[name] = current
        return current[1].estimate(image, boxes)

    def _motion_values(self, name: str) -> list[KeyValue]:
        """Diagnostic values of a camera's latest motion estimate."""
        current = self._motion.get(name)
        if current is None:
            return [KeyValue(key=keys.CAMERA_MOTION, value="none")]
        method, estimator = current
        last = estimator.last
        summary = describe_warp(None if last is None else last.warp)
        frames = max(estimator.frames, 1)
        pairs = [
            (keys.CAMERA_MOTION, method),
            (keys.CAMERA_MOTION_STATUS, "none yet" if last is None else last.status),
            (keys.CAMERA_MOTION_TRANSLATION, f"{summary.tx:.2f}, {summary.ty:.2f}"),
            (keys.CAMERA_MOTION_ROTATION, f"{summary.rotation_deg:.3f}"),
            (keys.CAMERA_MOTION_SCALE, f"{summary.scale:.4f}"),
            (keys.CAMERA_MOTION_INLIERS, 0 if last is None else last.inliers),
            (keys.CAMERA_MOTION_FAILURES, estimator.failures),
            (keys.CAMERA_MOTION_ESTIMATE_MEAN, f"{1000 * estimator.seconds / frames:.2f}"),
        ]
        return [KeyValue(key=key, value=str(value)) for key, value in pairs]

    def _publish_debug(
        self, camera: Camera, image: Any, tracks: list, header: Any, settings: NodeSettings
    ) -> None:
        camera.trails.max_points = settings.debug_trail_length
        ids = [track_id_string(t, camera.prefix) for t in tracks]
        boxes = [t.tlwh for t in tracks]
        scores = [t.score for t in tracks]
        canvas = draw_tracks(image, boxes, ids, scores, camera.trails)
        camera.debug_pub.publish(bgr_to_imgmsg(canvas, header))

    # ----- services and diagnostics ----------------------------------------------------------
    def _on_reset(self, request: Any, response: Any) -> Any:
        """Clear every camera's tracklet store; ids restart at 1."""
        if not self.cameras:
            response.success = False
            response.message = "not configured: nothing to reset"
            return response
        counts = []
        with self._tracker_lock:
            for camera in self.cameras:
                counts.append(f"{camera.name}: {len(camera.tracker.all_tracks())}")
                camera.tracker.reset()
                camera.trails.clear()
        response.success = True
        response.message = "cleared tracks (" + ", ".join(counts) + "); ids restart at 1"
        self.logger.info(response.message)
        return response

    def _publish_diagnostics(self, restart: bool = True) -> None:
        """The report of the period that ends now (the timer), or with ``restart`` False of
        the period so far (a prompt report after a refused or dropped frame)."""
        now = time.monotonic()
        seconds = now - self._last_diagnostics
        if restart:
            self._last_diagnostics = now
        engine = self.detector.engine
        contract = engine.contract
        statuses = [
            engine_status(
                str(self.model_path), contract.model_name, contract.arch,
                (contract.input_width, contract.input_height), engine.active_provider,
                tuple(engine.requested_providers), engine.gpu_fallback_reason,
            )
        ]
        if restart:
            self._check_sim_clock(now)
        settings = self.settings
        for camera in self.cameras:
            summary = camera.stats.interval(seconds, restart)
            advice = restart and missed_frames_advice(
                summary, self.node.resolve_topic_name(camera.topic), settings.compressed,
                settings.qos_reliability,
            )
            if advice and (
                camera.missed_warned_at is None
                or now - camera.missed_warned_at >= _MISSED_ADVICE_EVERY_S
            ):
                camera.missed_warned_at = now
                self.logger.warning(f"{camera.name}: {advice}")
            with self._tracker_lock:
                live = len(camera.tracker.all_tracks())
            status = camera_status(
                camera.name, self.node.resolve_topic_name(camera.topic), summary, live,
                self.active, camera.stats.last_rejection,
            )
            status.values.extend(self._motion_values(camera.name))
            statuses.append(status)
        message = DiagnosticArray(status=statuses)
        message.header.stamp = self.node.get_clock().now().to_msg()
        self._diagnostics_pub.publish(message)

    def _check_sim_clock(self, now: float) -> None:
        """WARN (every 30 s) while use_sim_time is on and no /clock message has come: the node
        clock then reads 0, and everything timed by it stands still."""
        clock = self.node.get_clock()
        if not getattr(clock, "ros_time_is_active", False) or clock.now().nanoseconds != 0:
            return
        if (
            self._sim_clock_warned_at is not None
            and now - self._sim_clock_warned_at < _SIM_CLOCK_WARN_EVERY_S
        ):
            return
        self._sim_clock_warned_at = now
        publishers = self.node.count_publishers("/clock")
        self.logger.warning(
            f"use_sim_time is true but no /clock message has arrived ({publishers} publishers "
            "of /clock): the node clock stands at 0; start the bag player with --clock or set "
            "use_sim_time:=false"
        )
