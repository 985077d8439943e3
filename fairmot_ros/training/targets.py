"""Training targets in output-grid units, exactly as the original JointDataset builds them.

Per object (spec section 6): a CenterNet Gaussian drawn at the integer centre with the
CenterNet radius rule (min_overlap 0.7, ``radius = max(0, int(r))``, ``sigma = (2r + 1) / 6``),
the sub-cell offset ``centre - int(centre)``, the ltrb distances from the clipped centre to the
*unclipped* box sides (so boxes running out of the image still teach their full extent) and the
identity label, ``-1`` when unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_OBJECTS = 500
MIN_OVERLAP = 0.7


def gaussian_radius(height: float, width: float, min_overlap: float = MIN_OVERLAP) -> float:
    """CenterNet's radius rule: the smallest of three quadratic solutions.

    The released code divides by 2 instead of ``2a`` in every branch; that arithmetic is kept
    because the trained models (and their heatmap widths) depend on it.
    """
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_kernel(radius: int) -> np.ndarray:
    """A (2r+1)^2 Gaussian with sigma = (2r+1)/6, peak 1, negligible tails set to zero."""
    sigma = (2 * radius + 1) / 6
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    kernel = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return kernel


def draw_gaussian(heatmap: np.ndarray, center: tuple[int, int], radius: int) -> None:
    """Paste the kernel at integer ``center`` (x, y) by element-wise max, clipped to the map."""
    kernel = gaussian_kernel(radius)
    x, y = center
    height, width = heatmap.shape
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = kernel[radius - top : radius + bottom, radius - left : radius + right]
    np.maximum(region, patch, out=region)


@dataclass
class Targets:
    """One image's targets; arrays are padded to ``max_objects`` rows and masked by ``reg_mask``."""

    hm: np.ndarray  # (1, H, W) float32
    wh: np.ndarray  # (K, 4) float32 ltrb, grid units
    reg: np.ndarray  # (K, 2) float32 sub-cell offset (x, y)
    ind: np.ndarray  # (K,) int64 flat index y * W + x
    reg_mask: np.ndarray  # (K,) uint8, 1 for real objects
    ids: np.ndarray  # (K,) int64 identity, -1 unknown / padding

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            "hm": self.hm,
            "wh": self.wh,
            "reg": self.reg,
            "ind": self.ind,
            "reg_mask": self.reg_mask,
            "ids": self.ids,
        }


def build_targets(
    boxes: np.ndarray,
    ids: np.ndarray,
    output_size: tuple[int, int],
    down_ratio: int = 4,
    max_objects: int = MAX_OBJECTS,
) -> Targets:
    """Targets for ``boxes`` (N, 4) x1, y1, x2, y2 in *input* pixels and ``ids`` (N,).

    ``output_size`` is (width, height) of the stride-``down_ratio`` grid. Boxes with no area are
    skipped; beyond ``max_objects`` the rest are dropped, as in the original.
    """
    out_w, out_h = output_size
    hm = np.zeros((1, out_h, out_w), dtype=np.float32)
    wh = np.zeros((max_objects, 4), dtype=np.float32)
    reg = np.zeros((max_objects, 2), dtype=np.float32)
    ind = np.zeros((max_objects,), dtype=np.int64)
    reg_mask = np.zeros((max_objects,), dtype=np.uint8)
    id_targets = np.full((max_objects,), -1, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / down_ratio
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(ids)} ids")
    k = 0
    for box, identity in zip(boxes, ids, strict=True):
        if k >= max_objects:
            break
        x1, y1, x2, y2 = box
        w, h = x2 - x1, y2 - y1
        if w <= 0 or h <= 0:
            continue
        cx = min(max((x1 + x2) / 2, 0.0), out_w - 1)
        cy = min(max((y1 + y2) / 2, 0.0), out_h - 1)
        radius = max(0, int(gaussian_radius(math.ceil(h), math.ceil(w))))
        center = np.array([cx, cy], dtype=np.float32)
        center_int = center.astype(np.int32)
        draw_gaussian(hm[0], (int(center_int[0]), int(center_int[1])), radius)
        wh[k] = (center[0] - x1, center[1] - y1, x2 - center[0], y2 - center[1])
        ind[k] = int(center_int[1]) * out_w + int(center_int[0])
        reg[k] = center - center_int
        reg_mask[k] = 1
        id_targets[k] = identity
        k += 1
    return Targets(hm, wh, reg, ind, reg_mask, id_targets)
