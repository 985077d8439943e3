"""Scoring positions on the ground: error in metres, MOTA and IDF1 at a radius, speeds.

Ground truth and results are :class:`GroundRows`: per row a frame, an id, a position (x, y) on
the ground in metres and optionally a velocity (m/s). :func:`ground_truth_positions` makes the
ground truth of a MOT ``gt.txt`` and a calibration: the bottom centre of each box (the foot
point), undistorted and intersected with the ground plane.

- **Position error**: each frame, ground truth and results are paired by the Hungarian
  algorithm on their distances, pairs farther apart than ``radius`` left out; the median and
  90th percentile of the paired distances.
- **MOTA, IDF1** (and the CLEAR and Identity counts): TrackEval's ``CLEAR`` and ``Identity``
  metrics on similarity ``max(0, 1 - d / (2 radius))`` with their threshold 0.5, so a pair
  counts as a match up to ``radius`` metres, the MOTChallenge way of scoring positions.
- **Speed**: the ground truth's velocity is the finite difference of its positions smoothed
  over ``velocity_window`` seconds (a centred moving average); for every paired row with a
  velocity, the speed error ``| |v| - |v_gt| |`` and the velocity error ``|v - v_gt|``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.optimize import linear_sum_assignment

from fairmot_ros.evaluation.metrics import clear_identity_metrics
from fairmot_ros.evaluation.mot_io import FRAME, HEIGHT, LEFT, TOP, TRACK_ID, WIDTH

METRICS_LIBRARY_3D = "trackeval (CLEAR, Identity; ground-plane distance)"


@dataclass(frozen=True)
class GroundRows:
    """Positions on the ground: frames (N,), ids (N,), xy (N, 2) metres, velocity (N, 2) m/s
    (NaN where unknown)."""

    frames: np.ndarray
    ids: np.ndarray
    xy: np.ndarray
    velocity: np.ndarray | None = None

    @classmethod
    def from_rows(cls, rows: list[tuple[int, int, float, float]] | np.ndarray,
                  velocity: np.ndarray | None = None) -> GroundRows:
        """From (frame, id, x, y) rows (and optional (N, 2) velocities)."""
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        vel = None if velocity is None else np.asarray(velocity, np.float64).reshape(-1, 2)
        return cls(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2:4], vel)

    def __len__(self) -> int:
        return len(self.frames)

    def select(self, first: int, last: int) -> GroundRows:
        keep = (self.frames >= first) & (self.frames <= last)
        return GroundRows(self.frames[keep], self.ids[keep], self.xy[keep],
                          None if self.velocity is None else self.velocity[keep])


def ground_truth_positions(gt_rows: np.ndarray, calibration) -> GroundRows:
    """The foot points on the ground of MOT boxes (rows of ``gt.txt``), through
    ``calibration`` (:class:`~fairmot_ros.spatial.calibration.Calibration`)."""
    rows = np.asarray(gt_rows, dtype=np.float64).reshape(-1, gt_rows.shape[-1] if len(gt_rows)
                                                         else 9)
    feet = np.stack([rows[:, LEFT] + 0.5 * rows[:, WIDTH], rows[:, TOP] + rows[:, HEIGHT]], 1)
    xy = calibration.ground_of_pixels(feet)
    keep = np.isfinite(xy).all(axis=1)
    return GroundRows(rows[keep, FRAME].astype(np.int64), rows[keep, TRACK_ID].astype(np.int64),
                      xy[keep])


def smoothed_velocities(rows: GroundRows, frame_rate: float, window: float = 1.0) -> GroundRows:
    """``rows`` with velocities: per id and run of consecutive frames, the positions smoothed
    by a centred moving average of ``window`` seconds, then differentiated (m/s)."""
    velocity = np.full((len(rows), 2), np.nan)
    size = max(1, int(round(window * frame_rate)))
    order = np.lexsort((rows.frames, rows.ids))
    ids, frames = rows.ids[order], rows.frames[order]
    breaks = np.flatnonzero((np.diff(ids) != 0) | (np.diff(frames) != 1)) + 1
    for run in np.split(np.arange(len(order)), breaks):
        if len(run) < 2:
            continue
        xy = uniform_filter1d(rows.xy[order[run]], size=min(size, len(run)), axis=0,
                              mode="nearest")
        velocity[order[run]] = np.gradient(xy, 1.0 / frame_rate, axis=0)
    return GroundRows(rows.frames, rows.ids, rows.xy, velocity)


def _by_frame(rows: GroundRows, frames: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(rows.frames, kind="stable")
    sorted_frames = rows.frames[order]
    starts = np.searchsorted(sorted_frames, frames, side="left")
    ends = np.searchsorted(sorted_frames, frames, side="right")
    return [order[s:e] for s, e in zip(starts, ends, strict=True)]


def _distances(gt: GroundRows, hyp: GroundRows, g: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.linalg.norm(gt.xy[g][:, None, :] - hyp.xy[h][None, :, :], axis=2)


def paired_rows(gt: GroundRows, hyp: GroundRows, first: int, last: int,
                radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (gt, hyp) paired frame by frame (Hungarian on distance, within
    ``radius``)."""
    frames = np.arange(first, last + 1)
    pairs_g, pairs_h = [], []
    for g, h in zip(_by_frame(gt, frames), _by_frame(hyp, frames), strict=True):
        if not len(g) or not len(h):
            continue
        dist = _distances(gt, hyp, g, h)
        rows, cols = linear_sum_assignment(np.where(dist <= radius, dist, 1e6))
        near = dist[rows, cols] <= radius
        pairs_g.append(g[rows[near]])
        pairs_h.append(h[cols[near]])
    if not pairs_g:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(pairs_g), np.concatenate(pairs_h)


def clear_identity(gt: GroundRows, hyp: GroundRows, first: int, last: int,
                   radius: float) -> dict[str, float]:
    """TrackEval's CLEAR and Identity metrics of ground positions, matched within
    ``radius`` metres."""
    with contextlib.redirect_stdout(io.StringIO()):
        from trackeval.metrics import CLEAR, Identity

    frames = np.arange(first, last + 1)
    gt_ids = {v: i for i, v in enumerate(np.unique(gt.select(first, last).ids))}
    hyp_ids = {v: i for i, v in enumerate(np.unique(hyp.select(first, last).ids))}
    data: dict = {"num_timesteps": len(frames), "num_gt_ids": len(gt_ids),
                  "num_tracker_ids": len(hyp_ids), "gt_ids": [], "tracker_ids": [],
                  "similarity_scores": []}
    for g, h in zip(_by_frame(gt, frames), _by_frame(hyp, frames), strict=True):
        data["gt_ids"].append(np.array([gt_ids[v] for v in gt.ids[g]], dtype=np.int64))
        data["tracker_ids"].append(np.array([hyp_ids[v] for v in hyp.ids[h]], dtype=np.int64))
        data["similarity_scores"].append(
            np.maximum(0.0, 1.0 - _distances(gt, hyp, g, h) / (2.0 * radius)))
    data["num_gt_dets"] = int(sum(len(x) for x in data["gt_ids"]))
    data["num_tracker_dets"] = int(sum(len(x) for x in data["tracker_ids"]))
    config = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    clear = CLEAR(config).eval_sequence(data)
    identity = Identity(config).eval_sequence(data)
    metrics = clear_identity_metrics(clear, identity)
    del metrics["MOTP"]  # a mean similarity: the position errors say it in metres
    return {**metrics, "gt_ids": len(gt_ids), "frames": len(frames)}


def _stats(values: np.ndarray, digits: int = 3) -> dict[str, float | int | None]:
    values = values[np.isfinite(values)]
    if not len(values):
        return {"median": None, "p90": None, "mean": None, "count": 0}
    return {"median": round(float(np.median(values)), digits),
            "p90": round(float(np.percentile(values, 90)), digits),
            "mean": round(float(np.mean(values)), digits), "count": int(len(values))}


def score_positions(gt: GroundRows, hyp: GroundRows, first: int, last: int,
                    radius: float = 1.0, frame_rate: float = 10.0,
                    velocity_window: float = 1.0) -> dict[str, object]:
    """Position errors, MOTA/IDF1 at ``radius`` and (where ``hyp`` has velocities) speed
    errors over frames ``[first, last]``."""
    if hyp.velocity is not None:  # smoothed over the whole ground truth, then selected
        gt = smoothed_velocities(gt, frame_rate, velocity_window)
    gt = gt.select(first, last)
    hyp = hyp.select(first, last)
    g, h = paired_rows(gt, hyp, first, last, radius)
    errors = np.linalg.norm(gt.xy[g] - hyp.xy[h], axis=1)
    report: dict[str, object] = {
        "radius_m": radius,
        "position_error_m": _stats(errors),
        "metrics": {k: round(v, 3) if isinstance(v, float) else v
                    for k, v in clear_identity(gt, hyp, first, last, radius).items()},
        "metrics_library": METRICS_LIBRARY_3D,
    }
    if hyp.velocity is not None:
        truth = gt.velocity[g]
        estimate = hyp.velocity[h]
        report["speed_error_mps"] = _stats(np.abs(np.linalg.norm(estimate, axis=1)
                                                  - np.linalg.norm(truth, axis=1)))
        report["velocity_error_mps"] = _stats(np.linalg.norm(estimate - truth, axis=1))
        report["velocity_window_s"] = velocity_window
    return report
