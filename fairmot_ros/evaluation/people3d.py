"""People in 3D on a calibrated sequence: positions from the ground plane or from depth, scored.

The tracked boxes of a sequence (``fairmot-eval``'s loop, or a MOT result file of an earlier
run) go frame by frame through :class:`~fairmot_ros.spatial.stage.SpatialStage` with the
sequence's calibration (PETS09-S2L1: ``../shared/data/pets09-s2l1/calibration.yaml``), the
output in the calibration's ground frame. In ``depth`` mode each frame's depth image is
synthesised from the calibration and the ground truth (:mod:`~fairmot_ros.evaluation.rgbd`:
the ground plane, each person an upright cylinder, a stereo sensor's noise and holes).
Positions are scored against the ground truth's foot points on the ground
(:mod:`~fairmot_ros.evaluation.positions`): median and p90 error in metres, MOTA and IDF1 at
``--radius`` metres, speed errors against the ground truth smoothed over 1 s. The report
also scores, side by side, the boxes' bottom centres projected frame by frame without
filtering (``floor``) and the stage's measurements before its filter (``measured``)::

    python -m fairmot_ros.evaluation.people3d --mode ground           # PETS frames 401-795
    python -m fairmot_ros.evaluation.people3d --mode depth --results results.txt
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from fairmot_ros.evaluation.metrics import emit_report
from fairmot_ros.evaluation.mot_io import FRAME, HEIGHT, LEFT, read_mot
from fairmot_ros.evaluation.positions import GroundRows, ground_truth_positions, score_positions
from fairmot_ros.evaluation.rgbd import (
    DEPTH_ENCODING,
    DepthRenderer,
    StereoNoise,
    people_from_boxes,
)
from fairmot_ros.locations import reference_data_dir
from fairmot_ros.spatial.calibration import Calibration, CalibrationError, load_calibration
from fairmot_ros.spatial.depth import DEPTH_ENCODINGS, DepthImage, DepthSettings
from fairmot_ros.spatial.reasons import DEPTH_NONE
from fairmot_ros.spatial.stage import (
    FrameGeometry,
    Scene,
    SpatialFrame,
    SpatialSettings,
    SpatialStage,
)

MODES = ("ground", "depth", "depth+ground")
PETS_CALIBRATION = reference_data_dir() / "pets09-s2l1" / "calibration.yaml"

TrackRows = list[tuple[int, int, np.ndarray]]  # (frame, track id, tlwh), fairmot-eval's rows


def settings_for(mode: str) -> SpatialSettings:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return SpatialSettings(depth=DepthSettings() if "depth" in mode else None,
                           ground="ground" in mode)


class SyntheticDepth:
    """The depth image of each frame, rendered from the ground truth's boxes of that frame;
    the same seed and frame give the same image."""

    def __init__(self, calibration: Calibration, gt_rows: np.ndarray,
                 noise: StereoNoise | None = None, seed: int = 0) -> None:
        self.renderer = DepthRenderer(calibration, noise)
        self.gt_rows = gt_rows
        self.seed = seed

    def pixels(self, frame: int) -> np.ndarray:
        people = people_from_boxes(self.gt_rows[self.gt_rows[:, FRAME] == frame],
                                   self.renderer.calibration)
        return self.renderer.render(people, np.random.default_rng([self.seed, frame]))

    def __call__(self, frame: int, stamp: float) -> DepthImage:
        return DepthImage(self.pixels(frame), DEPTH_ENCODINGS[DEPTH_ENCODING][1], stamp)


@dataclass
class PositionRun:
    """Positions on the ground of one run: filtered (with velocities) and measured."""

    filtered: GroundRows
    measured: GroundRows
    stage_ms: np.ndarray  # per frame
    reasons: Counter
    sources: Counter  # measurements per source (depth, ground)


def by_frame(rows: Iterable[tuple[int, int, np.ndarray]]) -> dict[int, list]:
    frames: dict[int, list] = {}
    for frame, track_id, tlwh in rows:
        frames.setdefault(int(frame), []).append((int(track_id), np.asarray(tlwh, float)))
    return frames


SpatialLog = list[tuple[int, list, SpatialFrame]]  # (frame, reported ids, the 3D frame)


def positions(log: SpatialLog) -> PositionRun:
    """The positions on the ground of a run's 3D frames (output in the ground frame)."""
    filtered, velocity, measured = [], [], []
    seconds, reasons, sources = [], Counter(), Counter()
    for frame, reported, out in log:
        seconds.append(out.seconds)
        reasons.update(out.reasons)
        for person in out.people:
            measured.append((frame, person.track_id, *person.centre[:2]))
            sources[person.source] += 1
        for track_id in reported:
            state = out.motion.get(track_id)
            if state is not None:
                filtered.append((frame, track_id, *state.position[:2]))
                velocity.append(state.velocity[:2])
    return PositionRun(GroundRows.from_rows(filtered, np.asarray(velocity).reshape(-1, 2)),
                       GroundRows.from_rows(measured), 1e3 * np.asarray(seconds), reasons,
                       sources)


def scene_source(calibration: Calibration, settings: SpatialSettings,
                 depth_source: Callable[[int, float], DepthImage] | None = None
                 ) -> Callable[[int, float], Scene]:
    """Each frame's :class:`Scene`: the calibration's camera and ground pose, output in its
    ground frame, and the frame's depth image in depth mode."""
    pose = calibration.pose
    geometry = FrameGeometry(calibration.camera, ground=pose if settings.ground else None,
                             output=pose.inverse())
    if depth_source is None:
        empty = Scene(geometry, depth_reason=DEPTH_NONE)
        return lambda frame, stamp: empty
    return lambda frame, stamp: Scene(geometry, depth_source(frame, stamp))


def replay_rows(rows: TrackRows, settings: SpatialSettings, scene: Callable[[int, float], Scene],
                first: int, last: int, frame_rate: float) -> SpatialLog:
    """Tracked boxes of an earlier run (no store: a track's filter goes after
    ``motion.max_age`` without a box) through a :class:`SpatialStage`, frame by frame."""
    stage = SpatialStage(settings)
    frames = by_frame(rows)
    log: SpatialLog = []
    for frame in range(first, last + 1):
        stamp = frame / frame_rate
        tracks = frames.get(frame, [])
        log.append((frame, [tid for tid, _ in tracks],
                    stage.process(stamp, tracks, scene(frame, stamp))))
    return log


def floor_rows(rows: TrackRows, calibration: Calibration) -> GroundRows:
    """The boxes' bottom centres on the ground, frame by frame, nothing filtered."""
    if not rows:
        return GroundRows.from_rows([])
    boxes = np.array([tlwh for _, _, tlwh in rows], dtype=np.float64)
    feet = np.stack([boxes[:, 0] + 0.5 * boxes[:, 2], boxes[:, 1] + boxes[:, 3]], axis=1)
    xy = calibration.ground_of_pixels(feet)
    keep = np.isfinite(xy).all(axis=1)
    ids = np.array([(f, i) for f, i, _ in rows], dtype=np.float64)
    return GroundRows.from_rows(np.column_stack([ids, xy])[keep])


def _ms(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {}
    return {"mean": round(float(values.mean()), 3),
            "p50": round(float(np.median(values)), 3),
            "p95": round(float(np.percentile(values, 95)), 3),
            "max": round(float(values.max()), 3)}


def evaluate(rows: TrackRows, log: SpatialLog, calibration: Calibration, gt_rows: np.ndarray,
             settings: SpatialSettings, mode: str, first: int, last: int, frame_rate: float,
             radius: float = 1.0) -> dict[str, object]:
    """The report of one run over ``[first, last]`` (see the module docstring)."""
    run = positions(log)
    gt = ground_truth_positions(gt_rows, calibration)
    score = {"radius": radius, "frame_rate": frame_rate}
    return {
        "mode": mode,
        "first_frame": first,
        "last_frame": last,
        "image_size": "{}x{}".format(*calibration.camera.size),
        "filtered": score_positions(gt, run.filtered, first, last, **score),
        "measured": score_positions(gt, run.measured, first, last, **score),
        "floor": score_positions(gt, floor_rows(rows, calibration), first, last, **score),
        "measurements": dict(run.sources),
        "reasons": dict(sorted(run.reasons.items())),
        "stage_ms_per_frame": _ms(run.stage_ms),
        "tracks_per_frame": round(len(rows) / max(last - first + 1, 1), 2),
        "settings": {"box_margin": settings.box_margin,
                     "accel_sigma": settings.motion.accel_sigma,
                     "foot_sigma": list(settings.foot_sigma),
                     "surface_offset": settings.surface_offset},
    }


def resampled(size: str, calibration: Calibration, rows: TrackRows, gt_rows: np.ndarray
              ) -> tuple[Calibration, TrackRows, np.ndarray]:
    """The calibration, tracked boxes and ground-truth boxes at another image size
    (``WxH``), as if the video had been resampled to it."""
    width_text, _, height_text = size.lower().partition("x")
    try:
        width, height = int(width_text), int(height_text)
    except ValueError:
        raise ValueError(f"--size {size!r} is not WxH") from None
    scale = np.array([width / calibration.camera.width, height / calibration.camera.height])

    def boxes(tlwh: np.ndarray) -> np.ndarray:
        out = np.array(tlwh, dtype=np.float64)
        out[..., :2] = (out[..., :2] + 0.5) * scale - 0.5  # pixel centres stay centres
        out[..., 2:4] *= scale
        return out

    gt_rows = gt_rows.copy()
    gt_rows[:, LEFT:HEIGHT + 1] = boxes(gt_rows[:, LEFT:HEIGHT + 1])
    return (calibration.scaled(width, height), [(f, i, boxes(b)) for f, i, b in rows],
            gt_rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fairmot_ros.evaluation.people3d",
        description="Track a calibrated sequence (or read a MOT result file) and score the "
        "people's positions in 3D: ground-plane or depth mode, position error, MOTA/IDF1 at "
        "a radius, speeds. Prints JSON.")
    parser.add_argument("--mode", choices=MODES, default="ground")
    parser.add_argument("--sequence", default="pets:401-795", metavar="SEQ[:FIRST-LAST]")
    parser.add_argument("--results", default=None, metavar="TXT",
                        help="MOT result rows of an earlier run instead of tracking")
    parser.add_argument("--calibration", default=str(PETS_CALIBRATION), metavar="YAML")
    parser.add_argument("--gt", default=None, help="ground truth (default: the sequence's)")
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--radius", type=float, default=1.0, help="match radius (m)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the depth sensor noise")
    parser.add_argument("--exact-depth", action="store_true",
                        help="depth mode without sensor noise or holes")
    parser.add_argument("--size", default=None, metavar="WxH",
                        help="resample images, boxes and calibration (e.g. 640x480)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write it here")
    return parser


def main(argv: list[str] | None = None) -> int:
    from fairmot_ros.sequences import SequenceError, open_sequence

    args = build_parser().parse_args(argv)
    try:
        calibration = load_calibration(args.calibration)
        sequence = open_sequence(args.sequence, args.gt)
        if sequence.gt_path is None:
            raise ValueError(f"{args.sequence} has no ground truth")
        gt_rows = read_mot(sequence.gt_path)
        first = sequence.first
        last = sequence.last or int(gt_rows[:, FRAME].max())
        frame_rate = sequence.frame_rate if sequence.frame_rate > 0 else 30.0
        if args.size and not args.results:
            raise ValueError("--size needs --results (the video is tracked at its own size)")
        settings = settings_for(args.mode)
        depth = None
        if settings.depth is not None:
            depth = SyntheticDepth(calibration, gt_rows,
                                   StereoNoise.none() if args.exact_depth else None, args.seed)
        if args.results:
            result = read_mot(args.results)
            rows = [(int(r[0]), int(r[1]), r[2:6]) for r in result if first <= r[0] <= last]
            if args.size:
                calibration, rows, gt_rows = resampled(args.size, calibration, rows, gt_rows)
                if depth is not None:
                    depth = SyntheticDepth(calibration, gt_rows, depth.renderer.noise, args.seed)
            log = replay_rows(rows, settings, scene_source(calibration, settings, depth),
                              first, last, frame_rate)
        else:
            from fairmot_ros.default_model import default_model_path
            from fairmot_ros.evaluation.cli import track_sequence

            log = []
            rows, _ = track_sequence(args.model or default_model_path(), sequence,
                                     spatial=settings,
                                     scene=scene_source(calibration, settings, depth),
                                     spatial_log=log)
        report = evaluate(rows, log, calibration, gt_rows, settings, args.mode, first, last,
                          frame_rate, args.radius)
        if depth is not None:
            report["depth_sensor"] = {**vars(depth.renderer.noise),
                                      "body_radius": depth.renderer.body_radius,
                                      "seed": args.seed}
    except (SequenceError, CalibrationError, FileNotFoundError, ValueError) as exc:
        print(f"people3d: {exc}", file=sys.stderr)
        return 2
    emit_report({"sequence": sequence.name or str(sequence.source),
                 "calibration": str(args.calibration), **report}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
