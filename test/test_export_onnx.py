"""ONNX export round trips: ONNX Runtime (CPU) against the PyTorch network on the same input.

Small inputs (160x96) keep the exports fast; the graphs are the same at any size.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from model_support import (
    TSV_FILES,
    decode_frame,
    numpy_topk,
    random_state_dict,
    read_tsv,
    reference_dense,
    write_original_checkpoint,
)

from fairmot_ros.contract import INPUT_UINT8_BGR_NHWC, ModelContract
from fairmot_ros.export import ExportError, export_onnx, main
from fairmot_ros.model import build_model
from fairmot_ros.model.checkpoint import load_checkpoint
from fairmot_ros.training.batchnorm import recalibrate_batchnorm

WIDTH, HEIGHT = 160, 96


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _images(batch: int, seed: int) -> np.ndarray:
    """Letterboxed-looking uint8 BGR frames: smooth blobs plus noise (and grey 128 padding)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for _ in range(batch):
        img = np.full((HEIGHT, WIDTH, 3), 128.0)
        for _ in range(6):
            cy, cx, r = rng.uniform(0, HEIGHT), rng.uniform(0, WIDTH), rng.uniform(5, 20)
            img += (
                rng.uniform(-120, 120, 3)
                * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)[..., None]
            )
        img += rng.normal(0, 8, img.shape)
        img[:8] = 128  # padding band
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return np.stack(frames)


def _float_input(bgr: np.ndarray) -> np.ndarray:
    """The original tensor conversion: BGR->RGB, HWC->CHW, float32 / 255."""
    return np.ascontiguousarray(bgr[..., ::-1].transpose(0, 3, 1, 2)).astype(np.float32) / 255.0


def _torch_dense(model: torch.nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        heads = model(torch.from_numpy(x))
    return reference_dense({k: v.numpy() for k, v in heads.items()})


@pytest.fixture(scope="module")
def dla_export(shared_dir, tmp_path_factory):
    """fairmot-export (main) on an original-layout dla_34 checkpoint built from the table."""
    folder = tmp_path_factory.mktemp("dla")
    rows = read_tsv(shared_dir / "data" / "fairmot" / TSV_FILES["dla_34"])
    ckpt = write_original_checkpoint(folder / "fairmot_dla34.pth", random_state_dict(rows, 5))
    out = folder / "models" / "dla.onnx"
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = [str(ckpt), "-o", str(out), "--input-size", f"{WIDTH}x{HEIGHT}"]
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    assert code == 0, stderr.getvalue()
    model, _ = load_checkpoint(ckpt)
    return out, model, stdout.getvalue()


def test_dla_cli_summary_and_metadata(dla_export):
    path, _, summary = dla_export
    assert summary.count("\n") == 1 and "dla_34" in summary and "CPUExecutionProvider" in summary
    assert "heatmap 1x1x24x40" in summary and "embedding 1x128x24x40" in summary
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    contract = ModelContract.from_metadata(props, source=str(path))
    assert contract == ModelContract(
        arch="dla_34", input_height=HEIGHT, input_width=WIDTH, reid_dim=128,
        model_name="fairmot_dla34",
    )  # fmt: skip
    assert "DeformConv" in {node.op_type for node in proto.graph.node}
    assert proto.ir_version <= 13
    session = _session(path)
    assert [o.name for o in session.get_outputs()] == list(contract.output_names)
    assert session.get_inputs()[0].name == "images"


def test_dla_heads_match_pytorch_and_batch_is_dynamic(dla_export):
    path, model, _ = dla_export
    session = _session(path)
    for batch, seed in ((2, 0), (1, 1)):
        x = _float_input(_images(batch, seed))
        names = ("heatmap", "ltrb", "offset", "embedding")
        got = dict(zip(names, session.run(None, {"images": x}), strict=True))
        want = _torch_dense(model, x)
        for name in ("ltrb", "offset", "embedding"):
            assert got[name].dtype == np.float32
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-4, err_msg=name)
        assert np.array_equal(got["heatmap"] > 0, want["heatmap"] > 0)  # same peaks
        np.testing.assert_allclose(got["heatmap"], want["heatmap"], rtol=0, atol=1e-4)


def test_dla_decoded_detections_equal(dla_export):
    path, model, _ = dla_export
    x = _float_input(_images(2, 2))
    names = ("heatmap", "ltrb", "offset", "embedding")
    got = dict(zip(names, _session(path).run(None, {"images": x}), strict=True))
    want = _torch_dense(model, x)
    total = 0
    for i in range(2):
        a, b = decode_frame(got, i, conf=0.4), decode_frame(want, i, conf=0.4)
        assert len(a["det_scores"]) == len(b["det_scores"])
        total += len(b["det_scores"])
        for name in ("det_scores", "det_boxes", "det_embeddings"):
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-4, err_msg=name)
    assert total >= 5  # the comparison covered real detections


@pytest.fixture(scope="module")
def yolo_model(shared_dir):
    model = build_model("yolov5s").eval()
    rows = read_tsv(shared_dir / "data" / "fairmot" / TSV_FILES["yolov5s"])
    model.load_state_dict(random_state_dict(rows, 7))  # O(1) outputs, ~50 peaks > 0.4
    return model


def test_uint8_input_with_in_graph_topk_equals_float_path(yolo_model, tmp_path):
    k = 40
    contract = ModelContract(
        arch="yolov5s", input_height=HEIGHT, input_width=WIDTH, reid_dim=64,
        input_format=INPUT_UINT8_BGR_NHWC, topk=k, batch=2,
    )  # fmt: skip
    path = export_onnx(yolo_model, tmp_path / "y.onnx", contract)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # readable like any new file
    session = _session(path)
    spec = session.get_inputs()[0]
    assert spec.type == "tensor(uint8)" and spec.shape == [2, HEIGHT, WIDTH, 3]
    bgr = _images(2, 3)
    got = dict(zip(contract.output_names, session.run(None, {"images": bgr}), strict=True))
    want = numpy_topk(_torch_dense(yolo_model, _float_input(bgr)), k)
    assert got["det_boxes"].shape == (2, k, 4) and got["det_embeddings"].shape == (2, k, 64)
    for name in contract.output_names:
        assert got[name].dtype == np.float32
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-4, err_msg=name)
    assert np.all(np.diff(got["det_scores"], axis=1) <= 0)  # descending


def test_fp16_export_within_documented_tolerance(yolo_model, tmp_path):
    contract = ModelContract(
        arch="yolov5s", input_height=HEIGHT, input_width=WIDTH, reid_dim=64, precision="fp16"
    )
    path = export_onnx(yolo_model, tmp_path / "y16.onnx", contract)
    proto = onnx.load(str(path))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    x = _float_input(_images(2, 4))
    got = dict(zip(contract.output_names, _session(path).run(None, {"images": x}), strict=True))
    want = _torch_dense(yolo_model, x)
    # FP16 tolerance documented in doc/export-training.md: each map within 2% of its range of
    # the FP32 PyTorch values (measured here: 0.5-1%), >= 99% of cells agree on being a peak,
    # and every confident peak survives.
    for name in ("ltrb", "offset", "embedding"):
        assert got[name].dtype == np.float32
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=0.02 * scale, err_msg=name)
    both = (got["heatmap"] > 0) & (want["heatmap"] > 0)
    assert np.abs(got["heatmap"][both] - want["heatmap"][both]).max() < 0.02
    assert np.mean((got["heatmap"] > 0) == (want["heatmap"] > 0)) >= 0.99
    confident = want["heatmap"] > 0.5
    assert confident.sum() >= 10 and np.all(got["heatmap"][confident] > 0)


def test_export_rejects_a_contract_that_does_not_fit(yolo_model, tmp_path):
    wrong_arch = ModelContract(arch="dla_34", input_height=96, input_width=160, reid_dim=64)
    with pytest.raises(ExportError, match="arch"):
        export_onnx(yolo_model, tmp_path / "a.onnx", wrong_arch)
    too_many = ModelContract(arch="yolov5s", input_height=64, input_width=64, reid_dim=64, topk=300)
    with pytest.raises(ExportError, match="exceeds the 256 cells"):
        export_onnx(yolo_model, tmp_path / "b.onnx", too_many)
    fits = ModelContract(arch="yolov5s", input_height=64, input_width=64, reid_dim=64)
    with pytest.raises(ExportError, match="opset"):
        export_onnx(yolo_model, tmp_path / "c.onnx", fits, opset=17)
    assert list(tmp_path.iterdir()) == []


def test_hrnet_checkpoint_exports_without_deformconv_and_matches_pytorch(shared_dir, tmp_path):
    rows = read_tsv(shared_dir / "data" / "fairmot" / TSV_FILES["hrnet_18"])
    # Random weights with BatchNorm statistics measured on images, as in a trained network:
    # HRNet's many residual and fusion sums make uncalibrated random statistics overflow.
    net = build_model("hrnet_18")
    net.load_state_dict(random_state_dict(rows, 9))
    images = [{"input": torch.from_numpy(_float_input(_images(2, s)))} for s in (20, 21)]
    recalibrate_batchnorm(net, images, len(images))
    with torch.no_grad():  # heatmap logits of a few units: unsaturated, distinct peaks
        net.hm[2].weight.mul_(0.25)
    ckpt = write_original_checkpoint(tmp_path / "hrnet.pth", net.state_dict())
    out = tmp_path / "hrnet.onnx"
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        code = main([str(ckpt), "-o", str(out), "--input-size", f"{WIDTH}x{HEIGHT}"])
    assert code == 0, stderr.getvalue()  # arch detected from the checkpoint's tensors
    proto = onnx.load(str(out))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["fairmot.arch"] == "hrnet_18" and props["fairmot.reid_dim"] == "128"
    ops = {node.op_type for node in proto.graph.node}
    assert "DeformConv" not in ops and "Resize" in ops  # nearest fusion, bilinear concat
    model, _ = load_checkpoint(ckpt)
    x = _float_input(_images(2, 6))
    names = ("heatmap", "ltrb", "offset", "embedding")
    got = dict(zip(names, _session(out).run(None, {"images": x}), strict=True))
    want = _torch_dense(model, x)
    np.testing.assert_allclose(got["heatmap"], want["heatmap"], rtol=0, atol=1e-4)
    assert np.array_equal(got["heatmap"] > 0, want["heatmap"] > 0)
    # Through 1,846 tensors with features up to ~90, FP32 rounding alone moves the box maps by
    # ~1e-4 (PyTorch's FP32 result against the same network in float64 as much as ONNX
    # Runtime's), so the exact network in float64 is the reference: ONNX Runtime must be as
    # close to it as PyTorch's own FP32 forward is.
    with torch.no_grad():
        heads = copy.deepcopy(model).double()(torch.from_numpy(x).double())
    exact = reference_dense({k: v.numpy() for k, v in heads.items()})
    for name in names[1:]:
        ort_error = np.abs(got[name] - exact[name]).max()
        torch_error = np.abs(want[name] - exact[name]).max()
        assert ort_error <= 1.5 * torch_error + 1e-6, (name, ort_error, torch_error)
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=5e-4, err_msg=name)
    detections = [decode_frame(want, i, conf=0.4)["det_scores"].size for i in range(2)]
    assert sum(detections) >= 5  # the comparison covered real peaks
