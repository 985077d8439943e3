"""Synthetic detection streams: people walking through a frame, for benchmarks and tests.

Each person has a fixed identity embedding, a constant-velocity walk with jitter, an entry and
exit frame and random occlusion spells; false positives with random embeddings appear now and
then. Frames come out like the detector's output: float32 boxes x1y1x2y2, scores in descending
order and unit-norm embeddings. Nothing here is used at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SceneFrame:
    boxes: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    scores: np.ndarray  # (N,) float32, descending
    embeddings: np.ndarray  # (N, D) float32, unit norm
    person_ids: np.ndarray  # (N,) int, -1 for a false positive


def random_scene(
    n_people: int,
    n_frames: int,
    seed: int = 0,
    dim: int = 128,
    image_size: tuple[int, int] = (1920, 1080),
    occlusion_rate: float = 0.02,
    false_positive_rate: float = 0.3,
    low_score_rate: float = 0.0,
    embedding_noise: float = 0.25,
    always_present: bool = False,
    appearance_change_rate: float = 0.0,
    still_fraction: float = 0.0,
    occlusion_frames: tuple[int, int] = (1, 60),
) -> list[SceneFrame]:
    """A reproducible scene of ``n_people`` walkers over ``n_frames`` frames.

    ``occlusion_rate``: chance per person and frame that an occlusion starts; it hides the
    person for ``occlusion_frames`` (low, high) frames, the last frame of sight to the
    return being 2 more.
    ``false_positive_rate``: expected false positives per frame. ``low_score_rate``: chance a
    visible person is detected with a low score (0.15..0.4) instead of a confident one.
    ``always_present``: everyone is in the scene from the first to the last frame.
    ``appearance_change_rate``: chance per person and frame that the identity embedding is
    redrawn (the tracker then sees a stranger where a track is lost: duplicates, new ids).
    ``still_fraction``: share of people who stand still.
    """
    rng = np.random.default_rng(seed)
    width, height = image_size
    identity = _unit(rng.normal(size=(n_people, dim)))
    box_h = rng.uniform(60, 300, n_people)
    box_w = box_h * rng.uniform(0.3, 0.5, n_people)
    centre = np.stack([rng.uniform(0, width, n_people), rng.uniform(0, height, n_people)], 1)
    velocity = rng.normal(0, 3, (n_people, 2))
    still = rng.random(n_people) < still_fraction
    velocity[still] = 0.0
    if always_present:
        enter = np.zeros(n_people, dtype=int)
        leave = np.full(n_people, n_frames)
    else:
        enter = rng.integers(0, max(1, n_frames // 2), n_people)
        leave = enter + rng.integers(max(2, n_frames // 4), max(3, n_frames), n_people)
    hidden_until = np.full(n_people, -1)
    frames = []
    for f in range(n_frames):
        velocity[~still] += rng.normal(0, 0.2, (int((~still).sum()), 2))
        changed = rng.random(n_people) < appearance_change_rate
        identity[changed] = _unit(rng.normal(size=(int(changed.sum()), dim)))
        centre += velocity
        bounce = (centre < 0) | (centre > (width, height))
        velocity[bounce] *= -1
        starts = rng.random(n_people) < occlusion_rate
        new = starts & (hidden_until < f)
        hidden_until[new] = f + rng.integers(*occlusion_frames, int(new.sum()))
        visible = (enter <= f) & (f < leave) & (hidden_until < f)
        idx = np.flatnonzero(visible)
        jitter = rng.normal(0, 2.0, (len(idx), 4))
        cx, cy = centre[idx, 0], centre[idx, 1]
        w, h = box_w[idx], box_h[idx]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1) + jitter
        scores = rng.uniform(0.45, 0.99, len(idx))
        low = rng.random(len(idx)) < low_score_rate
        scores[low] = rng.uniform(0.15, 0.4, int(low.sum()))
        emb = identity[idx] + rng.normal(0, embedding_noise / np.sqrt(dim), (len(idx), dim))
        n_fp = rng.poisson(false_positive_rate)
        fp_c = rng.uniform((0, 0), (width, height), (n_fp, 2))
        fp_h = rng.uniform(40, 200, n_fp)
        fp_w = fp_h * rng.uniform(0.3, 0.6, n_fp)
        fp_boxes = np.stack(
            [fp_c[:, 0] - fp_w / 2, fp_c[:, 1] - fp_h / 2, fp_c[:, 0] + fp_w / 2,
             fp_c[:, 1] + fp_h / 2], 1
        )  # fmt: skip
        all_boxes = np.concatenate([boxes, fp_boxes]).astype(np.float32)
        all_scores = np.concatenate([scores, rng.uniform(0.41, 0.7, n_fp)]).astype(np.float32)
        all_emb = _unit(np.concatenate([emb, rng.normal(size=(n_fp, dim))])).astype(np.float32)
        ids = np.concatenate([idx, np.full(n_fp, -1)])
        order = np.argsort(-all_scores, kind="stable")
        frames.append(SceneFrame(all_boxes[order], all_scores[order], all_emb[order], ids[order]))
    return frames


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def walker_stream(
    n_frames: int,
    mean_people: float = 20.0,
    mean_stay: int = 150,
    seed: int = 0,
    dim: int = 128,
    image_size: tuple[int, int] = (1920, 1080),
    false_positive_rate: float = 0.3,
    occlusion_rate: float = 0.01,
) -> Iterator[SceneFrame]:
    """An endless-crowd stream, one frame at a time: people arrive at random (on average
    ``mean_people / mean_stay`` per frame), stay about ``mean_stay`` frames and leave, so over
    a long run thousands of identities pass while about ``mean_people`` are in view. Nothing
    is kept per person after they leave, so memory stays flat however long it runs (what a
    soak test of the tracker needs). ``person_ids`` count up from 0 in order of arrival."""
    rng = np.random.default_rng(seed)
    width, height = image_size
    arrival_rate = mean_people / max(1, mean_stay)
    # person id -> [centre (2,), velocity (2,), w, h, identity, leave frame, hidden until]
    people: dict[int, list] = {}
    next_person = 0
    for f in range(n_frames):
        for _ in range(rng.poisson(arrival_rate)):
            h = rng.uniform(60, 300)
            leave = f + max(2, int(rng.exponential(mean_stay)))
            centre = rng.uniform((0, 0), (width, height))
            identity = _unit(rng.normal(size=(1, dim)))[0]
            people[next_person] = [centre, rng.normal(0, 3, 2), h * rng.uniform(0.3, 0.5), h,
                                   identity, leave, -1]  # fmt: skip
            next_person += 1
        for pid in [pid for pid, p in people.items() if p[5] <= f]:
            del people[pid]
        ids, boxes, embs = [], [], []
        for pid, p in people.items():
            p[1] += rng.normal(0, 0.2, 2)
            p[0] += p[1]
            p[1][(p[0] < 0) | (p[0] > (width, height))] *= -1
            if p[6] < f and rng.random() < occlusion_rate:
                p[6] = f + int(rng.integers(1, 30))
            if p[6] >= f:
                continue
            (cx, cy), w, h = p[0], p[2], p[3]
            ids.append(pid)
            boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            embs.append(p[4] + rng.normal(0, 0.25 / np.sqrt(dim), dim))
        n_fp = rng.poisson(false_positive_rate)
        fp_c = rng.uniform((0, 0), (width, height), (n_fp, 2))
        fp_h = rng.uniform(40, 200, n_fp)
        fp_w = fp_h * rng.uniform(0.3, 0.6, n_fp)
        fp_boxes = np.stack([fp_c[:, 0] - fp_w / 2, fp_c[:, 1] - fp_h / 2,
                             fp_c[:, 0] + fp_w / 2, fp_c[:, 1] + fp_h / 2], 1)  # fmt: skip
        all_boxes = np.concatenate([np.reshape(boxes, (-1, 4)) + rng.normal(0, 2.0, (len(ids), 4)),
                                    fp_boxes]).astype(np.float32)  # fmt: skip
        scores = np.concatenate([rng.uniform(0.45, 0.99, len(ids)), rng.uniform(0.41, 0.7, n_fp)])
        emb = np.concatenate([np.reshape(embs, (-1, dim)), rng.normal(size=(n_fp, dim))])
        order = np.argsort(-scores, kind="stable")
        person_ids = np.concatenate([np.asarray(ids, dtype=int), np.full(n_fp, -1)])
        yield SceneFrame(all_boxes[order], scores[order].astype(np.float32),
                         _unit(emb).astype(np.float32)[order], person_ids[order])  # fmt: skip
