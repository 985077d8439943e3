"""The time-aware, bounded tracker against a literal frame-counting transcription of spec 5.5.

``FrameCountingTracker`` below follows the spec text one step at a time with plain Python
lists, one Kalman filter call per track, integer frame ids and the ever-growing removed list
of the original. At a steady rate equal to ``frame_rate`` the production tracker, fed
timestamps instead of frame numbers, must give the same ids and boxes in every frame.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from fairmot_ros.tracking import JDETracker, TrackerConfig
from fairmot_ros.tracking.matching import iou_distance, linear_assignment
from fairmot_ros.tracking.synthetic import random_scene

SP, SV = 1 / 20, 1 / 160
CHI2_4 = 9.4877


# ----- a deliberately naive reference ----------------------------------------------------------
def kf_initiate(z):
    h = z[3]
    std = [2 * SP * h, 2 * SP * h, 1e-2, 2 * SP * h, 10 * SV * h, 10 * SV * h, 1e-5, 10 * SV * h]
    return np.r_[z, np.zeros(4)], np.diag(np.square(std))


def kf_predict(mean, cov):
    f = np.eye(8) + np.eye(8, k=4)
    h = mean[3]
    q = np.diag(np.square([SP * h, SP * h, 1e-2, SP * h, SV * h, SV * h, 1e-5, SV * h]))
    return f @ mean, f @ cov @ f.T + q


def kf_project(mean, cov):
    h = mean[3]
    r = np.diag(np.square([SP * h, SP * h, 1e-1, SP * h]))
    return mean[:4], cov[:4, :4] + r


def kf_update(mean, cov, z):
    zp, s = kf_project(mean, cov)
    factor = scipy.linalg.cho_factor(s, lower=True)
    gain = scipy.linalg.cho_solve(factor, cov[:4, :]).T
    return mean + gain @ (z - zp), cov - gain @ s @ gain.T


def kf_gate(mean, cov, zs):
    zp, s = kf_project(mean, cov)
    d = zs - zp
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(s), d)


def to_xyah(tlwh):
    x, y, w, h = tlwh
    return np.array([x + w / 2, y + h / 2, w / h, h])


class RefTrack:
    counter = 0

    def __init__(self, tlwh, score, feat):
        self.det_tlwh = np.asarray(tlwh, dtype=float)
        self.score = score
        self.curr = feat / np.linalg.norm(feat)
        self.smooth = self.curr
        self.mean = None
        self.activated = False
        self.state = "new"

    @property
    def tlwh(self):
        if self.mean is None:
            return self.det_tlwh.copy()
        x, y, a, h = self.mean[:4]
        return np.array([x - a * h / 2, y - h / 2, a * h, h])

    @property
    def tlbr(self):
        t = self.tlwh
        return np.r_[t[:2], t[:2] + t[2:]]

    def feat(self, f):
        f = f / np.linalg.norm(f)
        self.curr = f
        s = 0.9 * self.smooth + 0.1 * f
        self.smooth = s / np.linalg.norm(s)

    def activate(self, frame):
        RefTrack.counter += 1
        self.id = RefTrack.counter
        self.mean, self.cov = kf_initiate(to_xyah(self.det_tlwh))
        self.state = "tracked"
        self.activated = frame == 1
        self.frame = self.start = frame

    def take(self, det, frame, reactivate):
        self.mean, self.cov = kf_update(self.mean, self.cov, to_xyah(det.tlwh))
        self.feat(det.curr)
        if not reactivate:
            self.score = det.score
        self.state = "tracked"
        self.activated = True
        self.frame = frame


def union(a, b):
    ids = [t.id for t in a]
    return a + [t for t in b if t.id not in ids and not ids.append(t.id)]


def minus(a, b):
    drop = {t.id for t in b}
    kept = {}
    for t in a:
        kept[t.id] = t
    return [t for tid, t in kept.items() if tid not in drop]


class FrameCountingTracker:
    def __init__(self, frame_rate=30, track_buffer=30, conf=0.4):
        RefTrack.counter = 0
        self.frame = 0
        self.tracked, self.lost, self.removed = [], [], []
        self.max_lost = int(frame_rate / 30.0 * track_buffer)
        self.conf = conf

    def update(self, boxes, scores, feats):
        self.frame += 1
        dets = [
            RefTrack(np.r_[b[:2], b[2:] - b[:2]], s, f)
            for b, s, f in zip(boxes, scores, feats, strict=True)
        ]
        activated, refind, lost, removed = [], [], [], []
        unconfirmed = [t for t in self.tracked if not t.activated]
        confirmed = [t for t in self.tracked if t.activated]
        pool = union(confirmed, self.lost)
        for t in pool:
            if t.state != "tracked":
                t.mean = t.mean.copy()
                t.mean[7] = 0
            t.mean, t.cov = kf_predict(t.mean, t.cov)
        cost = np.zeros((len(pool), len(dets)))
        if pool and dets:
            feats_t = np.array([t.smooth for t in pool])
            feats_d = np.array([d.curr for d in dets])
            cos = (
                feats_t
                @ feats_d.T
                / np.outer(np.linalg.norm(feats_t, axis=1), np.linalg.norm(feats_d, axis=1))
            )
            cost = np.maximum(0, 1 - cos)
            zs = np.array([to_xyah(d.tlwh) for d in dets])
            for i, t in enumerate(pool):
                g = kf_gate(t.mean, t.cov, zs)
                cost[i, g > CHI2_4] = np.inf
                cost[i] = 0.98 * cost[i] + (1 - 0.98) * g
        m, ut, ud = linear_assignment(cost, 0.4)
        for i, j in m:
            t = pool[i]
            if t.state == "tracked":
                t.take(dets[j], self.frame, False)
                activated.append(t)
            else:
                t.take(dets[j], self.frame, True)
                refind.append(t)
        dets = [dets[j] for j in ud]
        rt = [pool[i] for i in ut if pool[i].state == "tracked"]
        cost = iou_distance([t.tlbr for t in rt], [d.tlbr for d in dets])
        m, ut, ud = linear_assignment(cost, 0.5)
        for i, j in m:
            rt[i].take(dets[j], self.frame, False)
            activated.append(rt[i])
        for i in ut:
            rt[i].state = "lost"
            lost.append(rt[i])
        dets = [dets[j] for j in ud]
        cost = iou_distance([t.tlbr for t in unconfirmed], [d.tlbr for d in dets])
        m, uu, ud = linear_assignment(cost, 0.7)
        for i, j in m:
            unconfirmed[i].take(dets[j], self.frame, False)
            activated.append(unconfirmed[i])
        for i in uu:
            unconfirmed[i].state = "removed"
            removed.append(unconfirmed[i])
        for j in ud:
            if dets[j].score >= self.conf:
                dets[j].activate(self.frame)
                activated.append(dets[j])
        for t in self.lost:
            if self.frame - t.frame > self.max_lost:
                t.state = "removed"
                removed.append(t)
        self.tracked = union(
            union([t for t in self.tracked if t.state == "tracked"], activated), refind
        )
        self.lost = minus(self.lost, self.tracked)
        self.lost.extend(lost)
        self.lost = minus(self.lost, self.removed)
        self.removed.extend(removed)
        self.tracked, self.lost = self.dedup(self.tracked, self.lost)
        return [t for t in self.tracked if t.activated]

    @staticmethod
    def dedup(a, b):
        d = iou_distance([t.tlbr for t in a], [t.tlbr for t in b])
        da, db = set(), set()
        for p, q in zip(*np.nonzero(d < 0.15), strict=True):
            if a[p].frame - a[p].start > b[q].frame - b[q].start:
                db.add(q)
            else:
                da.add(p)
        return [t for i, t in enumerate(a) if i not in da], [
            t for i, t in enumerate(b) if i not in db
        ]


# ----- comparisons -----------------------------------------------------------------------------
def assert_same_outputs(reference, tracker, scene, timestamps):
    for f, frame in enumerate(scene):
        expected = reference.update(frame.boxes, frame.scores, frame.embeddings)
        got = tracker.update(frame.boxes, frame.scores, frame.embeddings, timestamps[f])
        assert [t.id for t in expected] == [t.track_id for t in got], f"frame {f}"
        if got:
            np.testing.assert_allclose(
                np.array([t.tlwh for t in got]), np.array([t.tlwh for t in expected]), atol=1e-6
            )
        assert sorted(t.id for t in reference.lost) == sorted(
            t.track_id for t in tracker.all_tracks() if t.state.name in ("Lost", "Removed")
        )


SCENES = {
    "walkers": dict(n_people=12, n_frames=160, seed=1),
    "crowd_with_false_positives": dict(
        n_people=25, n_frames=120, seed=2, occlusion_rate=0.05, false_positive_rate=2.0
    ),
    "appearance_changes": dict(
        n_people=10, n_frames=200, seed=3, appearance_change_rate=0.05, still_fraction=0.6,
        occlusion_rate=0.08,
    ),
    # As many tracks as the speed benchmarks use: the batched stages at benchmark sizes.
    "large_crowd": dict(
        n_people=150, n_frames=60, seed=9, occlusion_rate=0.03, false_positive_rate=3.0,
        always_present=True,
    ),
    "removal_latency": dict(
        n_people=12, n_frames=300, seed=4, dim=16, still_fraction=0.8, occlusion_rate=0.03,
        occlusion_frames=(29, 32), always_present=True,
    ),
}  # fmt: skip


@pytest.mark.parametrize("scene_name", sorted(SCENES))
@pytest.mark.parametrize(("frame_rate", "origin"), [(30.0, 0.0), (25.0, 1_763_800_000.123)])
def test_steady_timestamps_equal_frame_counting(scene_name, frame_rate, origin):
    scene = random_scene(**{"dim": 32, **SCENES[scene_name]})
    reference = FrameCountingTracker(frame_rate=frame_rate)
    tracker = JDETracker(TrackerConfig(frame_rate=frame_rate))
    stamps = [origin + f / frame_rate for f in range(len(scene))]
    assert_same_outputs(reference, tracker, scene, stamps)


class UnboundedTracker(JDETracker):
    """Keeps every removed id, like the original's removed_stracks list."""

    def _forget_removed(self) -> None:
        pass


class HistorylessTracker(JDETracker):
    """Forgets removed ids after one frame: shows that the scene below needs the history."""

    def _forget_removed(self) -> None:
        self._removed_ids = {t.track_id for t in self._lost if t.state.name == "Removed"}


def run_ids(tracker, scene):
    return [
        [t.track_id for t in tracker.update(fr.boxes, fr.scores, fr.embeddings, f / 30)]
        for f, fr in enumerate(scene)
    ]


def test_bounded_removed_history_changes_nothing_on_a_long_stream():
    # Occlusions that end around last + buffer + 2 make tracks come back in their removal
    # latency frame and be lost again later: the case where the removed history decides.
    scene = random_scene(
        n_people=15, n_frames=500, seed=11, dim=16, still_fraction=0.8, occlusion_rate=0.03,
        occlusion_frames=(29, 32), always_present=True, false_positive_rate=0.5,
        appearance_change_rate=0.005,
    )  # fmt: skip
    bounded, unbounded = JDETracker(), UnboundedTracker()
    largest = 0
    for f, frame in enumerate(scene):
        a = bounded.update(frame.boxes, frame.scores, frame.embeddings, f / 30)
        b = unbounded.update(frame.boxes, frame.scores, frame.embeddings, f / 30)
        assert [t.track_id for t in a] == [t.track_id for t in b]
        np.testing.assert_array_equal([t.tlwh for t in a], [t.tlwh for t in b])
        assert [t.track_id for t in bounded.all_tracks()] == [
            t.track_id for t in unbounded.all_tracks()
        ]
        largest = max(largest, len(bounded._removed_ids))
        assert len(bounded._removed_ids) <= len(bounded.all_tracks())
    assert len(unbounded._removed_ids) > 10 * max(largest, 1)
    assert run_ids(HistorylessTracker(), scene) != run_ids(JDETracker(), scene)
