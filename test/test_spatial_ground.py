"""Ground-plane geometry: camera poses, foot points on the ground, person heights."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.ground import (
    GroundPose,
    ground_points,
    person_heights,
    plausible_height,
)
from fairmot_ros.spatial.reasons import POSE_INVALID, SpatialError
from fairmot_ros.spatial.transform import RigidTransform

CAMERA = CameraModel.from_camera_info(640, 480, "plumb_bob", [-0.1, 0.02, 0, 0, 0],
                                      [600, 0, 320, 0, 600, 240, 0, 0, 1], "cam")


def test_height_pitch_roll_pose():
    pose = GroundPose.from_height_pitch_roll(3.0, np.radians(20.0), 0.0, "ground", "cam")
    assert np.allclose(pose.camera_centre, [0, 0, 3.0])
    assert pose.height == pytest.approx(3.0)
    # the optical axis meets the ground ahead along +X at h / tan(pitch)
    points, depth = ground_points(pose, np.array([[0.0, 0.0, 1.0]]))
    assert np.allclose(points[0], [3.0 / np.tan(np.radians(20.0)), 0.0, 0.0])
    assert depth[0] == pytest.approx(3.0 / np.sin(np.radians(20.0)))
    # image right (optical +x) is the ground's -Y; a positive roll turns it towards the ground
    right, _ = ground_points(pose, np.array([[0.2, 0.0, 1.0]]))
    assert right[0, 1] < 0
    rolled = GroundPose.from_height_pitch_roll(3.0, np.radians(20.0), np.radians(10.0))
    assert (rolled.directions_to_ground(np.array([[1.0, 0, 0]])))[0, 2] < 0


def test_camera_pose_and_inverse_agree():
    pose = GroundPose.from_height_pitch_roll(2.5, 0.3, 0.05)
    as_tf = pose.inverse()  # the optical frame's pose in the ground frame
    again = GroundPose.from_camera_pose(as_tf.translation, as_tf.as_quaternion())
    assert np.allclose(again.rotation, pose.rotation) and np.allclose(again.translation,
                                                                      pose.translation)
    points = np.random.default_rng(0).normal(size=(5, 3))
    assert np.allclose(pose.to_ground(pose.apply(points)), points)
    chained = pose.then(pose.inverse())
    assert np.allclose(chained.apply(points), points)


def test_rays_that_miss_the_ground_are_nan():
    pose = GroundPose.from_height_pitch_roll(3.0, np.radians(5.0))
    points, depth = ground_points(pose, np.array([[0.0, -0.5, 1.0], [0.0, 0.5, 1.0]]))
    assert np.isnan(points[0]).all() and np.isnan(depth[0])
    assert np.isfinite(points[1]).all()


def test_person_height_from_the_box_top():
    pose = GroundPose.from_height_pitch_roll(4.0, np.radians(25.0), np.radians(3.0))
    feet = np.array([[8.0, 1.0, 0.0], [12.0, -2.0, 0.0]])
    tall = np.array([1.8, 1.55])
    heads = feet + np.outer(tall, [0.0, 0.0, 1.0])
    head_px = CAMERA.project(pose.apply(heads))
    foot_px = CAMERA.project(pose.apply(feet))
    found, _ = ground_points(pose, CAMERA.rays(foot_px))
    assert np.allclose(found, feet, atol=1e-6)
    assert np.allclose(person_heights(pose, found, CAMERA.rays(head_px)), tall, atol=1e-6)
    assert plausible_height(np.array([1.8, 0.4, 3.5, np.nan])).tolist() == [True, False,
                                                                           False, False]


@pytest.mark.parametrize(
    "build",
    [
        lambda: GroundPose.from_height_pitch_roll(-1.0, 0.2),
        lambda: GroundPose.from_height_pitch_roll(2.0, np.nan),
        lambda: GroundPose.from_camera_pose([0, 0, 1], [0, 0, 0, 0]),
        lambda: RigidTransform(np.diag([1.0, 1.0, -1.0]), np.zeros(3)),
        lambda: RigidTransform(np.eye(3) * 2, np.zeros(3)),
        lambda: RigidTransform(np.eye(3), np.array([0, np.inf, 0])),
    ],
)
def test_invalid_poses_are_refused(build):
    with pytest.raises(SpatialError) as info:
        build()
    assert info.value.reason == POSE_INVALID
