"""Synthetic crowd composites for static-camera sequences (optional training data).

A single scene shows a detector a handful of people at a handful of places. With a static
camera, the per-pixel median over the frames is the empty scene, and the difference between a
frame and that background cuts each annotated person out with a soft mask. Pasting those cut-outs
into other frames, at other places, with the size the scene's perspective gives that place, with
other clothing colours and mirrored, makes new crowd configurations and partial occlusions from
the same real pixels. Pasted people get identity -1: they train the detector, not the re-ID head
(their appearance was altered, so their identity label would be wrong). With ``color_identities``
K (see ``fairmot_ros.training.augment``), a pasted person's hue is one of K fixed variants and the
person keeps its source identity in that variant's range, so composites train the re-ID head too.

The perspective model is a line fitted to box height against foot row, which holds for a flat
ground plane seen by a camera without roll (PETS09-S2L1 frames 1-400: median residual 3 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from fairmot_ros.training.augment import random_hue_variant, rotate_hue
from fairmot_ros.training.validate import iou_matrix


@dataclass(frozen=True)
class CompositeConfig:
    """How many people to paste per sample and how to vary them."""

    max_people: int = 4  # per sample: U{1..max_people} when the sample is composited
    probability: float = 0.5  # share of samples that get composited people
    hue_probability: float = 0.5  # rotate a pasted person's hue by a random angle
    flip_probability: float = 0.5
    height_jitter: float = 0.1  # pasted height = perspective height x U(1 -/+ jitter)
    max_overlap: float = 0.3  # IoU with any box the pasted person stands in front of
    mask_threshold: int = 30  # max channel |frame - background| that counts as foreground
    attempts: int = 10  # placements tried per person before giving up
    color_identities: int = 0  # K >= 2: discrete hue variants that keep the source identity


@dataclass
class Cutout:
    """One person: pixels (h, w, 3) uint8, a soft mask (h, w) float32 in [0, 1] and the
    person's training identity (-1 when unknown)."""

    pixels: np.ndarray
    mask: np.ndarray
    identity: int = -1


@dataclass
class SceneModel:
    """What the compositor knows of one static scene: people to paste and where they fit."""

    cutouts: list[Cutout] = field(default_factory=list)
    height_fit: tuple[float, float] = (0.0, 0.0)  # box height = a * foot_row + b
    foot_rows: tuple[float, float] = (0.0, 0.0)  # range of foot rows to place people at


def median_background(frames: np.ndarray, samples: int = 60) -> np.ndarray:
    """The empty scene: per-pixel median over evenly spaced frames (people keep moving)."""
    if len(frames) == 0:
        raise ValueError("no frames to estimate a background from")
    picks = np.linspace(0, len(frames) - 1, min(samples, len(frames))).round().astype(int)
    return np.median(np.stack([np.asarray(frames[i]) for i in picks]), axis=0).astype(np.uint8)


def isolated(boxes: np.ndarray, index: int, margin: float = 0.1) -> bool:
    """True when no other box comes within ``margin`` of this box's size (a clean cut-out)."""
    x1, y1, x2, y2 = boxes[index]
    pad_x, pad_y = margin * (x2 - x1), margin * (y2 - y1)
    others = np.delete(boxes, index, axis=0)
    if not len(others):
        return True
    apart = ((others[:, 2] < x1 - pad_x) | (others[:, 0] > x2 + pad_x)
             | (others[:, 3] < y1 - pad_y) | (others[:, 1] > y2 + pad_y))
    return bool(apart.all())


def cut_out(
    frame: np.ndarray, background: np.ndarray, box: np.ndarray, threshold: int
) -> Cutout | None:
    """A person's pixels and soft foreground mask, or None when the box leaves the image or
    the difference to the background is too small to be a person (standing still, occluded)."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = np.round(box).astype(int)
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height or x2 - x1 < 8 or y2 - y1 < 16:
        return None
    pixels = np.ascontiguousarray(frame[y1:y2, x1:x2])
    diff = cv2.absdiff(pixels, background[y1:y2, x1:x2]).max(axis=2)
    hard = (diff > threshold).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    hard = cv2.morphologyEx(hard, cv2.MORPH_OPEN, kernel)
    hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, kernel, iterations=2)
    if hard.mean() < 0.2:
        return None
    soft = cv2.GaussianBlur(hard.astype(np.float32), (5, 5), 1.0)
    return Cutout(pixels, soft)


def build_scene_model(
    frames: np.ndarray,
    boxes_per_frame: list[np.ndarray],
    config: CompositeConfig = CompositeConfig(),
    frame_step: int = 5,
    ids_per_frame: list[np.ndarray] | None = None,
) -> SceneModel:
    """Cut-outs of isolated people every ``frame_step`` frames, and the perspective fit;
    ``ids_per_frame`` gives each cut-out its person's identity."""
    background = median_background(frames)
    all_boxes = [b for b in boxes_per_frame if len(b)]
    if not all_boxes:
        raise ValueError("no annotated people to build composites from")
    stacked = np.concatenate(all_boxes)
    heights = stacked[:, 3] - stacked[:, 1]
    feet = stacked[:, 3]
    slope, intercept = np.polyfit(feet, heights, 1) if np.ptp(feet) > 1 else (0.0, heights.mean())
    # place people from the highest seen foot row down to the image bottom: lower rows are
    # closer to the camera and show people larger than any seen, which the fit extrapolates
    model = SceneModel(height_fit=(float(slope), float(intercept)),
                       foot_rows=(float(feet.min()), float(frames.shape[1])))
    for index in range(0, len(frames), frame_step):
        boxes = boxes_per_frame[index]
        frame = np.asarray(frames[index])
        for k in range(len(boxes)):
            if not isolated(boxes, k):
                continue
            cutout = cut_out(frame, background, boxes[k], config.mask_threshold)
            if cutout is not None:
                if ids_per_frame is not None:
                    cutout.identity = int(ids_per_frame[index][k])
                model.cutouts.append(cutout)
    if not model.cutouts:
        raise ValueError("no clean person cut-outs found (is the camera static?)")
    return model


def plausible_place(box: np.ndarray, boxes: np.ndarray, max_overlap: float) -> bool:
    """A pasted person may partly hide people behind it (foot row above its own), never
    someone in front of it, and never most of anyone."""
    overlap = iou_matrix(box[None], boxes)[0]
    if not len(overlap):
        return True
    in_front = boxes[:, 3] >= box[3]
    touching = overlap > 0
    return bool(not (touching & in_front).any() and (overlap <= max_overlap).all())


def paste(image: np.ndarray, cutout: Cutout, box: np.ndarray) -> None:
    """Alpha-blend the cut-out resized to ``box`` into ``image`` in place (clipped to it)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = np.round(box).astype(int)
    w, h = x2 - x1, y2 - y1
    pixels = cv2.resize(cutout.pixels, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(cutout.mask, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    src = np.s_[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
    region = image[cy1:cy2, cx1:cx2].astype(np.float32)
    blended = mask[src] * pixels[src].astype(np.float32) + (1 - mask[src]) * region
    image[cy1:cy2, cx1:cx2] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def composite(
    image: np.ndarray,
    boxes: np.ndarray,
    ids: np.ndarray,
    scene: SceneModel,
    rng: np.random.Generator,
    config: CompositeConfig = CompositeConfig(),
    identity_count: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste up to ``max_people`` people; returns (new image, boxes, ids).

    Pasted ids are -1 unless ``color_identities`` is set; then a person of known identity i
    pasted in hue variant k gets ``i + identity_count * k``, except in variant 0 when i is
    already in the frame (nobody is twice in one place). The input image is never modified.
    Samples drawn outside ``probability`` come back as they are (copied only when people are
    pasted).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ids = np.asarray(ids).reshape(-1)
    if rng.random() >= config.probability:
        return image, boxes, ids
    height, width = image.shape[:2]
    slope, intercept = scene.height_fit
    out = image.copy()
    new_boxes, new_ids = [boxes], [ids]
    placed = boxes
    for _ in range(int(rng.integers(1, config.max_people + 1))):
        cutout = scene.cutouts[int(rng.integers(len(scene.cutouts)))]
        for _attempt in range(config.attempts):
            foot = rng.uniform(*scene.foot_rows)
            h = (slope * foot + intercept) * rng.uniform(1 - config.height_jitter,
                                                          1 + config.height_jitter)
            if h < 16:
                continue
            w = h * cutout.pixels.shape[1] / cutout.pixels.shape[0]
            cx = rng.uniform(0, width)
            box = np.array([cx - w / 2, foot - h, cx + w / 2, foot])
            if plausible_place(box, placed, config.max_overlap):
                break
        else:
            continue
        pixels, identity = cutout.pixels, -1
        if config.color_identities >= 2:
            pixels, variant = random_hue_variant(pixels, rng, config.hue_probability,
                                                 config.color_identities)
            if cutout.identity >= 0 and identity_count > 0:
                identity = cutout.identity + identity_count * variant
                if variant == 0 and identity in np.concatenate(new_ids):
                    identity = -1
        elif rng.random() < config.hue_probability:
            pixels = rotate_hue(pixels, int(rng.integers(1, 180)))
        mask = cutout.mask
        if rng.random() < config.flip_probability:
            pixels, mask = pixels[:, ::-1], mask[:, ::-1]
        paste(out, Cutout(np.ascontiguousarray(pixels), np.ascontiguousarray(mask)), box)
        new_boxes.append(box[None])
        new_ids.append(np.array([identity], dtype=ids.dtype if ids.size else np.int64))
        placed = np.concatenate([placed, box[None]])
    return out, np.concatenate(new_boxes), np.concatenate(new_ids)
