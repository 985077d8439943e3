"""The node's 3D side without DDS: settings, poses, CameraInfo and depth input, 3D messages.

Bad input of every kind must give a counted reason while the 2D outputs go on: CameraInfo with
a zero or NaN K or an unsupported distortion model, depth in another encoding or size, depth
that is all invalid or NaN/inf/negative/huge, depth far behind or ahead of the colour frame,
a missing transform or one that would need extrapolation.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg")
pytest.importorskip("vision_msgs.msg")
pytest.importorskip("visualization_msgs.msg")

from builtin_interfaces.msg import Time  # noqa: E402
from fairmot_ros_msgs.msg import TrackArray  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from fairmot_ros.decode import Detections  # noqa: E402
from fairmot_ros.pipeline import CameraPipeline  # noqa: E402
from fairmot_ros.ros.spatial_node import ParameterPoses, SpatialCamera, TfPoses  # noqa: E402
from fairmot_ros.ros.spatial_settings import (  # noqa: E402
    SpatialNodeSettings,
    spatial_settings,
)
from fairmot_ros.ros.track_messages import track_array  # noqa: E402
from fairmot_ros.spatial import reasons  # noqa: E402
from fairmot_ros.spatial.reasons import SpatialError  # noqa: E402
from fairmot_ros.tracking import TrackerConfig  # noqa: E402

WIDTH, HEIGHT = 320, 240
K = [300.0, 0.0, 160.0, 0.0, 300.0, 120.0, 0.0, 0.0, 1.0]
DEFAULTS = {
    "spatial.mode": "ground", "spatial.camera_info_topics": [], "spatial.depth_topics": [],
    "spatial.depth_info_topics": [], "spatial.depth_tolerance": 0.02, "spatial.depth_buffer": 8,
    "spatial.depth_min": 0.2, "spatial.depth_max": 60.0, "spatial.target_frame": "",
    "spatial.ground_frame": "base_footprint", "spatial.pose_source": "height_pitch_roll",
    "spatial.tf_timeout": 0.05, "spatial.camera_height": 3.0, "spatial.camera_pitch": 0.26,
    "spatial.camera_roll": 0.0, "spatial.camera_translation": [0.0, 0.0, 0.0],
    "spatial.camera_rotation": [0.0, 0.0, 0.0, 1.0], "spatial.markers": True,
    "spatial.marker_lifetime": 0.5, "spatial.box_margin": 0.0, "spatial.surface_offset": 0.15,
    "spatial.max_range": 60.0, "spatial.accel_sigma": 0.5, "spatial.plausible_height_min": 1.0,
    "spatial.plausible_height_max": 2.3,
}


def _settings(**changes) -> SpatialNodeSettings:
    values = {**DEFAULTS, **{f"spatial.{k}": v for k, v in changes.items()}}
    settings, problems = spatial_settings(values, ["/cam/image_raw"])
    assert not problems, problems
    return settings


def _header(seconds: float, frame_id: str = "cam_optical") -> Header:
    sec = int(seconds)
    return Header(stamp=Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9))),
                  frame_id=frame_id)


def _info(k=K, model="plumb_bob", d=(0.0,) * 5, size=(WIDTH, HEIGHT)) -> CameraInfo:
    return CameraInfo(header=_header(0.0), width=size[0], height=size[1],
                      distortion_model=model, d=list(d), k=list(k))


def _depth(seconds: float, pixels: np.ndarray, encoding: str = "16UC1") -> Image:
    height, width = pixels.shape
    return Image(header=_header(seconds), height=height, width=width, encoding=encoding,
                 is_bigendian=0, step=width * pixels.itemsize, data=pixels.tobytes())


def _walker(k: int) -> Detections:
    box = np.array([[150 + 2 * k, 90, 170 + 2 * k, 150]], np.float32)
    return Detections(box, np.array([0.9], np.float32), np.ones((1, 8), np.float32) / 8 ** 0.5)


class Sink:
    def __init__(self, subscribers: int = 1) -> None:
        self.messages = []
        self.subscribers = subscribers

    def publish(self, msg) -> None:
        self.messages.append(msg)

    def get_subscription_count(self) -> int:
        return self.subscribers


def _camera(settings: SpatialNodeSettings) -> SpatialCamera:
    camera = SpatialCamera(settings, 0, ParameterPoses(settings))
    camera.detections_pub, camera.markers_pub = Sink(), Sink()
    return camera


def _run(camera: SpatialCamera, frames: int = 4, start: float = 10.0):
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0), spatial=camera.settings.core)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    outcomes = []
    for k in range(frames):
        header = _header(start + k / 10)
        outcome = pipeline.step(image, start + k / 10, detections=_walker(k),
                                scene=camera.scene(header, start + k / 10))
        camera.publish(header, outcome, "person", "")
        outcomes.append((header, outcome))
    return outcomes


def test_topics_are_derived_and_checked():
    settings = _settings()
    assert settings.camera_info_topics == ("/cam/camera_info",)
    assert settings.depth_topics == ("/cam/depth/image",)
    assert settings.depth_info_topics == ("/cam/depth/camera_info",)
    assert settings.uses_ground and not settings.uses_depth
    off, problems = spatial_settings({**DEFAULTS, "spatial.mode": "off"}, ["image"])
    assert not off.enabled and not problems and off.camera_info_topics == ("camera_info",)
    _, problems = spatial_settings({**DEFAULTS, "spatial.depth_topics": ["a", "b"],
                                    "spatial.camera_rotation": [0.0, 0.0, 0.0, 0.0],
                                    "spatial.camera_height": 0.0}, ["image"])
    assert len(problems) == 3


def test_ground_mode_publishes_people_with_the_2d_ids():
    camera = _camera(_settings(target_frame="base_footprint"))
    camera.on_camera_info(_info())
    header, outcome = _run(camera)[-1]
    (detection,) = camera.detections_pub.messages[-1].detections
    assert detection.id == "1" and detection.header.frame_id == "base_footprint"
    assert detection.header.stamp == header.stamp
    assert detection.results[0].hypothesis.score == pytest.approx(0.9)
    position = detection.bbox.center.position
    assert position.x > 3.0
    assert position.z == pytest.approx(0.5 * detection.bbox.size.z, abs=0.01)
    tracks = camera.add_positions(track_array(outcome.store, header), outcome)
    assert isinstance(tracks, TrackArray) and tracks.position_frame_id == "base_footprint"
    assert tracks.tracks[0].position_valid and tracks.tracks[0].height > 0
    assert len(tracks.tracks[0].position_covariance) == 36
    markers = camera.markers_pub.messages[-1].markers
    assert markers[0].action == Marker.DELETEALL
    assert [m.type for m in markers[1:]] == [Marker.CYLINDER, Marker.TEXT_VIEW_FACING]
    assert markers[2].text == "1" and markers[1].lifetime.nanosec == 500_000_000
    published, people, failures = camera.counts()
    assert (published, people, failures) == (4, 1, {})
    camera.markers_pub = Sink(subscribers=0)  # markers are built only for a subscriber
    _run(camera, start=20.0)
    assert not camera.markers_pub.messages and len(camera.detections_pub.messages) == 8


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (_info(k=[0.0] * 9), reasons.K_INVALID),
        (_info(k=[float("nan"), *K[1:]]), reasons.K_INVALID),
        (_info(model="kannala_brandt_magic"), reasons.DISTORTION_UNSUPPORTED),
        (_info(d=(0.1, float("inf"), 0, 0, 0)), reasons.D_INVALID),
        (_info(size=(640, 480)), reasons.SIZE_MISMATCH),
        (None, reasons.NO_CAMERA_INFO),
    ],
)
def test_bad_camera_info_is_counted_and_2d_goes_on(info, reason):
    camera = _camera(_settings())
    if info is not None:
        camera.on_camera_info(info)
    outcomes = _run(camera)
    assert all(len(o.tracks) == 1 for _, o in outcomes)  # 2D unaffected
    assert camera.counts()[2] == {reason: 4}
    assert not camera.detections_pub.messages[-1].detections


def _depth_camera(**changes) -> SpatialCamera:
    camera = _camera(_settings(mode="depth", **changes))
    camera.on_camera_info(_info())
    camera.on_depth_info(_info())
    return camera


def test_depth_mode_pairs_by_stamp_and_locates():
    camera = _depth_camera()
    pixels = np.full((HEIGHT, WIDTH), 8000, np.uint16)
    for k in range(4):
        camera.on_depth(_depth(10.0 + k / 10 + 0.005, pixels))  # within the tolerance
    _run(camera)
    assert camera.counts()[2] == {}
    (detection,) = camera.detections_pub.messages[-1].detections
    assert detection.bbox.center.position.z == pytest.approx(8.15, abs=0.05)


@pytest.mark.parametrize(
    ("depth", "reason"),
    [
        (lambda t: _depth(t, np.full((HEIGHT, WIDTH), 5.0, np.float64), "64FC1"),
         reasons.DEPTH_ENCODING),
        (lambda t: _depth(t, np.full((HEIGHT // 2, WIDTH // 2), 8000, np.uint16)),
         reasons.DEPTH_SIZE_MISMATCH),
        (lambda t: _depth(t, np.zeros((HEIGHT, WIDTH), np.uint16)), reasons.DEPTH_ALL_INVALID),
        (lambda t: _depth(t, np.full((HEIGHT, WIDTH), np.nan, np.float32), "32FC1"),
         reasons.DEPTH_ALL_INVALID),
        (lambda t: _depth(t, np.full((HEIGHT, WIDTH), -3.0, np.float32), "32FC1"),
         reasons.DEPTH_ALL_INVALID),
        (lambda t: _depth(t, np.full((HEIGHT, WIDTH), 1e30, np.float32), "32FC1"),
         reasons.TRACK_DEPTH_OUT_OF_RANGE),
        (lambda t: _depth(t, np.full((HEIGHT, WIDTH), np.inf, np.float32), "32FC1"),
         reasons.DEPTH_ALL_INVALID),
        (lambda t: _depth(t - 5.0, np.full((HEIGHT, WIDTH), 8000, np.uint16)),
         reasons.DEPTH_BEHIND),
        (lambda t: _depth(t + 5.0, np.full((HEIGHT, WIDTH), 8000, np.uint16)),
         reasons.DEPTH_AHEAD),
    ],
)
def test_bad_depth_is_counted_and_2d_goes_on(depth, reason):
    camera = _depth_camera()
    for k in range(4):
        camera.on_depth(depth(10.0 + k / 10))
    if reason == reasons.DEPTH_AHEAD:  # the buffer holds only depth from the future
        camera.pairing.clear()
        camera.on_depth(depth(10.0))
    outcomes = _run(camera)
    assert all(len(o.tracks) == 1 for _, o in outcomes)
    failures = camera.counts()[2]
    assert reason in failures and sum(failures.values()) >= 4


def test_depth_falls_back_to_the_ground():
    camera = _camera(_settings(mode="depth+ground"))
    camera.on_camera_info(_info())
    _run(camera)  # no depth at all
    failures = camera.counts()[2]
    assert failures[reasons.DEPTH_NONE] == 4 and failures["fallback_to_ground"] == 4
    assert len(camera.detections_pub.messages[-1].detections) == 1


def test_parameter_poses():
    settings = _settings(pose_source="transform", camera_translation=[1.0, 2.0, 3.0],
                         camera_rotation=[0.5, -0.5, 0.5, -0.5])
    poses = ParameterPoses(settings)
    to_ground = poses.lookup("base_footprint", "cam", None)
    assert np.allclose(to_ground.translation, [1.0, 2.0, 3.0])
    back = poses.lookup("cam", "base_footprint", None)
    assert np.allclose(back.apply(to_ground.apply(np.eye(3))), np.eye(3))
    assert np.allclose(poses.lookup("cam", "cam", None).rotation, np.eye(3))
    with pytest.raises(SpatialError) as info:
        poses.lookup("map", "cam", None)
    assert info.value.reason == reasons.NO_POSE
    assert ParameterPoses(_settings()).source == "height_pitch_roll"


def test_a_target_frame_without_a_transform_is_counted():
    camera = _camera(_settings(target_frame="map"))
    camera.on_camera_info(_info())
    outcomes = _run(camera)
    assert camera.counts()[2] == {reasons.NO_POSE: 4}
    assert all(len(o.tracks) == 1 for _, o in outcomes)


@pytest.fixture
def fake_tf2(monkeypatch):
    """A stand-in for tf2_ros (not installable from PyPI): a buffer that answers or raises."""
    module = types.ModuleType("tf2_ros")

    class TransformException(Exception):
        pass

    class ExtrapolationException(TransformException):
        pass

    class LookupException(TransformException):
        pass

    class Buffer:
        answer = None

        def lookup_transform(self, target, source, time, timeout=None):
            if isinstance(Buffer.answer, Exception):
                raise Buffer.answer
            return Buffer.answer

    module.TransformException = TransformException
    module.ExtrapolationException = ExtrapolationException
    module.LookupException = LookupException
    module.Buffer = Buffer
    class TransformListener:
        made: list = []

        def __init__(self, buffer, node):
            self.unregistered = 0
            TransformListener.made.append(self)

        def unregister(self):
            self.unregistered += 1

    module.TransformListener = TransformListener
    monkeypatch.setitem(sys.modules, "tf2_ros", module)
    return module


def test_tf_failures_are_named(fake_tf2):
    pytest.importorskip("rclpy")
    from geometry_msgs.msg import TransformStamped

    poses = TfPoses(node=None, timeout=0.05)
    fake_tf2.Buffer.answer = fake_tf2.ExtrapolationException("would extrapolate")
    with pytest.raises(SpatialError) as info:
        poses.lookup("base_footprint", "cam", Time(sec=1))
    assert info.value.reason == reasons.POSE_EXTRAPOLATION
    fake_tf2.Buffer.answer = fake_tf2.LookupException("no frame")
    with pytest.raises(SpatialError) as info:
        poses.lookup("base_footprint", "cam", Time(sec=1))
    assert info.value.reason == reasons.NO_POSE
    answer = TransformStamped()
    answer.transform.translation.z = 2.0
    answer.transform.rotation.w = 1.0
    fake_tf2.Buffer.answer = answer
    found = poses.lookup("base_footprint", "cam", Time(sec=1))
    assert np.allclose(found.apply(np.zeros((1, 3))), [[0, 0, 2.0]])
    assert (found.target, found.source) == ("base_footprint", "cam")


def test_an_unstamped_image_asks_tf_at_its_receive_time():
    asked = []

    class Poses(ParameterPoses):
        def lookup(self, target, source, stamp):
            asked.append((stamp.sec, stamp.nanosec))
            return super().lookup(target, source, stamp)

    settings = _settings()
    camera = SpatialCamera(settings, 0, Poses(settings))
    camera.on_camera_info(_info())
    camera.scene(_header(0.0), 12.5)  # a zero stamp, received at 12.5 s
    assert asked == [(12, 500_000_000)]


def test_lifecycle_cleanup_stops_the_tf_listener(fake_tf2):
    """A cleaned-up node keeps no /tf subscriptions; configuring again listens again."""
    import rclpy
    from node_support import dot_model
    from rclpy.parameter import Parameter

    from fairmot_ros.ros.node import ManagedTrackerNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=0)
    overrides = [Parameter("model", value=str(dot_model())),
                 Parameter("providers", value=["CPUExecutionProvider"]),
                 Parameter("spatial.mode", value="ground"),
                 Parameter("spatial.pose_source", value="tf")]
    node = ManagedTrackerNode(context=context, parameter_overrides=overrides)
    try:
        made = fake_tf2.TransformListener.made
        node.trigger_configure()
        assert len(made) == 1 and made[0].unregistered == 0
        node.trigger_cleanup()
        assert made[0].unregistered == 1
        node.trigger_configure()
        assert len(made) == 2 and made[1].unregistered == 0
        node.trigger_shutdown()
        assert [listener.unregistered for listener in made] == [1, 1]
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
