"""The FairMOT online tracker (``JDETracker.update``, spec section 5.5), time-aware.

Given the same detections, embeddings and steady frame timestamps this reproduces the original
tracker's ids and boxes frame by frame: the same stages in the same order, the same list
bookkeeping (which decides lapjv tie-breaks and the one-frame removal latency) and the same
lapjv cost-limit solver. What differs, on purpose:

* **Time instead of frame counts.** Timestamps (seconds) become frame positions at
  ``frame_rate`` (``FrameClock``). Kalman prediction uses the elapsed frames ``dt`` (see
  ``KalmanFilter``) and a lost track dies when more than ``buffer_size`` frames of *time* have
  passed since its last match, so dropped frames or a slower camera neither shorten nor
  lengthen the memory. Any live track (tracked or lost) silent for more than
  ``buffer_size + 2`` frames is dropped before association: at a steady rate that never
  happens earlier than in the original (whose removal latency keeps a lost track in the pool
  up to frame last + buffer + 2), and after a long gap it stops old tracks from being matched
  just because few callbacks happened.
* **Time going backwards** (a bag restarting, a clock jump): the store is cleared and the next
  update counts as a first frame; ids keep increasing so old and new people never share an id.
  ``time_reversals`` counts these. Equal timestamps are a zero-length step.
* **Events as values.** :meth:`JDETracker.step` returns what the update did besides the tracks
  (:class:`TrackerUpdate`: a time reversal, tracks removed by the ``max_tracks`` cap,
  detections refused for their size), so no caller compares counters before and after;
  :meth:`JDETracker.update` returns the tracks alone, as the original does.
* **Per-instance ids** starting at 1 (the original counter is process-wide); ``reset()``
  restarts them.
* **Bounded memory.** The original keeps every removed track forever, but its removed list
  only matters for ids that are still tracked or lost, so only those are kept.
* **Optional BYTE pass** (``byte_enabled``): low-score detections (byte_low_thres < score <=
  conf_thres) are matched by IoU to tracked tracks that are still unmatched after stage 2.
  They update box and score, not the appearance embedding, and never start tracks. When it is
  off the input is used as given, like the original (run the detector at ``conf_thres``).
* Detections with a non-positive width or height cannot seed a Kalman filter: they are dropped
  and counted in ``dropped_detections``. NaN/inf or mis-shaped input raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairmot_ros.tracking import matching
from fairmot_ros.tracking.camera_motion import check_warp, warp_kalman_states
from fairmot_ros.tracking.config import TrackerConfig
from fairmot_ros.tracking.kalman import KalmanFilter
from fairmot_ros.tracking.timebase import FrameClock
from fairmot_ros.tracking.track import Track, TrackState, smooth_features

# Slack for comparing frame positions that were not snapped to whole frames.
_FRAME_EPS = 1e-6


class _Detections:
    """Per-frame detection arrays (never wrapped in Track objects unless born)."""

    __slots__ = ("tlbr", "tlwh", "xyah", "scores", "features")

    def __init__(self, boxes: np.ndarray, scores: np.ndarray, features: np.ndarray):
        # tlwh in the input precision first (the original subtracts in float32), then float64.
        tlwh = boxes.copy()
        tlwh[:, 2:] -= tlwh[:, :2]
        self.tlwh = tlwh.astype(np.float64)
        self.tlbr = self.tlwh.copy()
        self.tlbr[:, 2:] += self.tlbr[:, :2]
        self.xyah = self.tlwh.copy()
        self.xyah[:, :2] += self.xyah[:, 2:] / 2
        self.xyah[:, 2] /= self.xyah[:, 3]
        self.scores = scores
        self.features = features / matching.row_norms(features, keepdims=True)

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> _Detections:
        sub = object.__new__(_Detections)
        for name in self.__slots__:
            setattr(sub, name, getattr(self, name)[index])
        return sub


def _joint(first: list[Track], second: list[Track]) -> list[Track]:
    """Union keyed by track_id, first occurrence kept, order preserved."""
    seen = {t.track_id for t in first}
    out = list(first)
    for t in second:
        if t.track_id not in seen:
            seen.add(t.track_id)
            out.append(t)
    return out


def _sub(tracks: list[Track], drop_ids: set[int]) -> list[Track]:
    """``tracks`` minus ids (the original also de-duplicates by id, keeping the last)."""
    kept: dict[int, Track] = {}
    for t in tracks:
        kept[t.track_id] = t
    for tid in drop_ids:
        kept.pop(tid, None)
    return list(kept.values())


def _boxes(tracks: list[Track]) -> np.ndarray:
    """x1y1x2y2 from the Kalman means of many tracks at once."""
    return _boxes_of(np.array([t.mean[:4] for t in tracks]).reshape(-1, 4))


def _boxes_of(means: np.ndarray) -> np.ndarray:
    """x1y1x2y2 of stacked (N, >=4) xyah means."""
    boxes = np.empty((len(means), 4))
    w = means[:, 2] * means[:, 3]
    boxes[:, 0] = means[:, 0] - w / 2
    boxes[:, 1] = means[:, 1] - means[:, 3] / 2
    boxes[:, 2] = boxes[:, 0] + w
    boxes[:, 3] = boxes[:, 1] + means[:, 3]
    return boxes


@dataclass(frozen=True, slots=True)
class TrackerUpdate:
    """What one :meth:`JDETracker.step` did.

    ``tracks``: the activated tracks (what :meth:`JDETracker.update` returns);
    ``time_reversal``: the timestamp went back, so the store was emptied before this frame's
    detections were tracked; ``capped``: tracks removed by ``config.max_tracks``;
    ``invalid_detections``: detections dropped for a non-positive width or height.
    """

    tracks: list[Track]
    time_reversal: bool = False
    capped: int = 0
    invalid_detections: int = 0


class JDETracker:
    """Online multi-object tracker; call :meth:`update` once per frame, in time order."""

    def __init__(self, config: TrackerConfig | None = None):
        self._config = (config or TrackerConfig()).checked()
        self.kalman = KalmanFilter(
            self._config.std_weight_position, self._config.std_weight_velocity
        )
        self.time_reversals = 0
        self.dropped_detections = 0
        self.capped_tracks = 0  # tracks removed by config.max_tracks
        self.reset()

    # ----- public --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._next_id = 1
        self._clear()

    @property
    def config(self) -> TrackerConfig:
        return self._config

    @config.setter
    def config(self, config: TrackerConfig) -> None:
        self.configure(config)

    def configure(self, config: TrackerConfig) -> bool:
        """Switch to a new configuration between updates (e.g. a changed ROS parameter);
        assigning ``tracker.config`` does the same.

        Thresholds and noise weights apply from the next update on. A different ``frame_rate``
        or ``time_snap_frames`` changes what a stored frame position means, so the store is
        then reset (ids restart at 1); returns True in that case. Raises ValueError, leaving
        the tracker unchanged, when the configuration is invalid.
        """
        config = config.checked()
        old = self._config
        timing_changed = (config.frame_rate, config.time_snap_frames) != (
            old.frame_rate,
            old.time_snap_frames,
        )
        self._config = config
        self.kalman = KalmanFilter(config.std_weight_position, config.std_weight_velocity)
        if timing_changed:
            self.reset()
        return timing_changed

    @property
    def frame_count(self) -> int:
        """Updates since construction, reset or a time reversal."""
        return self._frame_count

    @property
    def embedding_dim(self) -> int | None:
        return self._dim

    def all_tracks(self) -> list[Track]:
        """Every live track: tracked (confirmed or tentative) and lost, in store order."""
        return list(self._tracked) + list(self._lost)

    def update(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        embeddings: np.ndarray,
        timestamp: float,
        warp: np.ndarray | None = None,
    ) -> list[Track]:
        """Advance to ``timestamp`` with this frame's detections; return the activated tracks.

        boxes (N, 4) x1, y1, x2, y2 image pixels; scores (N,); embeddings (N, D); timestamp in
        seconds. The returned boxes (``tlwh``/``tlbr``) are Kalman posteriors. ``warp``: the
        2x3 affine map from the previous image's pixels to this one's (camera motion, see
        ``camera_motion.py``), applied to every live track before prediction; None (the
        original) leaves the states untouched. :meth:`step` does the same and also says what
        else happened.
        """
        return self.step(boxes, scores, embeddings, timestamp, warp).tracks

    def step(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        embeddings: np.ndarray,
        timestamp: float,
        warp: np.ndarray | None = None,
    ) -> TrackerUpdate:
        """:meth:`update`, returning the activated tracks with this update's events."""
        if warp is not None:
            warp = check_warp(warp)
        boxes, scores, embeddings, timestamp, invalid = self._validated(
            boxes, scores, embeddings, timestamp
        )
        if warp is not None:
            self._warp_tracks(warp)
        reversal = self.clock.goes_back(timestamp)
        if reversal:
            self.time_reversals += 1
            self._clear()
        first_frame = not self.clock.started
        dt = self.clock.advance(timestamp)
        self._frame_count += 1
        if len(scores):
            self._dim = embeddings.shape[1]
        self._expire_silent()
        activated = self._associate(boxes, scores, embeddings, dt, first_frame)
        excess = len(self._tracked) + len(self._lost) - self._config.max_tracks
        if excess > 0:
            activated = self._cap_tracks(activated, excess)
        return TrackerUpdate(activated, reversal, max(excess, 0), invalid)

    def _cap_tracks(self, activated: list[Track], excess: int) -> list[Track]:
        """Hold the store to ``config.max_tracks`` whatever the other settings: the ``excess``
        tracks to remove are the lost ones first, those lost longest first, then tracked ones
        (tentative before confirmed, least recently updated first). Counted in
        ``capped_tracks``; returns ``activated`` less the removed tracks."""
        by_age = sorted(self._lost, key=lambda t: t.frame_id)
        by_age += sorted(self._tracked, key=lambda t: (t.is_activated, t.frame_id))
        removed = {id(t) for t in by_age[:excess]}
        for track in by_age[:excess]:
            track.mark_removed()
        self._lost = [t for t in self._lost if id(t) not in removed]
        self._tracked = [t for t in self._tracked if id(t) not in removed]
        self.capped_tracks += excess
        return [t for t in activated if id(t) not in removed]

    # ----- internals -----------------------------------------------------------------------
    def _warp_tracks(self, warp: np.ndarray) -> None:
        """Move every live track into this frame's image coordinates (camera motion)."""
        tracks = self._tracked + self._lost
        if not tracks:
            return
        means, covs = warp_kalman_states(
            np.array([t.mean for t in tracks]), np.array([t.covariance for t in tracks]), warp
        )
        for t, m, c in zip(tracks, means, covs, strict=True):
            t.mean = m
            t.covariance = c

    def _clear(self) -> None:
        self._tracked: list[Track] = []
        self._lost: list[Track] = []
        self._removed_ids: set[int] = set()
        self._frame_count = 0
        self._dim: int | None = None
        # A fresh clock: tracks handed out earlier keep answering from the old one.
        self.clock = FrameClock(self._config.frame_rate, self._config.time_snap_frames)

    def _validated(
        self, boxes: np.ndarray, scores: np.ndarray, embeddings: np.ndarray, timestamp: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
        """The inputs as arrays, less the detections with a non-positive size (their number
        comes last); ValueError for anything that cannot be tracked."""
        try:
            timestamp = float(timestamp)
        except (TypeError, ValueError):
            raise ValueError(f"timestamp must be seconds as a float, got {timestamp!r}") from None
        if not np.isfinite(timestamp):
            raise ValueError(f"timestamp must be finite, got {timestamp}")
        boxes = np.asarray(boxes)
        scores = np.asarray(scores)
        embeddings = np.asarray(embeddings)
        n = scores.size if scores.ndim <= 1 else -1
        if n == 0 and boxes.size == 0 and embeddings.size == 0:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, self._dim or 0)), timestamp, 0
        if scores.ndim != 1:
            raise ValueError(f"scores must have shape (N,), got {scores.shape}")
        if boxes.shape != (n, 4):
            raise ValueError(f"boxes must have shape ({n}, 4) for {n} scores, got {boxes.shape}")
        if embeddings.ndim != 2 or embeddings.shape[0] != n or embeddings.shape[1] == 0:
            raise ValueError(
                f"embeddings must have shape ({n}, D) for {n} scores, got {embeddings.shape}"
            )
        if self._dim is not None and embeddings.shape[1] != self._dim:
            raise ValueError(
                f"embedding width changed from {self._dim} to {embeddings.shape[1]}; reset first"
            )
        for name, values in (("boxes", boxes), ("scores", scores), ("embeddings", embeddings)):
            if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
                values.dtype, np.complexfloating
            ):
                raise ValueError(f"{name} must be real numbers, got dtype {values.dtype}")
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name} contain NaN or inf")
        if not np.issubdtype(boxes.dtype, np.floating):
            boxes = boxes.astype(np.float64)
        wide = embeddings.astype(np.float64)
        if (np.add.reduce(wide * wide, axis=1) == 0).any():  # norm 0, as np.linalg.norm says
            raise ValueError("embeddings contain an all-zero row (no direction to match)")
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        invalid = 0
        if not np.all(valid):
            invalid = int(np.count_nonzero(~valid))
            self.dropped_detections += invalid
            boxes, scores, embeddings = boxes[valid], scores[valid], embeddings[valid]
        return boxes, scores.astype(np.float64), embeddings, timestamp, invalid

    def _expire_silent(self) -> None:
        """Drop tracks silent for longer than the original could ever keep them (gaps)."""
        limit = self.config.buffer_size + 2 + _FRAME_EPS
        now = self.clock.position
        if any(now - t.frame_id > limit for t in self._tracked + self._lost):
            for t in self._tracked + self._lost:
                if now - t.frame_id > limit:
                    t.mark_removed()
            self._tracked = [t for t in self._tracked if now - t.frame_id <= limit]
            self._lost = [t for t in self._lost if now - t.frame_id <= limit]

    def _predict(self, tracks: list[Track], dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Kalman-predict tracks in one batch; vh is zeroed for tracks not in state Tracked.
        Returns the predicted stacks (N, 8), (N, 8, 8), which the stages reuse; each track's
        ``mean``/``covariance`` is a row of them."""
        if not tracks:
            return np.zeros((0, 8)), np.zeros((0, 8, 8))
        means = np.array([t.mean for t in tracks])
        covs = np.array([t.covariance for t in tracks])
        not_tracked = [t.state != TrackState.Tracked for t in tracks]
        if any(not_tracked):
            means[not_tracked, 7] = 0.0
        means, covs = self.kalman.predict(means, covs, dt)
        for t, m, c in zip(tracks, means, covs, strict=True):
            t.mean = m
            t.covariance = c
        return means, covs

    def _correct(
        self,
        tracks: list[Track],
        dets: _Detections,
        matches: np.ndarray,
        use_features: bool = True,
        stacks: tuple[np.ndarray, ...] | None = None,
    ) -> tuple[list[Track], list[Track]]:
        """Kalman-update matched (track, detection) pairs; returns (updated, re-activated).
        ``stacks``: (means, covariances, smooth features) of ``tracks`` already stacked."""
        updated: list[Track] = []
        refound: list[Track] = []
        if len(matches) == 0:
            return updated, refound
        rows = matches[:, 0]
        matched = [tracks[i] for i in rows]
        if stacks is None:
            means = np.array([t.mean for t in matched])
            covs = np.array([t.covariance for t in matched])
        else:
            means, covs = stacks[0][rows], stacks[1][rows]
        det_index = matches[:, 1]
        means, covs = self.kalman.update(means, covs, dets.xyah[det_index])
        features = dets.features[det_index]
        smooth = None
        if use_features:
            if stacks is None:
                old = np.array([t.smooth_feat for t in matched])
            else:
                old = stacks[2][rows]
            smooth = smooth_features(old, features, self.config.feature_alpha)
        for k, (track, det) in enumerate(zip(matched, det_index, strict=True)):
            reactivate = track.state != TrackState.Tracked
            if smooth is None:
                track.apply_update(means[k], covs[k], dets.scores[det], reactivate)
            else:
                track.apply_update(
                    means[k], covs[k], dets.scores[det], reactivate, features[k], smooth[k]
                )
            (refound if reactivate else updated).append(track)
        return updated, refound

    def _associate(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        embeddings: np.ndarray,
        dt: float,
        first_frame: bool,
    ) -> list[Track]:
        cfg = self.config
        all_dets = _Detections(boxes, scores, embeddings)
        if cfg.byte_enabled:
            high = scores > cfg.conf_thres
            dets = all_dets.take(np.flatnonzero(high))
            low_dets = all_dets.take(np.flatnonzero(~high & (scores > cfg.byte_low_thres)))
        else:
            dets = all_dets
            low_dets = None
        activated: list[Track] = []
        refind: list[Track] = []
        lost: list[Track] = []
        removed: list[Track] = []

        unconfirmed = [t for t in self._tracked if not t.is_activated]
        confirmed = [t for t in self._tracked if t.is_activated]

        # Stage 1: appearance + motion over confirmed and lost tracks.
        pool = _joint(confirmed, self._lost)
        means, covs = self._predict(pool, dt)
        smooth = np.array([t.smooth_feat for t in pool])
        if pool and len(dets):
            cost = matching.embedding_distance(smooth, dets.features)
            gate = self.kalman.gating_distance(means, covs, dets.xyah)
            cost = matching.fuse_motion(cost, gate, cfg.gating_threshold, cfg.motion_lambda)
        else:
            cost = np.zeros((len(pool), len(dets)))
        matches, u_track, u_det = matching.linear_assignment(cost, cfg.embedding_match_thresh)
        updated, refound = self._correct(pool, dets, matches, stacks=(means, covs, smooth))
        activated += updated
        refind += refound

        # Stage 2: IoU between predicted boxes of still-unmatched Tracked tracks and detections.
        dets = dets.take(u_det)
        rows = np.array([i for i in u_track if pool[i].state == TrackState.Tracked], dtype=int)
        r_tracked = [pool[i] for i in rows]
        r_stacks = (means[rows], covs[rows], smooth[rows] if len(rows) else smooth)
        cost = matching.iou_distance(_boxes_of(r_stacks[0]), dets.tlbr)
        matches, u_track, u_det = matching.linear_assignment(cost, cfg.iou_match_thresh)
        activated += self._correct(r_tracked, dets, matches, stacks=r_stacks)[0]
        leftover = [r_tracked[i] for i in u_track]

        # Optional BYTE pass: low-score detections keep tracked tracks alive through occlusion.
        if low_dets is not None and leftover and len(low_dets):
            cost = matching.iou_distance(_boxes(leftover), low_dets.tlbr)
            matches, u_left, _ = matching.linear_assignment(cost, cfg.byte_match_thresh)
            activated += self._correct(leftover, low_dets, matches, use_features=False)[0]
            leftover = [leftover[i] for i in u_left]

        for track in leftover:
            if track.state != TrackState.Lost:
                track.mark_lost()
                lost.append(track)

        # Stage 3: tracks born last frame (not predicted) against the remaining detections.
        dets = dets.take(u_det)
        cost = matching.iou_distance(_boxes(unconfirmed), dets.tlbr)
        matches, u_unconfirmed, u_det = matching.linear_assignment(
            cost, cfg.unconfirmed_match_thresh
        )
        activated += self._correct(unconfirmed, dets, matches)[0]
        for i in u_unconfirmed:
            unconfirmed[i].mark_removed()
            removed.append(unconfirmed[i])

        # Births: only frame-1 tracks are confirmed at once.
        dets = dets.take(u_det)
        activated += self._births(dets, first_frame)

        # Deaths: lost for more than buffer_size frames of time.
        max_lost = cfg.buffer_size + _FRAME_EPS
        for track in self._lost:
            if self.clock.position - track.frame_id > max_lost:
                track.mark_removed()
                removed.append(track)

        # Bookkeeping, in the original order.
        tracked = [t for t in self._tracked if t.state == TrackState.Tracked]
        tracked = _joint(_joint(tracked, activated), refind)
        lost_list = _sub(self._lost, {t.track_id for t in tracked})
        lost_list.extend(lost)
        lost_list = _sub(lost_list, self._removed_ids)  # history before this frame's removals
        self._removed_ids.update(t.track_id for t in removed)
        self._tracked, self._lost = self._remove_duplicates(tracked, lost_list)
        self._forget_removed()
        return [t for t in self._tracked if t.is_activated]

    def _births(self, dets: _Detections, confirmed: bool) -> list[Track]:
        births = np.flatnonzero(dets.scores >= self.config.conf_thres)
        if len(births) == 0:
            return []
        means, covs = self.kalman.initiate(dets.xyah[births])
        born = []
        for k, i in enumerate(births):
            track = Track(
                self._next_id, means[k], covs[k], dets.scores[i], dets.features[i],
                self.clock, confirmed,
            )  # fmt: skip
            self._next_id += 1
            born.append(track)
        return born

    def _remove_duplicates(
        self, tracked: list[Track], lost: list[Track]
    ) -> tuple[list[Track], list[Track]]:
        """Tracked/lost pairs with IoU > 0.85: keep the older track (ties drop the tracked)."""
        if not tracked or not lost:
            return tracked, lost
        dist = matching.iou_distance(_boxes(tracked), _boxes(lost))
        drop_tracked: set[int] = set()
        drop_lost: set[int] = set()
        for p, q in zip(*np.nonzero(dist < self.config.duplicate_iou_distance), strict=True):
            age_p = tracked[p].frame_id - tracked[p].start_frame
            age_q = lost[q].frame_id - lost[q].start_frame
            if age_p > age_q + _FRAME_EPS:
                drop_lost.add(int(q))
            else:
                drop_tracked.add(int(p))
        return (
            [t for i, t in enumerate(tracked) if i not in drop_tracked],
            [t for i, t in enumerate(lost) if i not in drop_lost],
        )

    def _forget_removed(self) -> None:
        """Keep only removed ids that can still matter: those of live (tracked/lost) tracks."""
        live = {t.track_id for t in self._tracked}
        live.update(t.track_id for t in self._lost)
        self._removed_ids &= live
