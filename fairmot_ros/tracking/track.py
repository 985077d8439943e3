"""One tracklet: Kalman state, smoothed appearance and life-cycle state (spec section 5.1).

Tracks are created and mutated only by ``JDETracker``; users read them. Times are kept both
in seconds (``start_time``, ``last_update_time``; what users see) and as frame positions of
the tracker's ``FrameClock`` (what the original frame-count logic compares).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from fairmot_ros.tracking.timebase import FrameClock


class TrackState(IntEnum):
    New = 0
    Tracked = 1
    Lost = 2
    Removed = 3


def normalized(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def smooth_features(smooth: np.ndarray, features: np.ndarray, alpha: float) -> np.ndarray:
    """Rows of alpha * smooth + (1 - alpha) * f/|f|, renormalised (the original update)."""
    features = features / np.linalg.norm(features, axis=-1, keepdims=True)
    mixed = alpha * smooth + (1 - alpha) * features
    return mixed / np.linalg.norm(mixed, axis=-1, keepdims=True)


class Track:
    """A tracklet. ``tlwh`` and ``tlbr`` come from the Kalman mean (the posterior after an
    update, the prediction while lost), as in the original output."""

    __slots__ = (
        "track_id",
        "state",
        "is_activated",
        "score",
        "mean",
        "covariance",
        "smooth_feat",
        "curr_feat",
        "tracklet_len",
        "start_time",
        "last_update_time",
        "start_frame",
        "frame_id",
        "_clock",
    )

    def __init__(
        self,
        track_id: int,
        mean: np.ndarray,
        covariance: np.ndarray,
        score: float,
        feature: np.ndarray,
        clock: FrameClock,
        confirmed: bool,
    ):
        self.track_id = int(track_id)
        self.state = TrackState.Tracked
        self.is_activated = bool(confirmed)
        self.score = float(score)
        self.mean = mean
        self.covariance = covariance
        self.curr_feat = normalized(feature)
        self.smooth_feat = self.curr_feat
        self.tracklet_len = 0
        self._clock = clock
        self.start_time = float(clock.now)
        self.last_update_time = self.start_time
        # Frame positions of the original start_frame / frame_id (end_frame).
        self.start_frame = clock.position
        self.frame_id = clock.position

    # ----- what users read -------------------------------------------------------------
    @property
    def tlwh(self) -> np.ndarray:
        """(left, top, width, height) from the Kalman mean."""
        x, y, a, h = self.mean[:4]
        w = a * h
        return np.array([x - w / 2, y - h / 2, w, h])

    @property
    def tlbr(self) -> np.ndarray:
        """(x1, y1, x2, y2) from the Kalman mean."""
        box = self.tlwh
        box[2:] += box[:2]
        return box

    @property
    def xyah(self) -> np.ndarray:
        return self.mean[:4].copy()

    @property
    def velocity(self) -> tuple[float, float]:
        """Box-centre velocity in image pixels per second (the filter keeps px per frame)."""
        rate = self._clock.frame_rate
        return float(self.mean[4] * rate), float(self.mean[5] * rate)

    @property
    def time_since_update(self) -> float:
        """Seconds since the last detection matched this track (0 when matched now)."""
        return float(self._clock.now - self.last_update_time)

    @property
    def age(self) -> float:
        """Seconds since the track was born."""
        return float(self._clock.now - self.start_time)

    @property
    def embedding(self) -> np.ndarray:
        """The smoothed, unit-norm appearance embedding used for matching."""
        return self.smooth_feat

    # ----- mutations by the tracker ------------------------------------------------------
    def apply_update(
        self,
        mean: np.ndarray,
        covariance: np.ndarray,
        score: float,
        reactivate: bool,
        feature: np.ndarray | None = None,
        smooth_feature: np.ndarray | None = None,
    ) -> None:
        """Take a Kalman-corrected state from a matched detection.

        ``reactivate`` is the original ``re_activate`` (a Lost or Removed track found again):
        tracklet_len restarts and the score is *not* refreshed. ``feature`` (the detection's
        unit embedding) and ``smooth_feature`` (the new smoothed embedding, see
        :func:`smooth_features`) are None for low-score BYTE matches: appearance unchanged.
        """
        self.mean = mean
        self.covariance = covariance
        if reactivate:
            self.tracklet_len = 0
        else:
            self.tracklet_len += 1
            self.score = float(score)
        if feature is not None and smooth_feature is not None:
            self.curr_feat = feature
            self.smooth_feat = smooth_feature
        self.state = TrackState.Tracked
        self.is_activated = True
        self.frame_id = self._clock.position
        self.last_update_time = float(self._clock.now)

    def mark_lost(self) -> None:
        self.state = TrackState.Lost

    def mark_removed(self) -> None:
        self.state = TrackState.Removed

    def __repr__(self) -> str:
        x1, y1, x2, y2 = self.tlbr
        return (
            f"Track(id={self.track_id}, {self.state.name}, activated={self.is_activated}, "
            f"box=({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}), score={self.score:.3f})"
        )
