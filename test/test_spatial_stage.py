"""The per-camera 3D stage on a synthetic scene: ground-plane mode, depth mode, fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.evaluation.rgbd import DepthRenderer, Person, StereoNoise
from fairmot_ros.spatial import reasons
from fairmot_ros.spatial import stage as stage_module
from fairmot_ros.spatial.calibration import Calibration
from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.depth import DepthImage, DepthSettings
from fairmot_ros.spatial.ground import GroundPose
from fairmot_ros.spatial.stage import (
    FALLBACK_TO_GROUND,
    SOURCE_DEPTH,
    SOURCE_GROUND,
    FrameGeometry,
    Person3D,
    Scene,
    SpatialSettings,
    SpatialStage,
)
from fairmot_ros.spatial.transform import RigidTransform

CAMERA = CameraModel.from_camera_info(320, 240, "plumb_bob", [-0.05, 0.01, 0, 0, 0],
                                      [300, 0, 160, 0, 300, 120, 0, 0, 1], "cam")
POSE = GroundPose.from_height_pitch_roll(3.0, np.radians(15.0), 0.0, "ground", "cam")
CALIBRATION = Calibration(CAMERA, POSE)
TO_GROUND = POSE.inverse()  # camera -> ground: outputs in the ground frame
PEOPLE = [Person(1, np.array([8.0, 0.5]), 1.75), Person(2, np.array([12.0, -1.5]), 1.6)]
BODY = 0.18


def box_of(person: Person) -> np.ndarray:
    """The pixel box (left, top, width, height) of a person: their cylinder's outline."""
    x, y = person.xy
    corners = np.array([[x + dx, y + dy, z] for dx in (-BODY, BODY) for dy in (-BODY, BODY)
                        for z in (0.0, person.height)])
    pixels = CAMERA.project(POSE.apply(corners))
    left, top = pixels.min(axis=0)
    right = pixels.max(axis=0)[0]
    # the foot point is the projection of the ground point itself (bottom centre)
    foot = CAMERA.project(POSE.apply(np.array([[x, y, 0.0]])))[0]
    width = right - left
    return np.array([foot[0] - width / 2, top, width, foot[1] - top])


def tracks_of(people):
    return [(p.track_id, box_of(p)) for p in people]


def depth_image(people, noise: StereoNoise | None = None, seed: int = 0) -> DepthImage:
    renderer = DepthRenderer(CALIBRATION, noise or StereoNoise.none(), body_radius=BODY)
    return DepthImage(renderer.render(people, np.random.default_rng(seed)), 1e-3)


def geometry(output=TO_GROUND, ground=POSE):
    return FrameGeometry(CAMERA, ground=ground, output=output)


def test_ground_mode_puts_people_where_they_stand():
    stage = SpatialStage(SpatialSettings(ground=True, box_margin=0.0))
    out = stage.process(0.0, tracks_of(PEOPLE), Scene(geometry()))
    assert out.frame_id == "ground" and not +out.reasons
    for person, found in zip(PEOPLE, out.people, strict=True):
        assert found.source == SOURCE_GROUND and found.track_id == person.track_id
        assert np.allclose(found.centre[:2], person.xy, atol=0.02)
        assert found.height == pytest.approx(person.height, abs=0.05)
        assert found.height_plausible
        assert found.centre[2] == pytest.approx(person.height / 2, abs=0.03)
        assert np.allclose(found.axes[:, 2], [0, 0, 1])  # the box stands upright
        assert found.size[2] == pytest.approx(person.height, abs=0.05)
        # the covariance is longer along the viewing direction than across it
        eig = np.linalg.eigvalsh(found.covariance[:2, :2])
        assert eig[1] > 4 * eig[0]
    assert set(out.motion) == {1, 2}


def test_a_walking_person_gets_a_velocity():
    stage = SpatialStage(SpatialSettings(ground=True, box_margin=0.0))
    for k in range(30):
        walker = Person(1, np.array([8.0 + 0.12 * k, 0.5 - 0.05 * k]), 1.75)
        out = stage.process(0.1 * k, tracks_of([walker]), Scene(geometry()))
    assert np.allclose(out.motion[1].velocity[:2], [1.2, -0.5], atol=0.1)
    assert np.allclose(out.motion[1].position[:2], walker.xy, atol=0.05)


def test_implausible_heights_are_flagged():
    stage = SpatialStage(SpatialSettings(ground=True, box_margin=0.0))
    short = tracks_of([PEOPLE[0]])[0]
    box = short[1].copy()
    box[1] += 0.7 * box[3]  # the box keeps only the legs
    box[3] *= 0.3
    (found,) = stage.process(0.0, [(1, box)], Scene(geometry())).people
    assert not found.height_plausible and found.height < 1.0
    assert found.size[2] == pytest.approx(1.7)  # the nominal height stands in


def test_depth_mode_back_projects_the_robust_depth():
    stage = SpatialStage(SpatialSettings(depth=DepthSettings(), surface_offset=BODY))
    scene = Scene(geometry(ground=None), depth_image(PEOPLE))
    out = stage.process(0.0, tracks_of(PEOPLE), scene)
    assert len(out.people) == 2 and not +out.reasons
    for person, found in zip(PEOPLE, out.people, strict=True):
        assert found.source == SOURCE_DEPTH
        assert np.allclose(found.centre[:2], person.xy, atol=0.06)


def test_depth_mode_with_sensor_noise():
    stage = SpatialStage(SpatialSettings(depth=DepthSettings(), surface_offset=BODY))
    errors = []
    for seed in range(5):
        scene = Scene(geometry(ground=None), depth_image(PEOPLE, StereoNoise(), seed))
        out = stage.process(0.1 * seed, tracks_of(PEOPLE), scene)
        errors += [np.linalg.norm(f.centre[:2] - p.xy) for p, f in zip(PEOPLE, out.people,
                                                                       strict=True)]
    assert len(errors) == 10 and np.median(errors) < 0.1


def test_depth_failures_fall_back_to_the_ground_and_are_counted():
    stage = SpatialStage(SpatialSettings(depth=DepthSettings(), ground=True, box_margin=0.0))
    empty = DepthImage(np.zeros((240, 320), np.uint16), 1e-3)
    out = stage.process(0.0, tracks_of(PEOPLE), Scene(geometry(), empty))
    assert [p.source for p in out.people] == [SOURCE_GROUND] * 2
    assert out.reasons[reasons.TRACK_NO_VALID_DEPTH] == 2
    assert out.reasons[FALLBACK_TO_GROUND] == 2
    scene = Scene(geometry(), depth_reason=reasons.DEPTH_BEHIND)
    out = stage.process(0.1, tracks_of(PEOPLE), scene)
    assert out.reasons[reasons.DEPTH_BEHIND] == 1 and len(out.people) == 2
    wrong_size = DepthImage(np.full((120, 160), 5000, np.uint16), 1e-3)
    out = stage.process(0.2, tracks_of(PEOPLE), Scene(geometry(), wrong_size))
    assert out.reasons[reasons.DEPTH_SIZE_MISMATCH] == 1 and len(out.people) == 2
    # depth only: nothing measured, the filters keep predicting
    depth_only = SpatialStage(SpatialSettings(depth=DepthSettings()))
    out = depth_only.process(0.0, tracks_of(PEOPLE), Scene(geometry(ground=None), empty))
    assert not out.people and out.reasons[reasons.TRACK_NO_VALID_DEPTH] == 2


def test_frame_level_failures_are_counted_and_tracks_go_on():
    stage = SpatialStage(SpatialSettings(ground=True))
    stage.process(0.0, tracks_of(PEOPLE), Scene(geometry()))
    out = stage.process(0.1, tracks_of(PEOPLE), Scene(frame_reason=reasons.POSE_EXTRAPOLATION))
    assert out.reasons == {reasons.POSE_EXTRAPOLATION: 1} and not out.people
    assert set(out.motion) == {1, 2}  # predicted, not measured
    assert not out.motion[1].measured
    out = stage.process(0.2, tracks_of(PEOPLE), Scene(geometry()), image_size=(640, 480))
    assert out.reasons == {reasons.SIZE_MISMATCH: 1}
    out = stage.process(0.3, tracks_of(PEOPLE), Scene(geometry(ground=None)))
    assert out.reasons[reasons.NO_POSE] == 1


def test_feet_above_the_horizon_or_too_far_are_refused():
    stage = SpatialStage(SpatialSettings(ground=True, max_range=10.0))
    sky = np.array([150.0, 0.0, 10.0, 5.0])  # bottom above the horizon line
    out = stage.process(0.0, [(1, sky), *tracks_of(PEOPLE)], Scene(geometry()))
    assert out.reasons[reasons.TRACK_ABOVE_HORIZON] == 1
    assert out.reasons[reasons.TRACK_GROUND_TOO_FAR] == 1  # person 2 stands 12 m away
    assert [p.track_id for p in out.people] == [1]


def test_outputs_in_the_camera_frame_and_filters_follow_the_store():
    stage = SpatialStage(SpatialSettings(ground=True, box_margin=0.0))
    out = stage.process(0.0, tracks_of(PEOPLE), Scene(geometry(output=None)))
    assert out.frame_id == "cam"
    assert np.allclose(out.people[0].centre, POSE.apply(np.array(
        [[*PEOPLE[0].xy, PEOPLE[0].height / 2]]))[0], atol=0.03)
    # a new output frame starts the filters afresh; tracks that left the store go
    other = RigidTransform(np.eye(3), np.array([0.0, 0.0, 1.0]), "elsewhere", "cam")
    out = stage.process(0.1, tracks_of(PEOPLE[:1]), Scene(geometry(output=other)), live=[1])
    assert out.frame_id == "elsewhere" and set(out.motion) == {1}
    stage.reset()
    assert not stage.process(0.2, [], Scene(geometry()), live=[]).motion


def test_settings_are_checked():
    with pytest.raises(ValueError):
        SpatialSettings()
    with pytest.raises(ValueError):
        SpatialSettings(ground=True, nominal_height=3.0)
    with pytest.raises(ValueError):
        SpatialSettings(ground=True, box_margin=0.5)


class _PlainStage(SpatialStage):
    """The people built the plain way (np.cross, an array per size, the identity made per
    frame): the stage must give the same values bit for bit."""

    def _people(self, track_ids, index, source, centres, cov, width, height, measured_height,
                plausible, forward, up, geometry):
        output = geometry.output or RigidTransform.identity(geometry.camera.frame_id)
        centres = output.apply(centres)
        cov = output.rotate_covariances(cov)
        horizontal = forward - np.outer(forward @ up, up)
        horizontal /= np.maximum(np.linalg.norm(horizontal, axis=1, keepdims=True), 1e-12)
        lateral = np.cross(horizontal, up)
        axes = output.rotation @ np.stack(
            [lateral, horizontal, np.broadcast_to(up, lateral.shape)], axis=2)
        thickness = self.settings.body_thickness
        return {
            int(i): Person3D(tid, source, centres[k], np.array([width[k], thickness, height[k]]),
                             axes[k], cov[k], float(measured_height[k]), bool(plausible[k]))
            for k, (i, tid) in enumerate(zip(index, track_ids, strict=True))
        }


def _bits(frame) -> list:
    """Everything a frame gives, floats as bytes (so -0.0 and the last bit count)."""
    people = [(p.track_id, p.source, p.height.hex(), p.height_plausible,
               *(np.asarray(a, np.float64).tobytes() for a in (p.centre, p.size, p.axes,
                                                                 p.covariance)))
              for p in frame.people]
    motion = [(tid, m.measured, m.position.tobytes(), m.velocity.tobytes(),
               m.covariance.tobytes()) for tid, m in frame.motion.items()]
    return [frame.frame_id, people, motion, sorted(frame.reasons.items())]


@pytest.mark.parametrize("output", [TO_GROUND, None])
def test_the_stage_equals_the_plain_one_on_varied_frames(output):
    """Several people walking, one whose depth is a hole (measured on the ground instead),
    one above the horizon, depth missing in some frames, a track leaving the store."""
    settings = SpatialSettings(depth=DepthSettings(), ground=True)
    stage, plain = SpatialStage(settings), _PlainStage(settings)
    crowd = [Person(1, np.array([8.0, 0.5]), 1.75), Person(2, np.array([12.0, -1.5]), 1.6),
             Person(3, np.array([6.0, 2.0]), 1.9), Person(4, np.array([15.0, 1.0]), 1.5)]
    sky = (9, np.array([150.0, 0.0, 10.0, 5.0]))
    for k in range(12):
        t = 0.1 * k
        people = [Person(p.track_id, p.xy + t * np.array([0.8, -0.3 * p.track_id]), p.height)
                  for p in crowd if not (p.track_id == 4 and k >= 8)]
        image = depth_image(people, StereoNoise(), seed=k)
        hole = box_of(people[1]).astype(int)
        image.pixels[max(hole[1], 0):hole[1] + hole[3], max(hole[0], 0):hole[0] + hole[2]] = 0
        scene = (Scene(geometry(output), image) if k % 5 != 3
                 else Scene(geometry(output), depth_reason=reasons.DEPTH_BEHIND))
        tracks = [*tracks_of(people), sky]
        live = [p.track_id for p in people]
        got = _bits(stage.process(t, tracks, scene, live=live))
        assert got == _bits(plain.process(t, tracks, scene, live=live)), k
    assert got[3] and any(p[1] == SOURCE_GROUND for p in got[1])


def test_cross_is_np_cross_bit_for_bit():
    rng = np.random.default_rng(2)
    rows = np.concatenate([rng.normal(size=(50, 3)), [[0.0, -0.0, 1.0], [1e-300, 1e300, -3.0]]])
    for v in (rng.normal(size=3), np.array([0.0, -1.0, 0.0]), np.array([-0.0, 0.5, 2.0])):
        assert stage_module._cross(rows, v).tobytes() == np.cross(rows, v).tobytes()


def test_a_person_right_below_a_downward_camera_gets_an_upright_box():
    """Seen straight from above, the viewing direction has no horizontal part; the box must
    still have proper axes (a rotation), or no quaternion could describe it."""
    from scipy.spatial.transform import Rotation

    above = GroundPose.from_height_pitch_roll(4.0, np.radians(90.0), 0.0, "ground", "cam")
    principal = np.array([160.0, 120.0])  # the ray straight down
    box = np.array([principal[0] - 10, principal[1] - 20, 20.0, 20.0])
    for settings, depth in ((SpatialSettings(ground=True, box_margin=0.0), None),
                            (SpatialSettings(depth=DepthSettings()),
                             DepthImage(np.full((240, 320), 2500, np.uint16), 1e-3))):
        stage = SpatialStage(settings)
        out = stage.process(0.0, [(1, box)], Scene(geometry(above.inverse(), above), depth))
        (found,) = out.people
        assert np.allclose(found.axes.T @ found.axes, np.eye(3), atol=1e-9)
        assert np.linalg.det(found.axes) == pytest.approx(1.0)
        assert np.allclose(found.axes[:, 2], [0, 0, 1])  # still upright
        Rotation.from_matrix(found.axes)  # the message's quaternion can be made
