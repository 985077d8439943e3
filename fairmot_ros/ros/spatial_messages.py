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

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
from geometry_msgs.msg import Pose
from scipy.spatial.transform import Rotation
from vision_msgs.msg import (
    Detection3D,
    Detection3DArray,
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


def _header(header: Any, frame_id: str) -> Any:
    out = copy.copy(header)
    out.frame_id = frame_id
    return out


def _set_xyz(vector: Any, values: Any) -> None:
    """Fill a Point or Vector3 in place. The generated message constructors build every
    default sub-message whatever the arguments, so the per-person messages below fill the
    defaults a constructor made instead of making their own (about half the objects)."""
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
    for person, q in zip(spatial.people, quaternions.tolist(), strict=True):
        pose = Pose()
        _set_xyz(pose.position, _centre(person, spatial))
        orientation = pose.orientation
        orientation.x, orientation.y, orientation.z, orientation.w = q
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
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_id
        hypothesis.hypothesis.score = float(scores.get(person.track_id, 0.0))
        hypothesis.pose.pose = pose
        hypothesis.pose.covariance = covariance.reshape(36)  # float64[36] takes the array
        detection = Detection3D()
        detection.header = head
        detection.results = [hypothesis]
        detection.bbox.center = pose
        _set_xyz(detection.bbox.size, person.size)
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


def _marker(header: Any, namespace: str, marker_id: int, kind: int, lifetime: Any) -> Marker:
    """An ``ADD`` marker with its defaults filled in place (see :func:`_set_xyz`)."""
    marker = Marker()
    marker.header = header
    marker.ns = namespace
    marker.id = marker_id
    marker.type = kind
    marker.action = Marker.ADD
    marker.lifetime = lifetime
    return marker


def marker_array(spatial: SpatialFrame, header: Any, lifetime: float,
                 id_prefix: str = "", poses: list[Pose] | None = None) -> MarkerArray:
    """A cylinder and an id label per measured person, after a ``DELETEALL``."""
    head = _header(header, spatial.frame_id)
    poses = body_poses(spatial) if poses is None else poses
    clear = Marker()
    clear.header = head
    clear.action = Marker.DELETEALL
    markers = [clear]
    life = duration_from_seconds(lifetime)
    for person, pose in zip(spatial.people, poses, strict=True):
        label = f"{id_prefix}{person.track_id}"
        blue, green, red = (c / 255.0 for c in colour_for_id(label))
        centre = _centre(person, spatial)
        width = float(max(person.size[0], person.size[1]))
        body = _marker(head, MARKER_NAMESPACE_BODY, int(person.track_id), Marker.CYLINDER, life)
        body.pose = pose
        _set_xyz(body.scale, (width, width, person.size[2]))
        colour = body.color
        colour.r, colour.g, colour.b, colour.a = red, green, blue, 0.6
        top = centre + person.axes[:, 2] * (0.5 * person.size[2] + LABEL_HEIGHT / 2)
        text = _marker(head, MARKER_NAMESPACE_LABEL, int(person.track_id),
                       Marker.TEXT_VIEW_FACING, life)
        _set_xyz(text.pose.position, top)
        text.pose.orientation.w = 1.0  # upright
        text.scale.z = LABEL_HEIGHT
        colour = text.color
        colour.r = colour.g = colour.b = colour.a = 1.0
        text.text = label
        markers += [body, text]
    return MarkerArray(markers=markers)
