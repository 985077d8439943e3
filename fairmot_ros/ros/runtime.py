"""What the tracker node does, independent of whether it is a plain or a lifecycle node.

``TrackerRuntime`` holds the parameters (declared, validated, swapped whole on every accepted
change), the shared detector, the cameras (``fairmot_ros.ros.cameras``: names, publishers,
statistics, and each camera's ROS-free ``CameraPipeline``), the ``~/reset`` service and the
lifecycle stages. The frames go through ``fairmot_ros.ros.image_thread`` (subscription
callback, mailboxes, the image thread) and ``/diagnostics`` through
``fairmot_ros.ros.reports``.

Threads: the executor thread runs subscription callbacks (which only drop the message into
the camera's one-slot mailbox), services, parameter callbacks and the diagnostics timers; the
image thread decodes, detects, tracks and publishes, and applies changed settings between
frames. So the executor is never blocked by inference.

Stages: ``configure`` loads and warms up the ONNX session and creates publishers, pipelines and
the diagnostics timers; ``activate`` subscribes and starts the image thread; ``deactivate`` and
``cleanup`` undo them in reverse. A plain node runs configure + activate at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fairmot_ros_msgs.msg import TrackArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray, Detection3DArray
from visualization_msgs.msg import MarkerArray

from fairmot_ros.detector import Detector
from fairmot_ros.engine import Engine
from fairmot_ros.ros.cameras import Camera, make_cameras
from fairmot_ros.ros.image_codec import ImageDecoder
from fairmot_ros.ros.image_thread import ImageThread
from fairmot_ros.ros.parameters import declare_parameters
from fairmot_ros.ros.reports import DiagnosticsReporter
from fairmot_ros.ros.settings import NodeSettings, settings_from_values
from fairmot_ros.ros.spatial_node import ParameterPoses, SpatialCamera, TfPoses, make_poses

__all__ = ["StartupError", "TrackerRuntime", "resolve_model_path"]

# Outputs are reliable keep-last: that matches reliable and best-effort subscribers alike.
_OUTPUT_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=10
)
_DEBUG_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST, depth=1
)


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


class TrackerRuntime:
    """Parameters, cameras, the shared detector, services and lifecycle (see the module doc)."""

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
        self.decoder = ImageDecoder(max_pixels=self.settings.max_image_pixels)
        self.images = ImageThread(self)
        self._applied: NodeSettings | None = None
        self._reporter: DiagnosticsReporter | None = None
        self._poses: TfPoses | ParameterPoses | None = None
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

    def apply_settings(self) -> NodeSettings:
        """The settings for the next frames (image thread, between frames): changed ones are
        handed to the decoder, the detector and every camera's pipeline first."""
        settings = self.settings
        if settings is self._applied:
            return settings
        self._applied = settings
        config = settings.tracker
        self.decoder.max_pixels = settings.max_image_pixels
        if self.detector is not None:
            self.detector.conf_thres = config.detector_threshold
            self.detector.topk = settings.topk
        for camera in self.cameras:
            if camera.pipeline.configure(config):
                camera.trails.clear()
                self.logger.warning(
                    f"{camera.name}: tracker timing changed (frame_rate/time_snap_frames); "
                    "tracks were cleared and ids restart at 1"
                )
        return settings

    # ----- lifecycle stages ------------------------------------------------------------------
    def configure(self) -> None:
        """Load and warm up the ONNX session; create pipelines, publishers and diagnostics."""
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
            settings.subscribed_topics, settings.camera_names, settings.tracker,
            settings.debug_trail_length, self.detector, settings.spatial.core,
        )
        node = self.node
        if settings.spatial.enabled:
            poses = self._poses = make_poses(node, settings.spatial)
            for index, camera in enumerate(self.cameras):
                camera.spatial = SpatialCamera(settings.spatial, index, poses)
                camera.spatial.detections_pub = node.create_publisher(
                    Detection3DArray, camera.output_topic("detections_3d"), _OUTPUT_QOS)
                if settings.spatial.markers:
                    camera.spatial.markers_pub = node.create_publisher(
                        MarkerArray, camera.output_topic("markers"), _OUTPUT_QOS)
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
        self._reporter = DiagnosticsReporter(node, self, settings.diagnostics_period)
        # A refused or dropped frame is reported at once: lock-step players wait for it.
        for camera in self.cameras:
            camera.stats.on_frame_lost = self._reporter.prompt.request

    def activate(self) -> None:
        """Subscribe to the cameras and start the image thread; log the start-up line."""
        settings = self.settings
        message_type = CompressedImage if settings.compressed else Image
        qos = input_qos(settings)
        receive = self.images.receive
        for camera in self.cameras:
            camera.subscription = self.node.create_subscription(
                message_type, camera.topic,
                lambda msg, info, c=camera: receive(c, msg, info), qos,
            )
            if camera.spatial is not None:
                self._subscribe_spatial(camera.spatial, settings, qos)
        self.images.start()
        self.active = True
        self._log_startup(settings, message_type.__name__)

    def deactivate(self) -> None:
        """Unsubscribe and stop the image thread (after the frame in progress)."""
        self.active = False
        for camera in self.cameras:
            if camera.subscription is not None:
                self.node.destroy_subscription(camera.subscription)
                camera.subscription = None
            if camera.spatial is not None:
                for subscription in camera.spatial.subscriptions:
                    self.node.destroy_subscription(subscription)
                camera.spatial.subscriptions = []
        self.images.stop()

    def cleanup(self) -> None:
        """Release publishers, timers, pipelines and the ONNX session."""
        if self.active:
            self.deactivate()
        node = self.node
        for camera in self.cameras:
            publishers = [camera.detections_pub, camera.tracks_pub, camera.debug_pub]
            if camera.spatial is not None:
                publishers += [camera.spatial.detections_pub, camera.spatial.markers_pub]
            for publisher in publishers:
                if publisher is not None:
                    node.destroy_publisher(publisher)
        self.cameras = []
        if self._poses is not None:
            self._poses.close()  # the tf listener's subscriptions go with the cameras
            self._poses = None
        if self._reporter is not None:
            self._reporter.destroy()
            self._reporter = None
        self.detector = None

    def _subscribe_spatial(self, spatial: SpatialCamera, settings: NodeSettings,
                           qos: QoSProfile) -> None:
        """CameraInfo of the colour image, and in depth mode the depth image and its
        CameraInfo (their callbacks only store what came)."""
        node = self.node
        spatial.subscriptions.append(node.create_subscription(
            CameraInfo, spatial.info_topic, spatial.on_camera_info, qos))
        if settings.spatial.uses_depth:
            depth_qos = QoSProfile(reliability=qos.reliability, history=HistoryPolicy.KEEP_LAST,
                                   depth=settings.spatial.depth_buffer)
            spatial.subscriptions.append(node.create_subscription(
                Image, spatial.depth_topic, spatial.on_depth, depth_qos))
            spatial.subscriptions.append(node.create_subscription(
                CameraInfo, spatial.depth_info_topic, spatial.on_depth_info, qos))

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
            f"{cameras}; decoder {self.decoder.backend}"
        )
        if settings.spatial.enabled:
            spatial = self.cameras[0].spatial
            frame = settings.spatial.target_frame or "the camera's optical frame"
            line += (f"; people in 3D: {settings.spatial.mode}, pose from "
                     f"{spatial.poses.source}, output in {frame}")
        if fallback:
            self.logger.warning(line)
        else:
            self.logger.info(line)

    # ----- services --------------------------------------------------------------------------
    def _on_reset(self, request: Any, response: Any) -> Any:
        """Clear every camera's tracklet store; ids restart at 1."""
        if not self.cameras:
            response.success = False
            response.message = "not configured: nothing to reset"
            return response
        counts = []
        for camera in self.cameras:
            counts.append(f"{camera.name}: {camera.pipeline.reset()}")
            camera.trails.clear()
        response.success = True
        response.message = "cleared tracks (" + ", ".join(counts) + "); ids restart at 1"
        self.logger.info(response.message)
        return response
