"""Association costs and the assignment solver of the original tracker (spec section 5.3).

Two details decide which pairs FairMOT matches and are easy to get wrong:

* the assignment is ``lap.lapjv(cost, extend_cost=True, cost_limit=thresh)``: every row and
  column may stay unmatched at a price of thresh / 2, and the extended problem is solved
  exactly. That is *not* "Hungarian, then drop pairs above thresh";
* IoU uses the "+1 pixel" convention of cython_bbox: area = (x2 - x1 + 1) * (y2 - y1 + 1).
"""

from __future__ import annotations

import numpy as np

try:  # lap is the original solver; scipy gives the same optimum on the extended matrix.
    import lap as _lap
except ImportError:  # pragma: no cover - exercised only where lap is missing
    _lap = None


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the assignment with lapjv cost-limit semantics.

    Returns (matches (K, 2) int rows/cols in row order, unmatched rows, unmatched cols), the
    unmatched indices ascending. Entries may be +inf (gated pairs are never matched).
    """
    cost = np.asarray(cost, dtype=np.float64)
    rows, cols = cost.shape
    if cost.size == 0:
        return np.empty((0, 2), dtype=int), np.arange(rows), np.arange(cols)
    if _lap is not None:
        _, x, y = _lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
        x = np.asarray(x)
        y = np.asarray(y)
    else:
        x, y = _extended_assignment_scipy(cost, thresh)
    matched_rows = np.flatnonzero(x >= 0)
    matches = np.stack([matched_rows, x[matched_rows]], axis=1).astype(int)
    return matches, np.flatnonzero(x < 0), np.flatnonzero(y < 0)


def _extended_assignment_scipy(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """The (R+C) x (R+C) extension lapjv builds, solved with scipy (fallback without lap)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = cost.shape
    size = rows + cols
    extended = np.full((size, size), thresh / 2.0)
    extended[rows:, cols:] = 0.0
    # scipy rejects inf: any value above every all-dummy total keeps a gated pair unmatched.
    finite = np.isfinite(cost)
    big = thresh * size + 1.0 + np.abs(cost[finite]).sum()
    extended[:rows, :cols] = np.where(finite, cost, big)
    r, c = linear_sum_assignment(extended)
    x = np.full(rows, -1)
    y = np.full(cols, -1)
    for i, j in zip(r, c, strict=True):
        if i < rows and j < cols and np.isfinite(cost[i, j]):
            x[i] = j
            y[j] = i
    return x, y


def iou_plus_one(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of x1y1x2y2 boxes with cython_bbox's +1-pixel areas, float64 (N, M)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    overlap = (iw > 0) & (ih > 0)
    return np.divide(inter, union, out=np.zeros_like(inter), where=overlap)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plain IoU between x1, y1, x2, y2 boxes (no +1 pixel convention): the overlap the
    MOTChallenge metrics and the detection checks use, not the tracker's."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def iou_distance(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """1 - IoU (+1-pixel convention)."""
    return 1.0 - iou_plus_one(boxes_a, boxes_b)


def embedding_distance(track_features: np.ndarray, det_features: np.ndarray) -> np.ndarray:
    """Cosine distance (1 - cos), clipped below at 0, float64 (N tracks, M detections)."""
    a = np.asarray(track_features, dtype=np.float64)
    b = np.asarray(det_features, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    norms = row_norms(a)[:, None] * row_norms(b)[None, :]
    cost = a @ b.T
    cost /= norms
    np.subtract(1.0, cost, out=cost)
    return np.maximum(cost, 0.0, out=cost)


def row_norms(x: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Euclidean norms over the last axis; the very sums ``np.linalg.norm`` computes for real
    arrays, without its per-call overhead (the tracker normalises several stacks a frame)."""
    return np.sqrt(np.add.reduce(x * x, axis=-1, keepdims=keepdims))


def fuse_motion(
    cost: np.ndarray,
    gating_distance: np.ndarray,
    gating_threshold: float,
    lambda_: float = 0.98,
) -> np.ndarray:
    """Gate with the squared Mahalanobis distance, then mix it into the appearance cost.

    cost <- lambda * cost + (1 - lambda) * d^2, and +inf where d^2 > gating_threshold.
    """
    if cost.size == 0:
        return cost.copy()
    # In place, the same operations in the same order as lambda * cost + (1 - lambda) * d^2.
    fused = np.multiply(cost, lambda_)
    fused += (1 - lambda_) * gating_distance
    fused[gating_distance > gating_threshold] = np.inf
    return fused
