"""JDE-style augmentation used by FairMOT training (spec section 6), boxes moved with the image.

Order as in the original data loader: HSV saturation/value jitter on the source image, the
letterbox to the training size, a random affine (rotation, translation, scale, shear) with a
127.5 border, then a horizontal flip. An optional colour-variety step (whole-image hue
rotation, grayscale; off by default, not in the original recipe) runs first: with one scene
only, the detector otherwise sees a handful of clothing colours and misses new ones. An optional
degradation step (also off by default) then imitates what other cameras and links do to an image
(tone curve, defocus, low resolution, sensor noise, JPEG), so that a detector trained on one clean
camera does not depend on its exact rendering.
With ``color_identities`` K, the hue rotation is one of K - 1 fixed angles and every known
identity seen under angle k becomes identity ``id + n * k`` (n real identities): the re-ID head
then learns K times as many clothing appearances and, unlike with labels kept across hue
rotations, learns that clothing colour separates people. Grayscale images keep no colour to tell
people apart, so their identities become unknown (-1).
Boxes are x1, y1, x2, y2 pixels and are *not* clipped to the image: the ltrb targets are
learnt from amodal boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fairmot_ros.evaluation.perturb import KINDS as PERTURBATIONS
from fairmot_ros.preprocess import letterbox

PAD_VALUE = (127.5, 127.5, 127.5)  # stored as 128 on uint8 images (spec section 2.1)


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the JDE augmentation; ``enabled=False`` gives the plain letterbox."""

    enabled: bool = True
    hsv_fraction: float = 0.5  # saturation and value scaled by U(1 - f, 1 + f)
    degrees: float = 5.0
    translate: float = 0.10
    scale: tuple[float, float] = (0.50, 1.20)
    scale_log_uniform: bool = False  # draw the scale log-uniformly: as many zoom-ins as outs
    shear: float = 2.0
    flip_probability: float = 0.5
    color_variety: bool = False  # hue rotation / grayscale before the HSV jitter
    hue_probability: float = 0.5  # rotate the hue by U{0..179} OpenCV units (full circle)
    grayscale_probability: float = 0.1
    color_identities: int = 0  # K >= 2: hue shifts k * 180 / K units, identity id -> id + n k
    degrade: bool = False  # camera-like degradations of the source image, each independent
    degrade_probability: float = 0.12  # per kind: tone, blur, downscale, noise, jpeg


def rotate_hue(bgr: np.ndarray, shift: int) -> np.ndarray:
    """Rotate every pixel's hue by ``shift`` OpenCV units (2 degrees each, 180 = full circle).

    Saturation and brightness are kept, so people keep their shape and contrast but wear other
    colours; gray pixels stay gray. A shift of 0 (mod 180) returns an unchanged copy rather
    than a lossy HSV round trip.
    """
    shift = int(shift) % 180
    if shift == 0:
        return bgr.copy()
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hue = hsv[..., 0].astype(np.int16) + shift
    hsv[..., 0] = (hue % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def to_grayscale(bgr: np.ndarray) -> np.ndarray:
    """Luma copied into all three channels: a colour-free view of the same scene."""
    return cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def random_color_variety(
    bgr: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    """Hue rotation with ``hue_probability``, then grayscale with ``grayscale_probability``."""
    if rng.random() < config.hue_probability:
        bgr = rotate_hue(bgr, int(rng.integers(0, 180)))
    if rng.random() < config.grayscale_probability:
        bgr = to_grayscale(bgr)
    return bgr


def variant_shift(variant: int, variants: int) -> int:
    """Hue shift in OpenCV units of colour variant ``variant`` out of ``variants``."""
    return round(variant * 180 / variants) % 180


def shift_identity_variants(
    ids: np.ndarray, variant: int, identity_count: int, variants: int
) -> np.ndarray:
    """Identities after rotating the hue by variant ``variant``: ``base + n * v`` becomes
    ``base + n * ((v + variant) mod K)``, so rotations compose; unknown ids (-1) stay -1."""
    ids = np.asarray(ids).reshape(-1)
    if identity_count <= 0:
        return ids.copy()
    base, current = ids % identity_count, ids // identity_count
    shifted = base + identity_count * ((current + variant) % variants)
    return np.where(ids >= 0, shifted, ids)


def random_hue_variant(
    bgr: np.ndarray, rng: np.random.Generator, probability: float, variants: int
) -> tuple[np.ndarray, int]:
    """With ``probability``, rotate the hue to one of the ``variants - 1`` non-zero colour
    variants; returns (image, variant), variant 0 meaning unchanged."""
    if rng.random() >= probability:
        return bgr, 0
    variant = int(rng.integers(1, variants))
    return rotate_hue(bgr, variant_shift(variant, variants)), variant


def random_color_identity(
    bgr: np.ndarray,
    ids: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig,
    identity_count: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Colour variety with identities that follow the colours (``color_identities`` K):
    with ``hue_probability`` one of the K - 1 non-zero variants, then grayscale with
    ``grayscale_probability`` (identities unknown)."""
    variants = config.color_identities
    bgr, variant = random_hue_variant(bgr, rng, config.hue_probability, variants)
    if variant:
        ids = shift_identity_variants(ids, variant, identity_count, variants)
    if rng.random() < config.grayscale_probability:
        bgr = to_grayscale(bgr)
        ids = np.full_like(ids, -1)
    return bgr, ids


def random_degradation(
    bgr: np.ndarray, rng: np.random.Generator, probability: float
) -> np.ndarray:
    """Each camera-like degradation with ``probability``, in the order a camera applies them.

    Ranges: gamma U(0.5, 2) or contrast x U(0.5, 1) about the mean; Gaussian blur sigma
    U(0.5, 2.5) px; down- and up-scaling by U(0.3, 0.8); Gaussian noise sigma U(2, 15) grey
    levels; JPEG quality U{15..70}. All in source-image pixels, before the letterbox. Gamma,
    blur, scaling and JPEG are the evaluation perturbations of the same names; contrast and
    noise are drawn here (float32 contrast, noise from this sample's generator) because the
    shipped model's training samples were made this way.
    """
    out = bgr
    if rng.random() < probability:
        if rng.random() < 0.5:
            out = _degrade(out, "gamma", rng.uniform(0.5, 2.0))
        else:
            mean = float(out.mean())
            factor = rng.uniform(0.5, 1.0)
            out = np.clip((out.astype(np.float32) - mean) * factor + mean + 0.5, 0, 255)
            out = out.astype(np.uint8)
    if rng.random() < probability:
        out = _degrade(out, "blur", rng.uniform(0.5, 2.5))
    if rng.random() < probability:
        out = _degrade(out, "downscale", rng.uniform(0.3, 0.8))
    if rng.random() < probability:
        noise = rng.normal(0.0, rng.uniform(2.0, 15.0), out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < probability:
        out = _degrade(out, "jpeg", int(rng.integers(15, 71)))
    return out


def _degrade(bgr: np.ndarray, kind: str, level: float) -> np.ndarray:
    """One deterministic evaluation perturbation (``fairmot_ros.evaluation.perturb``)."""
    return PERTURBATIONS[kind].apply(bgr, (float(level),), None)


def augment_hsv(bgr: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Scale saturation and value by independent factors in [1 - fraction, 1 + fraction]."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.float32)
    for channel in (1, 2):
        factor = rng.uniform(1 - fraction, 1 + fraction)
        hsv[..., channel] = np.clip(hsv[..., channel] * factor, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def letterbox_with_boxes(
    bgr: np.ndarray, boxes: np.ndarray, dst_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The inference letterbox (``fairmot_ros.preprocess``), with boxes mapped into it."""
    image, info = letterbox(bgr, dst_hw[0], dst_hw[1])
    moved = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * info.ratio
    moved[:, [0, 2]] += info.pad_left
    moved[:, [1, 3]] += info.pad_top
    return image, moved


def draw_scale(rng: np.random.Generator, config: AugmentConfig) -> float:
    """The affine's scale factor: uniform in ``config.scale`` (the original recipe), or
    log-uniform when ``scale_log_uniform``, so that a wide range such as 0.5-4 gives as many
    samples between 0.5 and 1 as between 2 and 4 instead of mostly large zooms. One draw
    either way, so the rest of the sample's random stream is unchanged."""
    low, high = config.scale
    if not config.scale_log_uniform:
        return float(rng.uniform(low, high))
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def random_affine(
    image: np.ndarray,
    boxes: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp the image and boxes; returns (image, boxes, keep) where ``keep`` marks kept boxes.

    Boxes become the axis-aligned hull of their warped corners, shrunk by the rotation factor
    ``max(|sin a|, |cos a|) ** 0.5`` as JDE does; tiny, squashed or vanished boxes are dropped.
    """
    height, width = image.shape[:2]
    angle = rng.uniform(-config.degrees, config.degrees)
    scale = draw_scale(rng, config)
    rotation = np.eye(3)
    rotation[:2] = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    translation = np.eye(3)
    # JDE scales the x shift by the image height and the y shift by the width; kept.
    translation[0, 2] = rng.uniform(-1, 1) * config.translate * height
    translation[1, 2] = rng.uniform(-1, 1) * config.translate * width
    shear = np.eye(3)
    shear[0, 1] = math.tan(math.radians(rng.uniform(-config.shear, config.shear)))
    shear[1, 0] = math.tan(math.radians(rng.uniform(-config.shear, config.shear)))
    matrix = shear @ translation @ rotation
    warped = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=PAD_VALUE
    )
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return warped, boxes, np.zeros(0, dtype=bool)
    corners = np.ones((len(boxes) * 4, 3))
    corners[:, :2] = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(-1, 2)
    projected = (corners @ matrix.T)[:, :2].reshape(len(boxes), 8)
    xs, ys = projected[:, 0::2], projected[:, 1::2]
    hull = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
    radians = math.radians(angle)
    reduction = max(abs(math.sin(radians)), abs(math.cos(radians))) ** 0.5
    cx, cy = (hull[:, 0] + hull[:, 2]) / 2, (hull[:, 1] + hull[:, 3]) / 2
    w = (hull[:, 2] - hull[:, 0]) * reduction
    h = (hull[:, 3] - hull[:, 1]) * reduction
    out = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    area0 = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    aspect = np.maximum(w / (h + 1e-16), h / (w + 1e-16))
    keep = (w > 4) & (h > 4) & (w * h / (area0 + 1e-16) > 0.1) & (aspect < 10)
    return warped, out, keep


def visible(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes that overlap the image at all; the rest have no pixels to learn from."""
    return (boxes[:, 2] > 0) & (boxes[:, 0] < width) & (boxes[:, 3] > 0) & (boxes[:, 1] < height)


def augment_sample(
    bgr: np.ndarray,
    boxes: np.ndarray,
    ids: np.ndarray,
    dst_hw: tuple[int, int],
    rng: np.random.Generator,
    config: AugmentConfig,
    identity_count: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole chain on one frame: returns (letterboxed BGR image, boxes, ids) at ``dst_hw``.

    ``identity_count`` (the real identities, n) is needed only with ``color_identities``.
    """
    ids = np.asarray(ids).reshape(-1)
    if config.enabled and config.color_variety and config.color_identities >= 2:
        bgr, ids = random_color_identity(bgr, ids, rng, config, identity_count)
    elif config.enabled and config.color_variety:
        bgr = random_color_variety(bgr, rng, config)
    if config.enabled:
        bgr = augment_hsv(bgr, rng, config.hsv_fraction)
    if config.enabled and config.degrade:
        bgr = random_degradation(bgr, rng, config.degrade_probability)
    image, boxes = letterbox_with_boxes(bgr, boxes, dst_hw)
    if config.enabled:
        image, boxes, keep = random_affine(image, boxes, rng, config)
        boxes, ids = boxes[keep], ids[keep]
    height, width = image.shape[:2]
    inside = visible(boxes, width, height)
    boxes, ids = boxes[inside], ids[inside]
    if config.enabled and rng.random() < config.flip_probability:
        image = np.ascontiguousarray(image[:, ::-1])
        boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
    return image, boxes.reshape(-1, 4), ids
