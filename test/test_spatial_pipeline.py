"""3D as an optional step of ``CameraPipeline``: off by default, on with spatial settings."""

from __future__ import annotations

import numpy as np

from fairmot_ros.decode import Detections
from fairmot_ros.pipeline import CameraPipeline
from fairmot_ros.spatial import reasons
from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.ground import GroundPose
from fairmot_ros.spatial.stage import FrameGeometry, Scene, SpatialSettings
from fairmot_ros.tracking import TrackerConfig

CAMERA = CameraModel.from_camera_info(320, 240, "plumb_bob", [],
                                      [300, 0, 160, 0, 300, 120, 0, 0, 1], "cam")
POSE = GroundPose.from_height_pitch_roll(3.0, np.radians(15.0), 0.0, "ground", "cam")
SCENE = Scene(FrameGeometry(CAMERA, ground=POSE, output=POSE.inverse()))


def _walker(k: int) -> Detections:
    box = np.array([[100 + 2 * k, 80, 130 + 2 * k, 180]], np.float32)
    embedding = np.ones((1, 8), np.float32) / np.sqrt(8)
    return Detections(box, np.array([0.9], np.float32), embedding)


def _image(width: int = 320, height: int = 240) -> np.ndarray:
    return np.zeros((height, width, 3), np.uint8)


def test_3d_is_off_by_default():
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0))
    assert pipeline.step(_image(), 0.0, detections=_walker(0)).spatial is None


def test_reported_tracks_are_located_and_the_store_drives_the_filters():
    pipeline = CameraPipeline(TrackerConfig(frame_rate=10.0), spatial=SpatialSettings(ground=True))
    for k in range(5):
        outcome = pipeline.step(_image(), 0.1 * k, detections=_walker(k), scene=SCENE)
    located = outcome.spatial
    assert [t.track_id for t in outcome.tracks] == [p.track_id for p in located.people] == [1]
    assert located.frame_id == "ground"
    assert set(located.motion) == {1} and located.motion[1].measured
    # the foot (bottom centre, less the box margin) on the ground, as the stage computes it
    assert 0 < located.people[0].centre[0] < 20
    # a frame without its camera model: 2D goes on, 3D only predicts, the reason is counted
    outcome = pipeline.step(_image(), 0.5, detections=_walker(5))
    assert len(outcome.tracks) == 1
    assert outcome.spatial.reasons == {reasons.NO_CAMERA_INFO: 1}
    assert not outcome.spatial.motion[1].measured
    # a new image size empties the store, and the 3D filters with it
    outcome = pipeline.step(_image(640, 480), 0.6, detections=_walker(0), scene=SCENE)
    assert outcome.events.store_emptied and outcome.spatial.reasons[reasons.SIZE_MISMATCH] == 1
    assert not outcome.spatial.motion
    pipeline.step(_image(), 0.7, detections=_walker(1), scene=SCENE)
    pipeline.reset()
    assert len(pipeline.spatial.filters) == 0
