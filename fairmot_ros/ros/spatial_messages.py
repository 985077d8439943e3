"""People in 3D to ROS messages: ``Detection3DArray``, the 3D fields of ``TrackArray``, markers.

Every message carries the stamp of the image the tracks were computed from; the frame is the
3D output frame (the camera's optical frame or the node's ``spatial.target_frame``), and ids
are the strings of the 2D topics (``"12"``, ``"cam0/12"``). Positions and velocities are the
per-track filter's state at the image stamp (:mod:`fairmot_ros.spatial.motion`); the box's
size and orientation come from that frame's measurement. The RViz markers of a frame start with
a ``DELETEALL``, so a person who left the picture leaves no marker behind, and each marker
also expires after ``lifetime`` seconds, so markers vanish when the node stops publishing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseWithCovariance, Quaternion, Vector3
from scipy.spatial.transform import Rotation
from std_msgs.msg import ColorRGBA
from vision_msgs.msg import (
    BoundingBox3D,
    Detection3D,
    Detection3DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
)
from visualization_msgs.msg import Marker, MarkerArray

from fairmot_ros.ros.track_messages import duration_from_seconds
from fairmot_ros.spatial.stage import Person3D, SpatialFrame
from fairmot_ros.visualize import colour_for_id

__all__ = ["add_positions", "body_poses", "detection3d_array", "marker_array"]

MARKER_NAMESPACE_BODY = "people"
MARKER_NAMESPACE_LABEL = "ids"
LABEL_HEIGHT = 0.4  # metres of text above the head

Message = TypeVar("Message")


def _copy(msg: Message) -> Message:
    """A shallow copy of a generated message: the same field objects, no constructor run.

    The generated constructors build every default sub-message, importing its type each
    time (a ``Detection3D`` or a ``Marker`` costs 14-22 µs, a ``Pose`` 4 µs), and the
    messages below replace most of those defaults at once. A copy of a message built once
    sets the fields' slots as ``copy.copy`` does, without its generic machinery (under 2 µs).
    What a copy shares with the original must not be filled in place: the functions below
    give every field they set a new object."""
    cls = type(msg)
    new = cls.__new__(cls)
    for name in cls.__slots__:
        setattr(new, name, getattr(msg, name))
    return new


# Built once, copied per person; each copy replaces every field of these (so nothing is
# shared), except the pose's orientation and the markers' unused defaults (see marker_array).
_POSE = Pose()
_DETECTION = Detection3D()
_BOX = BoundingBox3D()
_HYPOTHESIS = ObjectHypothesisWithPose()
_POSE_WITH_COVARIANCE = PoseWithCovariance()


def _header(header: Any, frame_id: str) -> Any:
    out = _copy(header)
    out.frame_id = frame_id
    return out


def _point(values: np.ndarray) -> Point:
    x, y, z = values.tolist()
    return Point(x=x, y=y, z=z)


def _vector(x: float, y: float, z: float) -> Vector3:
    return Vector3(x=float(x), y=float(y), z=float(z))


def _set_xyz(vector: Any, values: Any) -> None:
    """Fill a Point or Vector3 in place (the track messages' own defaults)."""
    vector.x, vector.y, vector.z = float(values[0]), float(values[1]), float(values[2])


def _centre(person: Person3D, spatial: SpatialFrame) -> np.ndarray:
    state = spatial.motion.get(person.track_id)
    return person.centre if state is None else state.position


def body_poses(spatial: SpatialFrame) -> list[Pose]:
    """Each measured person's pose: the filtered centre and the upright box's orientation
    (one batched rotation-to-quaternion for the frame; the detections and the markers share
    these objects)."""
    if not spatial.people:
        return []
    quaternions = Rotation.from_matrix(np.stack([p.axes for p in spatial.people])).as_quat()
    poses = []
    for person, (qx, qy, qz, qw) in zip(spatial.people, quaternions.tolist(), strict=True):
        pose = _copy(_POSE)
        pose.position = _point(_centre(person, spatial))
        pose.orientation = Quaternion(x=qx, y=qy, z=qz, w=qw)
        poses.append(pose)
    return poses


def detection3d_array(spatial: SpatialFrame, header: Any, class_id: str,
                      scores: Mapping[Any, float], id_prefix: str = "",
                      poses: list[Pose] | None = None) -> Detection3DArray:
    """One ``Detection3D`` per person measured in this frame: the filtered centre with its
    covariance (the pose's orientation block is not estimated and left zero), the upright box
    facing the camera, ``class_id`` with the 2D track's ``scores[track_id]``."""
    head = _header(header, spatial.frame_id)
    poses = body_poses(spatial) if poses is None else poses
    detections = []
    for person, pose in zip(spatial.people, poses, strict=True):
        state = spatial.motion.get(person.track_id)
        covariance = np.zeros((6, 6))
        covariance[:3, :3] = person.covariance if state is None else state.covariance[:3, :3]
        with_covariance = _copy(_POSE_WITH_COVARIANCE)
        with_covariance.pose = pose
        with_covariance.covariance = covariance.reshape(36)  # float64[36] takes the array
        hypothesis = _copy(_HYPOTHESIS)
        hypothesis.hypothesis = ObjectHypothesis(
            class_id=class_id, score=float(scores.get(person.track_id, 0.0)))
        hypothesis.pose = with_covariance
        box = _copy(_BOX)
        box.center = pose
        box.size = _vector(*person.size.tolist())
        detection = _copy(_DETECTION)
        detection.header = head
        detection.results = [hypothesis]
        detection.bbox = box
        detection.id = f"{id_prefix}{person.track_id}"
        detections.append(detection)
    array = Detection3DArray()
    array.header = head
    array.detections = detections
    return array


def add_positions(tracks: Any, spatial: SpatialFrame) -> Any:
    """Fill the 3D fields of a ``TrackArray`` (built by ``track_messages.track_array``) from
    the filters' states; tracks without one keep ``position_valid`` false."""
    tracks.position_frame_id = spatial.frame_id
    measured = {person.track_id: person for person in spatial.people}
    for message in tracks.tracks:
        state = spatial.motion.get(message.track_id)
        if state is None:
            continue
        message.position_valid = True
        _set_xyz(message.position, state.position)
        _set_xyz(message.velocity_3d, state.velocity)
        message.position_covariance = np.ascontiguousarray(state.covariance, np.float64).reshape(36)
        person = measured.get(message.track_id)
        if person is not None and np.isfinite(person.height):
            message.height = float(person.height)
            message.height_plausible = person.height_plausible
    return tracks


@functools.lru_cache(maxsize=4096)
def _marker_colour(label: str) -> tuple[float, float, float]:
    """The id's colour (:func:`colour_for_id`) as the marker's red, green and blue fractions;
    an id keeps it for its whole life, so it is worked out once, not every frame."""
    blue, green, red = (c / 255.0 for c in colour_for_id(label))
    return red, green, blue


def _label_position(centre: np.ndarray, axes: np.ndarray, height: float) -> Point:
    """Where the id label floats: the centre moved up the box's up axis by half the height
    and half the label. Plain float arithmetic on the three coordinates: the same roundings
    as numpy's on a 3-vector, without a numpy call per step."""
    x, y, z = centre.tolist()
    up_x, up_y, up_z = axes[:, 2].tolist()
    rise = 0.5 * height + LABEL_HEIGHT / 2
    return Point(x=x + up_x * rise, y=y + up_y * rise, z=z + up_z * rise)


def _marker(prototype: Marker, namespace: str, marker_id: int, kind: int,
            lifetime: Any) -> Marker:
    """An ``ADD`` marker: a copy of the frame's ``DELETEALL`` marker (its header, the unused
    defaults shared) with its own namespace, id, type and lifetime."""
    marker = _copy(prototype)
    marker.ns = namespace
    marker.id = marker_id
    marker.type = kind
    marker.action = Marker.ADD
    marker.lifetime = lifetime
    return marker


def marker_array(spatial: SpatialFrame, header: Any, lifetime: float,
                 id_prefix: str = "", poses: list[Pose] | None = None) -> MarkerArray:
    """A cylinder and an id label per measured person, after a ``DELETEALL``. The markers
    of one array share the objects of the fields they leave at their defaults (the empty
    points, colours, texture and mesh): replace those rather than fill them in place."""
    head = _header(header, spatial.frame_id)
    poses = body_poses(spatial) if poses is None else poses
    clear = Marker()
    clear.header = head
    clear.action = Marker.DELETEALL
    markers = [clear]
    life = duration_from_seconds(lifetime)
    label_scale = _vector(0.0, 0.0, LABEL_HEIGHT)
    label_colour = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    for person, pose in zip(spatial.people, poses, strict=True):
        label = f"{id_prefix}{person.track_id}"
        red, green, blue = _marker_colour(label)
        across, deep, tall = person.size.tolist()
        width = max(across, deep)
        body = _marker(clear, MARKER_NAMESPACE_BODY, int(person.track_id), Marker.CYLINDER,
                       life)
        body.pose = pose
        body.scale = Vector3(x=width, y=width, z=tall)
        body.color = ColorRGBA(r=red, g=green, b=blue, a=0.6)
        text = _marker(clear, MARKER_NAMESPACE_LABEL, int(person.track_id),
                       Marker.TEXT_VIEW_FACING, life)
        text.pose = _copy(_POSE)  # its orientation the default's, upright (w = 1)
        text.pose.position = _label_position(_centre(person, spatial), person.axes, tall)
        text.scale = label_scale
        text.color = label_colour
        text.text = label
        markers += [body, text]
    return MarkerArray(markers=markers)
