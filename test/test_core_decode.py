"""Decoding dense and top-K outputs with hand-computed boxes (spec section 4)."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.contract import ModelContract
from fairmot_ros.decode import (
    affine_params,
    decode_dense,
    decode_outputs,
    decode_topk,
    dense_from_raw_heads,
    suppress_peaks,
    top_peaks,
)

H, W, D = 152, 272, 8  # 608 x 1088 input at stride 4


def dense_maps(peaks):
    """peaks: list of (x, y, score, (dx, dy), (l, t, r, b), embedding index)."""
    hm = np.zeros((1, H, W), np.float32)
    ltrb = np.zeros((4, H, W), np.float32)
    off = np.zeros((2, H, W), np.float32)
    emb = np.zeros((D, H, W), np.float32)
    for x, y, score, (dx, dy), sides, e in peaks:
        hm[0, y, x] = score
        off[:, y, x] = dx, dy
        ltrb[:, y, x] = sides
        emb[e, y, x] = 1.0
    return hm, ltrb, off, emb


def test_affine_matches_the_spec_example():
    k, bx, by = affine_params(1080, 1920, 608, 1088)
    assert k == pytest.approx(7.105263, abs=1e-6)
    assert bx == pytest.approx(-6.3158, abs=1e-4)
    assert by == pytest.approx(0.0, abs=1e-9)


def test_dense_decoding_gives_hand_computed_boxes():
    peaks = [
        (100, 50, 0.9, (0.25, 0.5), (10, 20, 12, 22), 3),
        (200, 120, 0.6, (0.0, 0.75), (4, 8, 4, 8), 5),
        (10, 10, 0.4, (0.0, 0.0), (1, 1, 1, 1), 0),  # exactly conf_thres: dropped (strict)
    ]
    dets = decode_dense(*dense_maps(peaks), (1080, 1920), (608, 1088), conf_thres=0.4)
    assert dets.scores.tolist() == pytest.approx([0.9, 0.6])
    # Grid boxes: (100.25 - 10, 50.5 - 20, 100.25 + 12, 50.5 + 22) and (196, 112.75, 204, 128.75)
    grid = np.array([[90.25, 30.5, 112.25, 72.5], [196.0, 112.75, 204.0, 128.75]])
    expected = grid * 7.105263
    expected[:, 0::2] -= 6.3158
    np.testing.assert_allclose(dets.boxes, expected, atol=2e-3)
    assert dets.boxes.dtype == np.float32
    assert dets.embeddings.shape == (2, D)
    assert dets.embeddings.argmax(axis=1).tolist() == [3, 5]


def test_topk_limits_and_orders_with_deterministic_ties():
    peaks = [
        (x, 5, s, (0, 0), (1, 1, 1, 1), 0) for x, s in [(40, 0.7), (10, 0.8), (20, 0.7), (30, 0.9)]
    ]
    hm = dense_maps(peaks)[0]
    assert top_peaks(hm, 0.4, 10).tolist() == [5 * W + 30, 5 * W + 10, 5 * W + 20, 5 * W + 40]
    # K = 3: the tie at the K-th place goes to the lower index.
    assert top_peaks(hm, 0.4, 3).tolist() == [5 * W + 30, 5 * W + 10, 5 * W + 20]
    dets = decode_dense(*dense_maps(peaks), (608, 1088), (608, 1088), 0.4, topk=2)
    assert dets.scores.tolist() == pytest.approx([0.9, 0.8])
    # Same input size as the network: k = 4, no offset.
    np.testing.assert_allclose(dets.boxes[0], [4 * 29, 4 * 4, 4 * 31, 4 * 6])


def test_no_peak_above_threshold_gives_empty_arrays():
    dets = decode_dense(*dense_maps([]), (1080, 1920), (608, 1088))
    assert len(dets) == 0 and dets.boxes.shape == (0, 4) and dets.embeddings.shape == (0, D)


def test_topk_outputs_are_thresholded_and_mapped():
    scores = np.array([0.95, 0.5, 0.3, 0.0], np.float32)
    boxes = np.array([[10, 20, 30, 60], [0, 0, 4, 8], [1, 1, 2, 2], [0, 0, 0, 0]], np.float32)
    emb = np.eye(4, D, dtype=np.float32)
    dets = decode_topk(scores, boxes, emb, (608, 1088), (608, 1088), conf_thres=0.4)
    np.testing.assert_allclose(dets.boxes, 4 * boxes[:2])
    np.testing.assert_array_equal(dets.embeddings, emb[:2])


def test_decode_outputs_maps_each_batch_item_with_its_own_size():
    contract = ModelContract(arch="x", input_height=608, input_width=1088, reid_dim=D)
    hm, ltrb, off, emb = dense_maps([(100, 50, 0.9, (0, 0), (2, 2, 2, 2), 1)])
    outputs = {
        "heatmap": np.stack([hm, hm]),
        "ltrb": np.stack([ltrb, ltrb]),
        "offset": np.stack([off, off]),
        "embedding": np.stack([emb, emb]),
    }
    big, small = decode_outputs(outputs, contract, [(1080, 1920), (608, 1088)])
    np.testing.assert_allclose(small.boxes[0], [392, 192, 408, 208])
    k, bx, by = affine_params(1080, 1920, 608, 1088)
    np.testing.assert_allclose(
        big.boxes[0], [98 * k + bx, 48 * k + by, 102 * k + bx, 52 * k + by], rtol=1e-6
    )


def test_peak_suppression_and_raw_heads():
    hm = np.zeros((1, 1, 5, 5), np.float32)
    hm[0, 0, 1, 1] = 0.9
    hm[0, 0, 1, 2] = 0.5  # neighbour of a higher peak: suppressed
    hm[0, 0, 3, 3] = hm[0, 0, 3, 4] = 0.7  # plateau: both survive
    out = suppress_peaks(hm)
    assert sorted(zip(*np.nonzero(out[0, 0]), strict=True)) == [(1, 1), (3, 3), (3, 4)]
    logits = np.log(hm / (1 - hm + 1e-12) + 1e-12)
    ids = np.random.default_rng(0).normal(size=(1, D, 5, 5)).astype(np.float32)
    dense = dense_from_raw_heads(logits, np.ones((1, 4, 5, 5)), np.zeros((1, 2, 5, 5)), ids)
    np.testing.assert_allclose(np.linalg.norm(dense["embedding"], axis=1), 1.0, rtol=1e-6)
    assert dense["heatmap"][0, 0, 1, 1] == pytest.approx(0.9, rel=1e-5)
    assert dense["heatmap"][0, 0, 1, 2] == 0.0
