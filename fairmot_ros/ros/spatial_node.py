"""The node's 3D side: CameraInfo and depth subscriptions, poses, and the 3D outputs.

One :class:`SpatialCamera` per camera (with ``spatial.mode`` other than ``off``) keeps the
latest colour and depth camera models (refused CameraInfo messages keep their reason), a
bounded buffer of depth frames (:class:`~fairmot_ros.spatial.pairing.DepthPairing`, filled by
the depth callback, never waited for) and its publishers. For each colour frame the image
thread asks :meth:`SpatialCamera.scene` for the frame's
:class:`~fairmot_ros.spatial.stage.Scene`, hands it to the camera's ``CameraPipeline.step``
and gives the outcome to :meth:`SpatialCamera.publish`.

Poses come from tf2 where ``tf2_ros`` is importable (:class:`TfPoses`: looked up at the image
stamp, waiting at most ``spatial.tf_timeout``; an extrapolation or a missing transform is a
counted reason, never the latest transform instead), else from the parameters
(:class:`ParameterPoses`: a static transform of the optical frame in ``spatial.ground_frame``,
or the camera's height, pitch and roll above it).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from fairmot_ros.ros.spatial_messages import (
    add_positions,
    body_poses,
    detection3d_array,
    marker_array,
)
from fairmot_ros.ros.spatial_settings import SpatialNodeSettings
from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.depth import DepthImage, depth_from_buffer
from fairmot_ros.spatial.ground import GroundPose
from fairmot_ros.spatial.pairing import DepthPairing
from fairmot_ros.spatial.reasons import (
    DEPTH_ALL_INVALID,
    NO_CAMERA_INFO,
    NO_POSE,
    POSE_EXTRAPOLATION,
    SpatialError,
)
from fairmot_ros.spatial.stage import FrameGeometry, Scene
from fairmot_ros.spatial.transform import RigidTransform
from fairmot_ros.stamps import seconds_to_stamp, stamp_to_seconds

__all__ = ["ParameterPoses", "SpatialCamera", "TfPoses", "make_poses", "tf2_available"]


def tf2_available() -> bool:
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


class ParameterPoses:
    """Poses from parameters: the camera's optical frame in ``ground_frame`` (any optical
    frame name: the one the image names), no other frames."""

    def __init__(self, settings: SpatialNodeSettings) -> None:
        self.ground_frame = settings.ground_frame
        height_pitch_roll = settings.pose_source == "height_pitch_roll" or (
            settings.pose_source == "auto" and settings.camera_height > 0)
        if height_pitch_roll:
            pose = GroundPose.from_height_pitch_roll(settings.camera_height,
                                                     settings.camera_pitch, settings.camera_roll)
            self.source = "height_pitch_roll"
        else:
            pose = GroundPose.from_camera_pose(settings.camera_translation,
                                               settings.camera_rotation)
            self.source = "transform"
        self._ground_to_camera = pose
        self._cache: dict[tuple[str, str], RigidTransform] = {}

    def lookup(self, target: str, source: str, stamp: Any) -> RigidTransform:
        """The transform mapping ``source`` points into ``target`` (ground frame <-> the
        camera's optical frame only; the same object for the same frames: it is static)."""
        found = self._cache.get((target, source))
        if found is None:
            found = self._cache[(target, source)] = self._lookup(target, source)
        return found

    def close(self) -> bool:
        """Nothing to release: parameter poses hold no subscriptions."""
        return False

    def _lookup(self, target: str, source: str) -> RigidTransform:
        pose = self._ground_to_camera
        if target == source:
            return RigidTransform.identity(target)
        if source == self.ground_frame:
            return GroundPose(pose.rotation, pose.translation, target, source)
        if target == self.ground_frame:
            inverse = pose.inverse()
            return RigidTransform(inverse.rotation, inverse.translation, target, source)
        raise SpatialError(NO_POSE, f"no transform {source} -> {target} from parameters "
                           "(tf2_ros is not importable)")


class TfPoses:
    """Poses from tf2 at the image stamp, waiting at most ``timeout`` seconds."""

    def __init__(self, node: Any, timeout: float) -> None:
        import tf2_ros
        from rclpy.duration import Duration

        self._tf2 = tf2_ros
        self.buffer = tf2_ros.Buffer()
        self.listener = tf2_ros.TransformListener(self.buffer, node)
        self.timeout = Duration(seconds=timeout)
        self.source = "tf"

    def lookup(self, target: str, source: str, stamp: Any) -> RigidTransform:
        from rclpy.time import Time

        tf2 = self._tf2
        try:
            msg = self.buffer.lookup_transform(target, source, Time.from_msg(stamp),
                                               timeout=self.timeout)
        except tf2.ExtrapolationException as exc:
            raise SpatialError(POSE_EXTRAPOLATION, str(exc)) from None
        except tf2.TransformException as exc:  # lookup, connectivity, timeout
            raise SpatialError(NO_POSE, str(exc)) from None
        t, q = msg.transform.translation, msg.transform.rotation
        return RigidTransform.from_quaternion([t.x, t.y, t.z], [q.x, q.y, q.z, q.w],
                                              target, source)

    def close(self) -> bool:
        """Stop listening to /tf and /tf_static (lifecycle cleanup): a cleaned-up node keeps no
        subscriptions, and a later configure makes a new listener. True the first time."""
        listener, self.listener = self.listener, None
        if listener is None:
            return False
        listener.unregister()
        return True


def make_poses(node: Any, settings: SpatialNodeSettings) -> TfPoses | ParameterPoses:
    """tf2 when asked for or (``auto``) importable, else the parameters."""
    if settings.pose_source == "tf" or (settings.pose_source == "auto" and tf2_available()):
        return TfPoses(node, settings.tf_timeout)
    return ParameterPoses(settings)


def _time_msg(seconds: float) -> Any:
    from builtin_interfaces.msg import Time

    sec, nanosec = seconds_to_stamp(seconds)
    return Time(sec=sec, nanosec=nanosec)


def camera_model(msg: Any) -> CameraModel:
    """A ``sensor_msgs/CameraInfo`` as a :class:`CameraModel` (SpatialError when unusable)."""
    return CameraModel.from_camera_info(msg.width, msg.height, msg.distortion_model, msg.d,
                                        msg.k, msg.header.frame_id)


def depth_image(msg: Any) -> DepthImage:
    """A depth ``sensor_msgs/Image`` (REP-118) as a :class:`DepthImage`, bytes not copied."""
    return depth_from_buffer(msg.encoding, msg.height, msg.width, msg.step,
                             bool(msg.is_bigendian), msg.data,
                             stamp_to_seconds(msg.header.stamp.sec, msg.header.stamp.nanosec),
                             msg.header.frame_id)


class _LatestModel:
    """The newest CameraInfo as a model, or why it cannot be used."""

    def __init__(self) -> None:
        self.model: CameraModel | None = None
        self.reason = NO_CAMERA_INFO
        self._key: tuple | None = None

    def update(self, msg: Any) -> None:
        key = (msg.width, msg.height, msg.distortion_model, tuple(msg.d), tuple(msg.k),
               msg.header.frame_id)
        if key == self._key:
            return
        self._key = key
        try:
            self.model, self.reason = camera_model(msg), NO_CAMERA_INFO
        except SpatialError as exc:
            self.model, self.reason = None, exc.reason


class SpatialCamera:
    """One camera's 3D inputs, poses and outputs (see the module doc)."""

    def __init__(self, settings: SpatialNodeSettings, index: int, poses: Any) -> None:
        self.settings = settings
        self.info_topic = settings.camera_info_topics[index]
        self.depth_topic = settings.depth_topics[index]
        self.depth_info_topic = settings.depth_info_topics[index]
        self.poses = poses
        self.colour = _LatestModel()
        self.depth_camera = _LatestModel()
        self.pairing: DepthPairing = DepthPairing(settings.depth_tolerance, settings.depth_buffer)
        self.subscriptions: list[Any] = []
        self.detections_pub: Any = None
        self.markers_pub: Any = None
        self._lock = threading.Lock()
        self.reasons: Counter = Counter()
        self.published = 0
        self.people = 0
        self._period_start = 0

    # ----- inputs (executor thread) -------------------------------------------------------
    def on_camera_info(self, msg: Any) -> None:
        self.colour.update(msg)

    def on_depth_info(self, msg: Any) -> None:
        self.depth_camera.update(msg)

    def on_depth(self, msg: Any) -> None:
        """Keep the depth frame (or why it cannot be used) for the colour frames to come."""
        stamp = stamp_to_seconds(msg.header.stamp.sec, msg.header.stamp.nanosec)
        try:
            frame: DepthImage | str = depth_image(msg)
        except SpatialError as exc:
            frame = exc.reason
        self.pairing.add(stamp, frame)

    # ----- the image thread ---------------------------------------------------------------
    def scene(self, header: Any, stamp: float) -> Scene:
        """What 3D needs of the colour frame with ``header`` (``stamp``: its time in seconds,
        the receive time for an unstamped image); nothing here waits for depth."""
        settings = self.settings
        camera = self.colour.model
        if camera is None:
            return Scene(frame_reason=self.colour.reason)
        optical = header.frame_id or camera.frame_id
        ros_stamp = header.stamp
        if ros_stamp.sec == 0 and ros_stamp.nanosec == 0:  # tracked with its receive time:
            ros_stamp = _time_msg(stamp)  # a zero stamp would ask tf for its latest transform
        try:
            ground = None
            ground_reason = None
            if settings.uses_ground:
                try:
                    pose = self.poses.lookup(optical, settings.ground_frame, ros_stamp)
                    ground = pose if isinstance(pose, GroundPose) else GroundPose(
                        pose.rotation, pose.translation, optical, settings.ground_frame)
                except SpatialError as exc:
                    ground_reason = exc.reason
            output = None
            if settings.target_frame and settings.target_frame != optical:
                output = self.poses.lookup(settings.target_frame, optical, ros_stamp)
        except SpatialError as exc:
            return Scene(frame_reason=exc.reason)
        if camera.frame_id != optical:
            camera = CameraModel(camera.width, camera.height, camera.k, camera.d,
                                 camera.distortion_model, optical)
        depth, depth_reason = None, None
        depth_camera = None
        if settings.uses_depth:
            frame, depth_reason = self.pairing.match(stamp)
            if isinstance(frame, str):
                depth_reason = frame
            elif frame is not None:
                if frame.any_valid():
                    depth = frame
                else:
                    depth_reason = DEPTH_ALL_INVALID
            depth_camera = self.depth_camera.model
        geometry = FrameGeometry(camera, ground=ground, output=output, depth_camera=depth_camera)
        return Scene(geometry, depth, depth_reason, ground_reason=ground_reason)

    def publish(self, header: Any, outcome: Any, class_id: str, id_prefix: str) -> None:
        """The 3D outputs of a frame (``outcome.spatial`` set) and its counts; the markers
        only while something subscribes to them (like the debug image)."""
        spatial = outcome.spatial
        scores = {track.track_id: track.score for track in outcome.tracks}
        with self._lock:
            self.reasons.update(spatial.reasons)
            self.published += 1
            self.people = len(spatial.people)
        poses = body_poses(spatial)
        self.detections_pub.publish(
            detection3d_array(spatial, header, class_id, scores, id_prefix, poses))
        if self.markers_pub is not None and self.markers_pub.get_subscription_count() > 0:
            self.markers_pub.publish(
                marker_array(spatial, header, self.settings.marker_lifetime, id_prefix, poses))

    def add_positions(self, tracks_msg: Any, outcome: Any) -> Any:
        if outcome.spatial is not None:
            add_positions(tracks_msg, outcome.spatial)
        return tracks_msg

    def counts(self) -> tuple[int, int, dict[str, int]]:
        """(frames published, people in the last one, failures by reason so far)."""
        with self._lock:
            return self.published, self.people, dict(self.reasons)

    def interval(self, seconds: float, restart: bool = True) -> float:
        """The 3D output rate (Hz) of the period that ends now; ``restart`` starts the next."""
        with self._lock:
            published = self.published - self._period_start
            if restart:
                self._period_start = self.published
        return published / seconds if seconds > 0 else 0.0
