"""The 3D messages, field for field, against messages built the plain way.

``spatial_messages`` copies messages built once instead of running the generated
constructors per person; these tests build the same messages with the constructors, filling
their defaults in place, and compare every field (floats bit for bit) on a frame with several
people, filtered and not, ids with a prefix.
"""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("vision_msgs.msg")
pytest.importorskip("visualization_msgs.msg")

from geometry_msgs.msg import Pose  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from fairmot_ros.ros.spatial_messages import (  # noqa: E402
    LABEL_HEIGHT,
    body_poses,
    detection3d_array,
    marker_array,
)
from fairmot_ros.ros.track_messages import duration_from_seconds  # noqa: E402
from fairmot_ros.spatial.motion import TrackMotion  # noqa: E402
from fairmot_ros.spatial.stage import Person3D, SpatialFrame  # noqa: E402
from fairmot_ros.visualize import colour_for_id  # noqa: E402


def _fields(value: object) -> object:
    """Every field of a message, recursively, floats as hex (so -0.0 and the last bit
    count)."""
    if hasattr(value, "get_fields_and_field_types"):
        return [(name, _fields(getattr(value, name)))
                for name in value.get_fields_and_field_types()]
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_fields(v) for v in value]
    if hasattr(value, "tolist"):
        return _fields(value.tolist())
    return value


def _received(msg: object) -> object:
    return deserialize_message(serialize_message(msg), type(msg))


def _frame(seed: int) -> SpatialFrame:
    rng = np.random.default_rng(seed)
    people, motion = [], {}
    for k, track_id in enumerate([3, 17, 4, 250, 9]):
        axes = Rotation.random(random_state=seed + k).as_matrix()
        a = rng.normal(size=(3, 3))
        people.append(Person3D(track_id, "depth" if k % 2 else "ground", rng.normal(size=3),
                               np.array([rng.uniform(0.3, 0.9), 0.3, rng.uniform(1.2, 2.1)]),
                               axes, a @ a.T, float(rng.uniform(1, 2)), bool(k % 3)))
        if k != 2:  # one person without a filter state: its measurement is published
            b = rng.normal(size=(6, 6))
            motion[track_id] = TrackMotion(rng.normal(size=3), rng.normal(size=3), b @ b.T,
                                           True)
    motion[42] = TrackMotion(np.zeros(3), np.zeros(3), np.eye(6), False)  # not measured
    return SpatialFrame(12.5, "world", people, motion, Counter())


def _header() -> Header:
    header = Header(frame_id="cam_optical")
    header.stamp.sec, header.stamp.nanosec = 1234, 500_000_000
    return header


def _centre(person: Person3D, spatial: SpatialFrame) -> np.ndarray:
    state = spatial.motion.get(person.track_id)
    return person.centre if state is None else state.position


def _set(vector: object, values: object) -> None:
    vector.x, vector.y, vector.z = (float(v) for v in values)


def _plain_poses(spatial: SpatialFrame) -> list[Pose]:
    quaternions = Rotation.from_matrix(np.stack([p.axes for p in spatial.people])).as_quat()
    poses = []
    for person, q in zip(spatial.people, quaternions, strict=True):
        pose = Pose()
        _set(pose.position, _centre(person, spatial))
        o = pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in q)
        poses.append(pose)
    return poses


def _plain_detections(spatial: SpatialFrame, header: Header, class_id: str, scores: dict,
                      prefix: str) -> Detection3DArray:
    head = copy.copy(header)
    head.frame_id = spatial.frame_id
    array = Detection3DArray(header=head)
    for person, pose in zip(spatial.people, _plain_poses(spatial), strict=True):
        state = spatial.motion.get(person.track_id)
        covariance = np.zeros((6, 6))
        covariance[:3, :3] = person.covariance if state is None else state.covariance[:3, :3]
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_id
        hypothesis.hypothesis.score = float(scores.get(person.track_id, 0.0))
        hypothesis.pose.pose = pose
        hypothesis.pose.covariance = covariance.reshape(36)
        detection = Detection3D(header=head, results=[hypothesis], id=f"{prefix}{person.track_id}")
        detection.bbox.center = pose
        _set(detection.bbox.size, person.size)
        array.detections.append(detection)
    return array


def _plain_markers(spatial: SpatialFrame, header: Header, lifetime: float,
                   prefix: str) -> MarkerArray:
    head = copy.copy(header)
    head.frame_id = spatial.frame_id
    markers = [Marker(header=head, action=Marker.DELETEALL)]
    for person, pose in zip(spatial.people, _plain_poses(spatial), strict=True):
        label = f"{prefix}{person.track_id}"
        blue, green, red = (c / 255.0 for c in colour_for_id(label))
        width = float(max(person.size[0], person.size[1]))
        body = Marker(header=head, ns="people", id=int(person.track_id), type=Marker.CYLINDER,
                      action=Marker.ADD, lifetime=duration_from_seconds(lifetime), pose=pose)
        _set(body.scale, (width, width, person.size[2]))
        body.color.r, body.color.g, body.color.b, body.color.a = red, green, blue, 0.6
        top = (_centre(person, spatial)
               + person.axes[:, 2] * (0.5 * person.size[2] + LABEL_HEIGHT / 2))
        text = Marker(header=head, ns="ids", id=int(person.track_id),
                      type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                      lifetime=duration_from_seconds(lifetime), text=label)
        _set(text.pose.position, top)
        text.pose.orientation.w = 1.0
        text.scale.z = LABEL_HEIGHT
        text.color.r = text.color.g = text.color.b = text.color.a = 1.0
        markers += [body, text]
    return MarkerArray(markers=markers)


@pytest.mark.parametrize(("seed", "prefix"), [(0, ""), (1, "cam0/"), (2, "")])
def test_messages_equal_the_plainly_built_ones(seed, prefix):
    spatial, header = _frame(seed), _header()
    scores = {3: 0.9, 17: 0.25, 250: 1.0}  # 4 and 9 have no score: 0
    poses = body_poses(spatial)
    detections = detection3d_array(spatial, header, "person", scores, prefix, poses)
    markers = marker_array(spatial, header, 0.5, prefix, poses)
    expected_detections = _plain_detections(spatial, header, "person", scores, prefix)
    expected_markers = _plain_markers(spatial, header, 0.5, prefix)
    assert _fields(detections) == _fields(expected_detections)
    assert _fields(markers) == _fields(expected_markers)
    # as a subscriber receives them, too (float32 fields rounded)
    for msg, expected in ((detections, expected_detections), (markers, expected_markers)):
        assert _fields(_received(msg)) == _fields(_received(expected))
    # a later frame's messages leave these untouched (nothing filled in a shared object)
    before = _fields(markers), _fields(detections)
    other = _frame(seed + 10)
    detection3d_array(other, header, "person", scores, prefix)
    marker_array(other, header, 0.5, prefix)
    assert (_fields(markers), _fields(detections)) == before
    assert header.frame_id == "cam_optical"


def test_an_empty_frame_has_no_detections_and_only_the_deleteall():
    spatial = SpatialFrame(1.0, "world", [], {}, Counter())
    assert body_poses(spatial) == []
    assert detection3d_array(spatial, _header(), "person", {}).detections == []
    (clear,) = marker_array(spatial, _header(), 0.5).markers
    assert _fields(clear) == _fields(Marker(header=Header(frame_id="world", stamp=_header().stamp),
                                            action=Marker.DELETEALL))
