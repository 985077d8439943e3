"""Detector through a really exported network (yolov5s, random weights, 96x160 input).

The expected detections come from the PyTorch network on the same letterboxed frames, decoded
by the export tests' own spec decoder (``model_support``) and mapped to pixels with the spec's
affine formula written out here, so the engine, the in-graph post-processing and this
package's decoder are checked against independent code.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# The export tests' independent spec decoder (test/model_support.py).
model_support = pytest.importorskip("model_support")
decode_frame = model_support.decode_frame
reference_dense = model_support.reference_dense

from fairmot_ros.contract import INPUT_UINT8_BGR_NHWC, ModelContract  # noqa: E402
from fairmot_ros.detector import Detector  # noqa: E402
from fairmot_ros.export import export_onnx  # noqa: E402
from fairmot_ros.model import build_model  # noqa: E402
from fairmot_ros.preprocess import letterbox  # noqa: E402

IN_H, IN_W = 96, 160
CONF = 0.3


def scene(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), 100.0)
    for _ in range(8):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(h / 20, h / 6)
        img += (
            rng.uniform(-100, 150, 3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)[..., None]
        )
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def spec_affine(boxes, h0, w0):
    out_w, out_h = IN_W // 4, IN_H // 4
    s = max(IN_W / IN_H * h0, w0)
    k = s / out_w
    mapped = np.array(boxes, dtype=np.float64)
    mapped[:, 0::2] = w0 / 2 + (mapped[:, 0::2] - out_w / 2) * k
    mapped[:, 1::2] = h0 / 2 + (mapped[:, 1::2] - out_h / 2) * k
    return mapped


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("yolov5s").eval()
    # Fresh weights give an almost flat heatmap (every cell near the 0.1 prior), where float
    # noise decides which near-equal neighbours survive peak suppression. Spread the logits so
    # that peaks are distinct, as in a trained network.
    with torch.no_grad():
        model.hm[-1].weight.mul_(200.0)
    contract = ModelContract(
        arch="yolov5s", input_height=IN_H, input_width=IN_W, reid_dim=model.reid_dim,
        input_format=INPUT_UINT8_BGR_NHWC,
    )  # fmt: skip
    path = export_onnx(model, tmp_path_factory.mktemp("exported") / "yolo.onnx", contract)
    return model, path


def clear_peaks_only(dense, raw_heat, margin=1e-5):
    """Zero the peaks that are not above all 8 neighbours by ``margin``: on plateaus (flat
    image areas, grey padding) float noise decides which equal cells survive suppression."""
    padded = np.pad(raw_heat, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    h, w = raw_heat.shape[-2:]
    neighbours = np.max(
        [padded[..., dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)
         if (dy, dx) != (1, 1)],
        axis=0,
    )  # fmt: skip
    clear = dict(dense)
    clear["heatmap"] = np.where(raw_heat > neighbours + margin, dense["heatmap"], 0)
    return clear


def test_detector_matches_the_pytorch_network(exported):
    model, path = exported
    detector = Detector(path, conf_thres=CONF, providers=("cpu",))
    assert detector.contract.reid_dim == model.reid_dim
    frames = [scene(240, 400, 1), scene(300, 200, 2)]  # vertical and horizontal padding
    results = detector.detect_batch(frames)
    for image, got in zip(frames, results, strict=True):
        padded, _ = letterbox(image, IN_H, IN_W)
        x = np.ascontiguousarray(padded[None, ..., ::-1].transpose(0, 3, 1, 2)) / 255.0
        with torch.no_grad():
            heads = model(torch.from_numpy(x.astype(np.float32)))
        heads = {k: v.numpy() for k, v in heads.items()}
        dense = clear_peaks_only(reference_dense(heads), 1 / (1 + np.exp(-heads["hm"])))
        want = decode_frame(dense, 0, CONF + 1e-4)
        assert len(want["det_scores"]) >= 5
        assert len(got) >= len(want["det_scores"])
        want_boxes = spec_affine(want["det_boxes"], *image.shape[:2])
        for score, box, emb in zip(
            want["det_scores"], want_boxes, want["det_embeddings"], strict=True
        ):
            i = int(np.argmin(np.abs(got.boxes - box).sum(axis=1)))
            np.testing.assert_allclose(got.boxes[i], box, atol=0.05)
            assert got.scores[i] == pytest.approx(score, abs=1e-5)
            np.testing.assert_allclose(got.embeddings[i], emb, atol=1e-3)
        assert np.all(np.diff(got.scores) <= 0)
        np.testing.assert_allclose(np.linalg.norm(got.embeddings, axis=1), 1.0, atol=1e-5)
