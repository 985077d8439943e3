"""One camera's 3D stage: tracked boxes in, each person's position in metres out.

:meth:`SpatialStage.process` takes one frame's reported tracks (id and box in pixels) and its
:class:`Scene`: the geometry (:class:`FrameGeometry`: the camera model from its CameraInfo, the
ground pose and the transform to the output frame at the image stamp, as far as they are
known) and, in depth mode, the depth image paired with the frame. Each track is measured:

- **depth**: the robust depth of the box's inner part (:mod:`~fairmot_ros.spatial.depth`),
  back-projected through the box centre with the depth camera's intrinsics (distortion
  included), then pushed ``surface_offset`` metres further along the ray (a depth camera sees
  the front of the body; the position is the body's axis);
- **ground**: the bottom centre of the box, undistorted, meets the ground plane
  (:mod:`~fairmot_ros.spatial.ground`); the top centre gives the person's height, flagged when
  implausible (the centre then sits at ``nominal_height / 2``).

With both configured, a track whose depth fails (no depth paired, too few valid depths, out of
range) is measured on the ground instead. Every failure is counted by reason in
:attr:`SpatialFrame.reasons`. The measured centres and their covariances (propagated from the
pixel and depth noise) update a constant-velocity filter per track in the output frame
(:mod:`~fairmot_ros.spatial.motion`), which gives the position, the velocity in m/s and their
covariance of every live track at the image stamp.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fairmot_ros.spatial.camera import CameraModel
from fairmot_ros.spatial.depth import DepthImage, DepthSettings, box_depths
from fairmot_ros.spatial.ground import (
    PLAUSIBLE_HEIGHT,
    GroundPose,
    ground_points,
    person_heights,
    plausible_height,
)
from fairmot_ros.spatial.motion import MotionSettings, PositionFilters, TrackMotion
from fairmot_ros.spatial.reasons import (
    DEPTH_SIZE_MISMATCH,
    NO_CAMERA_INFO,
    NO_POSE,
    SIZE_MISMATCH,
    TRACK_ABOVE_HORIZON,
    TRACK_GROUND_TOO_FAR,
)
from fairmot_ros.spatial.transform import RigidTransform

SOURCE_DEPTH = "depth"
SOURCE_GROUND = "ground"
FALLBACK_TO_GROUND = "fallback_to_ground"  # counted with the depth's own reason
_CAMERA_UP = np.array([0.0, -1.0, 0.0])  # "up" in an optical frame when no ground is known


@dataclass(frozen=True)
class SpatialSettings:
    """What the stage measures and how (metres, seconds, pixels as fractions of the box)."""

    depth: DepthSettings | None = None  # depth mode when set
    ground: bool = False  # ground-plane mode (needs FrameGeometry.ground)
    surface_offset: float = 0.15  # visible body surface -> body axis, along the ray
    max_range: float = 60.0  # ground mode: farther foot points are refused
    plausible_height: tuple[float, float] = PLAUSIBLE_HEIGHT
    nominal_height: float = 1.7  # the height used where the measured one is implausible
    body_thickness: float = 0.3
    # How far the detector's boxes reach beyond the person, top and bottom, as a fraction of
    # the box height: the foot point is taken this much above the box's bottom edge and the
    # head this much below its top. The shipped model's boxes reach 0.8% beyond the ground
    # truth's at both ends (median over PETS09-S2L1 frames 1-400, its training frames).
    box_margin: float = 0.008
    foot_sigma: tuple[float, float] = (0.05, 0.02)  # foot pixel noise: of box width, height
    centre_sigma: float = 0.05  # box centre pixel noise (depth mode), of box width and height
    depth_sigma_fraction: float = 0.01  # a depth's error floor, as a fraction of the depth
    depth_noise_block: int = 16  # pixels whose depth noise moves together (for the mean's σ)
    motion: MotionSettings = field(default_factory=MotionSettings)

    def __post_init__(self) -> None:
        if self.depth is None and not self.ground:
            raise ValueError("3D needs depth settings, the ground plane, or both")
        low, high = self.plausible_height
        if not 0 < low < high or not low <= self.nominal_height <= high:
            raise ValueError("plausible heights: 0 < low < high, nominal height between them")
        if self.max_range <= 0 or self.surface_offset < 0 or self.body_thickness <= 0:
            raise ValueError("max_range > 0, surface_offset >= 0, body_thickness > 0")
        if not 0 <= self.box_margin < 0.25:
            raise ValueError("box_margin must lie in [0, 0.25)")


@dataclass(frozen=True)
class FrameGeometry:
    """A frame's geometry at its stamp: the colour camera, the ground -> camera transform
    (ground mode), the camera -> output transform (None: output in the camera's frame) and the
    depth camera (None: the colour camera; a registered depth image shares its pixels)."""

    camera: CameraModel
    ground: GroundPose | None = None
    output: RigidTransform | None = None
    depth_camera: CameraModel | None = None

    @property
    def output_frame(self) -> str:
        return self.output.target if self.output is not None else self.camera.frame_id


@dataclass(frozen=True)
class Scene:
    """What the 3D stage needs of one frame besides its tracks: the geometry (None when it is
    not known: ``frame_reason`` says why), and in depth mode the depth image paired with the
    frame (None: ``depth_reason`` says why, the pairing's reason); ``ground_reason`` says why
    the geometry has no ground pose (a tf failure) where ground-plane mode needs one."""

    geometry: FrameGeometry | None = None
    depth: DepthImage | None = None
    depth_reason: str | None = None
    frame_reason: str | None = None
    ground_reason: str | None = None


@dataclass(frozen=True)
class Person3D:
    """One track's measurement in the output frame: the body's centre (3,), its box (size:
    width, thickness, height; ``axes``: columns lateral, forward, up), the centre's covariance
    (3, 3), the height and whether it is plausible, and which mode gave it."""

    track_id: Hashable
    source: str
    centre: np.ndarray
    size: np.ndarray
    axes: np.ndarray
    covariance: np.ndarray
    height: float
    height_plausible: bool


@dataclass
class SpatialFrame:
    """One frame through the stage: the measured people, the filtered state of every live
    track that has one, and the reasons counted on this frame."""

    stamp: float
    frame_id: str
    people: list[Person3D]
    motion: dict[Hashable, TrackMotion]
    reasons: Counter
    seconds: float = 0.0


def _empty_measure() -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return [], np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3, 3)), np.zeros(0)


class SpatialStage:
    """The 3D stage of one camera: the settings and the per-track filters."""

    def __init__(self, settings: SpatialSettings) -> None:
        self.settings = settings
        self.filters = PositionFilters(settings.motion)
        self._frame_id: str | None = None

    def reset(self) -> None:
        """Forget every track (the 2D store was emptied)."""
        self.filters.clear()

    def process(
        self, stamp: float, tracks: Sequence[tuple[Hashable, np.ndarray]], scene: Scene,
        live: Iterable[Hashable] | None = None, image_size: tuple[int, int] | None = None,
    ) -> SpatialFrame:
        """Measure ``tracks`` ((id, tlwh) of the reported tracks) in ``scene`` and update the
        filters. ``live``: the ids of every track still in the 2D store (the filters of others
        are dropped); ``image_size``: the colour image's (width, height), which the camera
        model must have. Without geometry the filters only predict."""
        started = time.perf_counter()
        reasons: Counter = Counter()
        people: list[Person3D] = []
        geometry = scene.geometry
        if geometry is None:
            reasons[scene.frame_reason or NO_CAMERA_INFO] += 1
        elif image_size is not None and geometry.camera.size != image_size:
            reasons[SIZE_MISMATCH] += 1
            geometry = None
        if geometry is not None:
            if self._frame_id is not None and geometry.output_frame != self._frame_id:
                self.filters.clear()  # positions of another frame cannot be filtered on
            self._frame_id = geometry.output_frame
            people = self._measure(tracks, geometry, scene, reasons)
        if people:
            self.filters.update(stamp, [p.track_id for p in people],
                                np.stack([p.centre for p in people]),
                                np.stack([p.covariance for p in people]))
        self.filters.retain(live, stamp)
        self.filters.predict(stamp)
        motion = self.filters.states()
        frame_id = geometry.output_frame if geometry is not None else (self._frame_id or "")
        return SpatialFrame(stamp, frame_id, people, motion, reasons,
                            time.perf_counter() - started)

    # -- measurement -----------------------------------------------------------------------

    def _measure(self, tracks: Sequence[tuple[Hashable, np.ndarray]], geometry: FrameGeometry,
                 scene: Scene, reasons: Counter) -> list[Person3D]:
        settings = self.settings
        depth, depth_reason = scene.depth, scene.depth_reason
        if not tracks:
            return []
        ids = [tid for tid, _ in tracks]
        boxes = np.asarray([tlwh for _, tlwh in tracks], dtype=np.float64).reshape(-1, 4)
        pending = np.arange(len(ids))
        people: dict[int, Person3D] = {}
        if settings.depth is not None:
            camera = geometry.depth_camera or geometry.camera
            if depth is not None and depth.size != camera.size:
                depth, depth_reason = None, DEPTH_SIZE_MISMATCH
            if depth is None:
                reasons[depth_reason or DEPTH_SIZE_MISMATCH] += 1
            else:
                done = self._from_depth(ids, boxes, depth, camera, geometry, reasons)
                people.update(done)
                pending = np.array([i for i in pending if i not in done], dtype=np.int64)
        if settings.ground and len(pending):
            if geometry.ground is None:
                reasons[scene.ground_reason or NO_POSE] += 1
            else:
                if settings.depth is not None:
                    reasons[FALLBACK_TO_GROUND] += len(pending)
                people.update(self._from_ground([ids[i] for i in pending], pending,
                                                boxes[pending], geometry, reasons))
        return [people[i] for i in sorted(people)]

    def _output(self, geometry: FrameGeometry) -> RigidTransform:
        return geometry.output or _identity(geometry.camera.frame_id)

    def _up_in_camera(self, geometry: FrameGeometry) -> np.ndarray:
        if geometry.ground is not None:
            return geometry.ground.rotation[:, 2]
        return _CAMERA_UP

    def _from_depth(self, ids: list[Hashable], boxes: np.ndarray, depth: DepthImage,
                    camera: CameraModel, geometry: FrameGeometry,
                    reasons: Counter) -> dict[int, Person3D]:
        settings = self.settings
        measured = box_depths(depth, boxes, settings.depth)
        rows = []
        for i, m in enumerate(measured):
            if m.reason is not None:
                reasons[m.reason] += 1
            else:
                rows.append(i)
        if not rows:
            return {}
        rows_a = np.asarray(rows)
        b = boxes[rows_a]
        z, spread, count = np.array(
            [(measured[i].depth, measured[i].spread, measured[i].count) for i in rows],
            dtype=np.float64).T
        centre_px = b[:, :2] + 0.5 * b[:, 2:]
        rays = camera.rays(centre_px)
        surface = rays * z[:, None]
        unit = rays / np.linalg.norm(rays, axis=1, keepdims=True)
        centres = surface + settings.surface_offset * unit
        # Covariance: the depth's error along the ray (z scales the ray), the centre pixel's
        # error across it.
        blocks = np.maximum(count / settings.depth_noise_block, 1.0)
        var_z = spread ** 2 / blocks + (settings.depth_sigma_fraction * z) ** 2
        cov = var_z[:, None, None] * np.einsum("ni,nj->nij", rays, rays)
        sx = settings.centre_sigma * b[:, 2] * z / camera.fx
        sy = settings.centre_sigma * b[:, 3] * z / camera.fy
        cov[:, 0, 0] += sx ** 2
        cov[:, 1, 1] += sy ** 2
        width = b[:, 2] * z / camera.fx
        height = b[:, 3] * z / camera.fy
        return self._people([ids[i] for i in rows], rows_a, SOURCE_DEPTH, centres, cov,
                            width, height, height, np.ones(len(rows), dtype=bool), unit,
                            self._up_in_camera(geometry), geometry)

    def _from_ground(self, ids: list[Hashable], rows: np.ndarray, boxes: np.ndarray,
                     geometry: FrameGeometry, reasons: Counter) -> dict[int, Person3D]:
        settings = self.settings
        pose, camera = geometry.ground, geometry.camera
        n = len(boxes)
        margin = settings.box_margin * boxes[:, 3]
        cx = boxes[:, 0] + 0.5 * boxes[:, 2]
        foot = np.stack([cx, boxes[:, 1] + boxes[:, 3] - margin], axis=1)
        top = np.stack([cx, boxes[:, 1] + margin], axis=1)
        pixels = np.concatenate([foot, foot + [1.0, 0.0], foot + [0.0, 1.0], top])
        rays = camera.rays(pixels)
        points, scale = ground_points(pose, rays[: 3 * n])
        feet, du, dv = points[:n], points[n:2 * n] - points[:n], points[2 * n:] - points[:n]
        ahead = np.isfinite(scale[:n]) & np.isfinite(scale[n:]).reshape(2, n).all(axis=0)
        distance = np.linalg.norm((feet - pose.camera_centre)[:, :2], axis=1)
        near = ahead & (distance <= settings.max_range)
        for reason, refused in ((TRACK_ABOVE_HORIZON, ~ahead), (TRACK_GROUND_TOO_FAR,
                                                                ahead & ~near)):
            if refused.any():
                reasons[reason] += int(np.count_nonzero(refused))
        keep = np.flatnonzero(near)
        if not len(keep):
            return {}
        feet, du, dv, b = feet[keep], du[keep], dv[keep], boxes[keep]
        heights = person_heights(pose, feet, rays[3 * n:][keep])
        plausible = plausible_height(heights, settings.plausible_height)
        used = np.where(plausible, heights, settings.nominal_height)
        centres_g = feet.copy()
        centres_g[:, 2] = 0.5 * used
        # Covariance on the ground from the foot pixel's noise through the Jacobian (one
        # pixel steps), the centre's height from the box height's.
        su = settings.foot_sigma[0] * b[:, 2]
        sv = settings.foot_sigma[1] * b[:, 3]
        jac = np.stack([du[:, :2], dv[:, :2]], axis=2)  # (N, 2, 2): d(x, y)/d(u, v)
        cov_g = np.zeros((len(keep), 3, 3))
        cov_g[:, :2, :2] = np.einsum("nij,nj,nkj->nik", jac, np.stack([su, sv], 1) ** 2, jac)
        cov_g[:, 2, 2] = (0.5 * settings.foot_sigma[1] * used) ** 2 + 0.05 ** 2
        depth_foot = scale[:n][keep]
        width = b[:, 2] * depth_foot / camera.fx
        # In the camera frame, then on to the output frame like depth measurements.
        centres = pose.apply(centres_g)
        cov = pose.rotate_covariances(cov_g)
        forward = pose.rotate(np.concatenate(
            [feet[:, :2] - pose.camera_centre[:2], np.zeros((len(keep), 1))], axis=1))
        return self._people([ids[k] for k in keep], rows[keep], SOURCE_GROUND, centres, cov,
                            width, used, heights, plausible, forward, pose.rotation[:, 2],
                            geometry)

    def _people(self, track_ids: list[Hashable], index: np.ndarray, source: str,
                centres: np.ndarray, cov: np.ndarray, width: np.ndarray, height: np.ndarray,
                measured_height: np.ndarray, plausible: np.ndarray, forward: np.ndarray,
                up: np.ndarray, geometry: FrameGeometry) -> dict[int, Person3D]:
        """Person3D values in the output frame, keyed by the track's index in the frame, from
        camera-frame centres (N, 3), covariances (N, 3, 3) and viewing directions (N, 3)."""
        output = self._output(geometry)
        centres = output.apply(centres)
        cov = output.rotate_covariances(cov)
        # Box axes: up, the viewing direction made horizontal, and lateral = forward x up.
        horizontal = forward - np.outer(forward @ up, up)
        norms = np.linalg.norm(horizontal, axis=1, keepdims=True)
        vertical = norms[:, 0] < 1e-12
        if vertical.any():  # seen straight along the vertical (a camera looking down on them)
            horizontal[vertical], norms[vertical] = _perpendicular(up), 1.0
        horizontal /= norms
        lateral = _cross(horizontal, up)
        axes = output.rotation @ np.stack(
            [lateral, horizontal, np.broadcast_to(up, lateral.shape)], axis=2)
        sizes = np.stack([width, np.full(len(width), self.settings.body_thickness), height],
                         axis=1)
        return {
            i: Person3D(tid, source, centres[k], sizes[k], axes[k], cov[k], h, ok)
            for k, (i, tid, h, ok) in enumerate(zip(
                np.asarray(index).tolist(), track_ids, np.asarray(measured_height).tolist(),
                np.asarray(plausible).tolist(), strict=True))
        }


@functools.lru_cache(maxsize=16)
def _identity(frame: str) -> RigidTransform:
    """The output transform of a camera that outputs in its own frame, made (and checked)
    once per frame name instead of once per frame."""
    return RigidTransform.identity(frame)


def _perpendicular(up: np.ndarray) -> np.ndarray:
    """A unit vector at right angles to ``up``: the box's facing where the viewing direction
    has no horizontal part, so that its axes still make a rotation (a zero column would give
    a singular matrix, which no quaternion describes)."""
    axis = np.eye(3)[int(np.argmin(np.abs(up)))]
    flat = axis - (axis @ up) * up
    return flat / np.linalg.norm(flat)


def _cross(vectors: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``np.cross(vectors, v)`` for rows (N, 3) and one vector (3,): the same products and
    differences, without np.cross's axis handling (which costs more than they do here)."""
    x, y, z = vectors[:, 0], vectors[:, 1], vectors[:, 2]
    vx, vy, vz = v
    return np.stack([y * vz - z * vy, z * vx - x * vz, x * vy - y * vx], axis=1)
