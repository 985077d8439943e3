"""Model outputs to detections in image pixels (spec section 4), vectorised numpy.

Dense outputs (contract ``topk == 0``) carry the sigmoid heatmap already reduced to its 3x3
local maxima, ltrb distances, sub-cell offsets and unit embeddings at stride 4. Decoding takes
the top-K peaks, builds boxes in grid units (cx = x + dx, x1 = cx - l, ...), maps them back
to the original image with the inverse affine transform of the original code and keeps scores
strictly above ``conf_thres``. Top-K outputs already hold the peaks and grid boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fairmot_ros.contract import (
    DENSE_OUTPUTS,
    OUT_EMBEDDING,
    OUT_HEATMAP,
    OUT_LTRB,
    OUT_OFFSET,
    TOPK_OUTPUTS,
    ModelContract,
)
from fairmot_ros.peak_heads import OUT_FEATURES, PeakHeads

DEFAULT_TOPK = 500


@dataclass(frozen=True)
class Detections:
    """One frame's detections, sorted by descending score.

    boxes (N, 4) float32 x1, y1, x2, y2 in original image pixels (not clipped);
    scores (N,) float32; embeddings (N, D) float32 unit norm.
    """

    boxes: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, dim: int) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, dim), np.float32)
        )


def affine_params(
    image_height: int, image_width: int, input_height: int, input_width: int, down_ratio: int = 4
) -> tuple[float, float, float]:
    """(k, bx, by) with X = k * x + bx and Y = k * y + by from grid to image pixels.

    Original: c = (W0/2, H0/2), s = max(W_in / H_in * H0, W0), k = s / W_out and
    X = c_x + (x - W_out / 2) * k. For 1920x1080 into 1088x608: k = 7.105263, bx = -6.3158.
    """
    out_w = input_width // down_ratio
    out_h = input_height // down_ratio
    s = max(float(input_width) / float(input_height) * image_height, image_width) * 1.0
    k = s / out_w
    return k, image_width / 2.0 - k * out_w / 2.0, image_height / 2.0 - k * out_h / 2.0


def grid_to_image(
    boxes: np.ndarray,
    image_height: int,
    image_width: int,
    input_height: int,
    input_width: int,
    down_ratio: int = 4,
) -> np.ndarray:
    """Map (N, 4) grid-unit x1y1x2y2 boxes to image pixels; returns float32."""
    k, bx, by = affine_params(image_height, image_width, input_height, input_width, down_ratio)
    out = np.asarray(boxes, dtype=np.float64) * k
    out[:, 0::2] += bx
    out[:, 1::2] += by
    return out.astype(np.float32)


def suppress_peaks(heatmap: np.ndarray) -> np.ndarray:
    """3x3 max-pool peak suppression over the last two axes (ties on plateaus all survive)."""
    hm = np.asarray(heatmap)
    padded = np.pad(hm, [(0, 0)] * (hm.ndim - 2) + [(1, 1), (1, 1)], constant_values=-np.inf)
    h, w = hm.shape[-2:]
    hmax = hm.copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(hmax, padded[..., dy : dy + h, dx : dx + w], out=hmax)
    return np.where(hmax == hm, hm, 0).astype(hm.dtype)


def top_peaks(scores: np.ndarray, conf_thres: float, topk: int) -> np.ndarray:
    """Flat indices of the ``topk`` highest scores above ``conf_thres``, best first.

    Equal scores are ordered by ascending index (also at the K-th place), so the result does
    not depend on the partition algorithm. Same set as "top-K, then threshold".
    """
    flat = np.asarray(scores).reshape(-1)
    candidates = np.flatnonzero(flat > conf_thres)
    if topk <= 0:
        return candidates[:0]
    if len(candidates) > topk:
        values = flat[candidates]
        kth = np.partition(values, len(values) - topk)[len(values) - topk]
        above = candidates[values > kth]
        ties = candidates[values == kth][: topk - len(above)]
        candidates = np.concatenate([above, ties])
    order = np.lexsort((candidates, -flat[candidates]))
    return candidates[order]


def decode_dense(
    heatmap: np.ndarray,
    ltrb: np.ndarray,
    offset: np.ndarray,
    embedding: np.ndarray,
    image_size: tuple[int, int],
    input_size: tuple[int, int],
    conf_thres: float = 0.4,
    topk: int = DEFAULT_TOPK,
    down_ratio: int = 4,
) -> Detections:
    """Decode one frame's dense maps: heatmap (1, h, w) or (h, w), ltrb (4, h, w), offset
    (2, h, w) with channel 0 = x, embedding (D, h, w). ``image_size`` and ``input_size`` are
    (height, width) of the original frame and of the network input."""
    hm, ys, xs = _peak_cells(heatmap, conf_thres, topk)
    emb = np.ascontiguousarray(np.asarray(embedding)[:, ys, xs].T, dtype=np.float32)
    return _at_peaks(
        hm, ys, xs, np.asarray(ltrb)[:, ys, xs], np.asarray(offset)[:, ys, xs], emb,
        image_size, input_size, down_ratio,
    )  # fmt: skip


def decode_at_peaks(
    heatmap: np.ndarray,
    features: np.ndarray,
    heads: PeakHeads,
    image_size: tuple[int, int],
    input_size: tuple[int, int],
    conf_thres: float = 0.4,
    topk: int = DEFAULT_TOPK,
    down_ratio: int = 4,
) -> Detections:
    """:func:`decode_dense` for a model split by :mod:`fairmot_ros.peak_heads`: the same peaks,
    with ltrb, offset and the embedding (normalised like ``F.normalize``, eps 1e-12) computed
    from the (C, h, w) head features at those peaks only."""
    hm, ys, xs = _peak_cells(heatmap, conf_thres, topk)
    ltrb, offset, raw = heads.evaluate(features, ys, xs)
    norm = np.maximum(np.linalg.norm(raw, axis=0), np.float32(1e-12))
    emb = np.ascontiguousarray((raw / norm).T, dtype=np.float32)
    return _at_peaks(hm, ys, xs, ltrb, offset, emb, image_size, input_size, down_ratio)


def _peak_cells(
    heatmap: np.ndarray, conf_thres: float, topk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the (h, w) heatmap, rows, columns) of the kept peaks, best first."""
    hm = np.asarray(heatmap).reshape(np.shape(heatmap)[-2:])
    ys, xs = np.divmod(top_peaks(hm, conf_thres, topk), hm.shape[1])
    return hm, ys, xs


def _at_peaks(
    hm: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    ltrb: np.ndarray,
    offset: np.ndarray,
    embeddings: np.ndarray,
    image_size: tuple[int, int],
    input_size: tuple[int, int],
    down_ratio: int,
) -> Detections:
    """Detections from the heads read at peaks (ys, xs): ltrb (4, N), offset (2, N)."""
    left, top, right, bottom = ltrb
    cx = xs.astype(np.float32) + offset[0]
    cy = ys.astype(np.float32) + offset[1]
    grid = np.stack([cx - left, cy - top, cx + right, cy + bottom], axis=1)
    boxes = grid_to_image(grid, *image_size, *input_size, down_ratio)
    return Detections(boxes, hm[ys, xs].astype(np.float32), embeddings)


def decode_topk(
    scores: np.ndarray,
    boxes: np.ndarray,
    embeddings: np.ndarray,
    image_size: tuple[int, int],
    input_size: tuple[int, int],
    conf_thres: float = 0.4,
    topk: int = DEFAULT_TOPK,
    down_ratio: int = 4,
) -> Detections:
    """Decode one frame's in-graph top-K outputs: scores (K,), grid boxes (K, 4), (K, D)."""
    idx = top_peaks(scores, conf_thres, topk)
    image_boxes = grid_to_image(np.asarray(boxes)[idx], *image_size, *input_size, down_ratio)
    emb = np.ascontiguousarray(np.asarray(embeddings)[idx], dtype=np.float32)
    return Detections(image_boxes, np.asarray(scores)[idx].astype(np.float32), emb)


def decode_outputs(
    outputs: Mapping[str, np.ndarray],
    contract: ModelContract,
    image_sizes: Sequence[tuple[int, int]],
    conf_thres: float = 0.4,
    topk: int = DEFAULT_TOPK,
    heads: PeakHeads | None = None,
) -> list[Detections]:
    """Decode a batch of model outputs, one (height, width) original size per batch item.

    ``heads``: the engine's :class:`~fairmot_ros.peak_heads.PeakHeads` when it runs a split
    model (outputs ``heatmap`` and ``head_features``)."""
    input_size = (contract.input_height, contract.input_width)
    if heads is not None:
        decode, names = decode_at_peaks, (OUT_HEATMAP, OUT_FEATURES)
    elif contract.topk:
        decode, names = decode_topk, TOPK_OUTPUTS
    else:
        decode, names = decode_dense, DENSE_OUTPUTS
    extra = (heads,) if heads is not None else ()
    return [
        decode(
            *(outputs[name][i] for name in names), *extra,
            image_size, input_size, conf_thres, topk, contract.down_ratio,
        )  # fmt: skip
        for i, image_size in enumerate(image_sizes)
    ]


def dense_from_raw_heads(
    hm: np.ndarray, wh: np.ndarray, reg: np.ndarray, id_map: np.ndarray
) -> dict[str, np.ndarray]:
    """The dense contract outputs from the raw heads {'hm','wh','reg','id'} (B, C, h, w):
    sigmoid + 3x3 peak suppression on hm, L2 normalisation of id over channels (eps 1e-12).
    For checking a network or an exported graph against the original decoding."""
    heat = 1.0 / (1.0 + np.exp(-np.asarray(hm, dtype=np.float32)))
    ids = np.asarray(id_map, dtype=np.float32)
    norm = np.maximum(np.linalg.norm(ids, axis=1, keepdims=True), 1e-12)
    return {
        OUT_HEATMAP: suppress_peaks(heat),
        OUT_LTRB: np.asarray(wh, dtype=np.float32),
        OUT_OFFSET: np.asarray(reg, dtype=np.float32),
        OUT_EMBEDDING: ids / norm,
    }
