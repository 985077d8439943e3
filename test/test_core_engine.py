"""Engine and Detector on tiny hand-built ONNX graphs with known outputs.

The graphs ignore the image except for its mean brightness: a fixed peak A (score 0.9) and a
peak B whose score is the mean input value, so a bright frame yields two detections and a dark
one a single detection. That makes batch order and per-frame mapping observable.
"""

from __future__ import annotations

import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from fairmot_ros.contract import INPUT_UINT8_BGR_NHWC, ContractError, ModelContract
from fairmot_ros.decode import affine_params
from fairmot_ros.detector import Detector
from fairmot_ros.engine import (
    Engine,
    EngineError,
    GpuUnavailableError,
    choose_providers,
    gpu_fallback_reason,
)

IN_H, IN_W, D = 64, 128, 4
OUT_H, OUT_W = IN_H // 4, IN_W // 4
PEAK_A = (5, 3)  # (x, y) grid cell, score 0.9, embedding axis 0
PEAK_B = (20, 10)  # score = mean input value, embedding axis 1
LTRB_A = (1.0, 2.0, 1.5, 2.5)
LTRB_B = (0.5, 1.0, 0.5, 1.0)
OFFSET_A = (0.25, 0.5)


def dense_constants():
    hm_fixed = np.zeros((1, 1, OUT_H, OUT_W), np.float32)
    hm_fixed[0, 0, PEAK_A[1], PEAK_A[0]] = 0.9
    hm_scaled = np.zeros_like(hm_fixed)
    hm_scaled[0, 0, PEAK_B[1], PEAK_B[0]] = 1.0
    ltrb = np.zeros((1, 4, OUT_H, OUT_W), np.float32)
    ltrb[0, :, PEAK_A[1], PEAK_A[0]] = LTRB_A
    ltrb[0, :, PEAK_B[1], PEAK_B[0]] = LTRB_B
    offset = np.zeros((1, 2, OUT_H, OUT_W), np.float32)
    offset[0, :, PEAK_A[1], PEAK_A[0]] = OFFSET_A
    emb = np.zeros((1, D, OUT_H, OUT_W), np.float32)
    emb[0, 0] = 1.0
    emb[0, :, PEAK_B[1], PEAK_B[0]] = (0, 1, 0, 0)
    return hm_fixed, hm_scaled, ltrb, offset, emb


def build_model(
    path, input_format="float32_rgb_nchw", batch=0, topk=0, metadata=True, ir_version=10
):
    contract = ModelContract(
        arch="tiny", input_height=IN_H, input_width=IN_W, reid_dim=D,
        input_format=input_format, topk=topk, batch=batch,
    )  # fmt: skip
    uint8 = input_format == INPUT_UINT8_BGR_NHWC
    b = batch if batch else "B"
    in_shape = [b, IN_H, IN_W, 3] if uint8 else [b, 3, IN_H, IN_W]
    inputs = [
        helper.make_tensor_value_info(
            "images", TensorProto.UINT8 if uint8 else TensorProto.FLOAT, in_shape
        )
    ]
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))

    if uint8:
        nodes += [
            helper.make_node("Cast", ["images"], ["raw"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["raw", "inv255"], ["x"]),
        ]
        const("inv255", np.float32(1 / 255))
    else:
        nodes.append(helper.make_node("Identity", ["images"], ["x"]))
    const("axes", np.array([1, 2, 3], np.int64))
    nodes.append(helper.make_node("ReduceMean", ["x", "axes"], ["mean"], keepdims=1))  # (B,1,1,1)
    const("zero", np.float32(0))
    nodes.append(helper.make_node("Mul", ["mean", "zero"], ["zeros"]))
    hm_fixed, hm_scaled, ltrb, offset, emb = dense_constants()
    if topk:
        # Rows: peak A, peak B, then empty rows.
        scores_fixed = np.zeros((1, topk), np.float32)
        scores_fixed[0, 0] = 0.9
        scores_scaled = np.zeros((1, topk), np.float32)
        scores_scaled[0, 1] = 1.0
        boxes = np.zeros((1, topk, 4), np.float32)
        ax, ay = PEAK_A[0] + OFFSET_A[0], PEAK_A[1] + OFFSET_A[1]
        boxes[0, 0] = (ax - LTRB_A[0], ay - LTRB_A[1], ax + LTRB_A[2], ay + LTRB_A[3])
        bx, by = PEAK_B
        boxes[0, 1] = (bx - LTRB_B[0], by - LTRB_B[1], bx + LTRB_B[2], by + LTRB_B[3])
        embs = np.zeros((1, topk, D), np.float32)
        embs[0, :, 0] = 1.0
        embs[0, 1] = (0, 1, 0, 0)
        const("s_fixed", scores_fixed)
        const("s_scaled", scores_scaled)
        const("boxes_c", boxes)
        const("embs_c", embs)
        const("shape2", np.array([-1, 1], np.int64))
        const("shape3", np.array([-1, 1, 1], np.int64))
        nodes += [
            helper.make_node("Reshape", ["mean", "shape2"], ["m2"]),
            helper.make_node("Reshape", ["zeros", "shape3"], ["z3"]),
            helper.make_node("Mul", ["m2", "s_scaled"], ["sb"]),
            helper.make_node("Add", ["sb", "s_fixed"], ["det_scores"]),
            helper.make_node("Add", ["z3", "boxes_c"], ["det_boxes"]),
            helper.make_node("Add", ["z3", "embs_c"], ["det_embeddings"]),
        ]
        outs = [
            ("det_scores", [b, topk]),
            ("det_boxes", [b, topk, 4]),
            ("det_embeddings", [b, topk, D]),
        ]
    else:
        for name, value in (("hm_fixed", hm_fixed), ("hm_scaled", hm_scaled), ("ltrb_c", ltrb),
                            ("offset_c", offset), ("emb_c", emb)):  # fmt: skip
            const(name, value)
        nodes += [
            helper.make_node("Mul", ["mean", "hm_scaled"], ["hb"]),
            helper.make_node("Add", ["hb", "hm_fixed"], ["heatmap"]),
            helper.make_node("Add", ["zeros", "ltrb_c"], ["ltrb"]),
            helper.make_node("Add", ["zeros", "offset_c"], ["offset"]),
            helper.make_node("Add", ["zeros", "emb_c"], ["embedding"]),
        ]
        outs = [
            ("heatmap", [b, 1, OUT_H, OUT_W]),
            ("ltrb", [b, 4, OUT_H, OUT_W]),
            ("offset", [b, 2, OUT_H, OUT_W]),
            ("embedding", [b, D, OUT_H, OUT_W]),
        ]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outs]
    graph = helper.make_graph(nodes, "tiny_fairmot", inputs, outputs, inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=ir_version
    )
    if metadata:
        helper.set_model_props(model, contract.to_metadata())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def expected_boxes(image_h, image_w):
    k, bx, by = affine_params(image_h, image_w, IN_H, IN_W)
    ax, ay = PEAK_A[0] + OFFSET_A[0], PEAK_A[1] + OFFSET_A[1]
    grid_a = [ax - LTRB_A[0], ay - LTRB_A[1], ax + LTRB_A[2], ay + LTRB_A[3]]
    px, py = PEAK_B
    grid_b = [px - LTRB_B[0], py - LTRB_B[1], px + LTRB_B[2], py + LTRB_B[3]]
    out = np.array([grid_a, grid_b]) * k
    out[:, 0::2] += bx
    out[:, 1::2] += by
    return out


def frame(h, w, value):
    return np.full((h, w, 3), value, np.uint8)


@pytest.fixture
def dense_model(tmp_path):
    return build_model(tmp_path / "dense.onnx")


def test_engine_reads_the_contract_and_runs(dense_model):
    engine = Engine(dense_model, providers=("CPUExecutionProvider",))
    assert engine.contract.arch == "tiny" and engine.contract.reid_dim == D
    assert engine.active_provider == "CPUExecutionProvider"
    assert engine.input_shape(2) == (2, 3, IN_H, IN_W) and engine.input_dtype is np.float32
    engine.warmup()
    assert engine.last_run_seconds > 0
    out = engine.run(np.zeros((3, 3, IN_H, IN_W), np.float32))
    assert out["heatmap"].shape == (3, 1, OUT_H, OUT_W) and out["embedding"].shape[1] == D
    with pytest.raises(ValueError, match="shape"):
        engine.run(np.zeros((1, 3, IN_H, IN_W + 32), np.float32))
    with pytest.raises(ValueError, match="float32"):
        engine.run(np.zeros((1, 3, IN_H, IN_W), np.float64))


def test_unavailable_providers_are_skipped_with_a_warning(dense_model, caplog):
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        pytest.skip("CUDA is available here")
    with caplog.at_level(logging.WARNING, logger="fairmot_ros.engine"):
        engine = Engine(dense_model, providers=("cuda", "tensorrt", "cpu"))
    assert engine.active_provider == "CPUExecutionProvider"
    assert engine.requested_providers[0] == "CUDAExecutionProvider"
    assert "CUDAExecutionProvider is not available" in caplog.text
    assert not engine.on_gpu and not engine.uses_io_binding
    assert "this onnxruntime build has no CUDAExecutionProvider/TensorrtExecutionProvider" in (
        engine.gpu_fallback_reason
    )
    assert Engine(dense_model, providers=("cpu",)).gpu_fallback_reason is None


def test_gpu_fallback_reason_tells_a_cpu_build_from_a_provider_that_did_not_start():
    cuda, cpu = "CUDAExecutionProvider", "CPUExecutionProvider"
    cpu_build = gpu_fallback_reason([cuda, cpu], [cpu], cpu)
    assert "has no CUDAExecutionProvider" in cpu_build and "install onnxruntime-gpu" in cpu_build
    broken = gpu_fallback_reason([cuda, cpu], [cuda, cpu], cpu)
    assert "is in this onnxruntime build but did not start" in broken
    assert gpu_fallback_reason([cuda, cpu], [cuda, cpu], cuda) is None
    assert gpu_fallback_reason([cpu], [cpu], cpu) is None


def test_provider_choice_keeps_order_and_falls_back_to_cpu():
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    chosen, skipped = choose_providers(["trt", "cuda", "cpu", "CPUExecutionProvider"], available)
    assert chosen == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert skipped == ["TensorrtExecutionProvider"]
    assert choose_providers(["cuda"], ["CPUExecutionProvider"])[0] == ["CPUExecutionProvider"]


def test_require_gpu_on_a_cpu_only_runtime_is_a_clear_error(dense_model):
    if any(p in ort.get_available_providers() for p in ("CUDAExecutionProvider",)):
        pytest.skip("a GPU provider is available here")
    with pytest.raises(GpuUnavailableError, match="GPU was required"):
        Engine(dense_model, providers=("cuda", "cpu"), require_gpu=True)


def test_model_without_metadata_missing_or_corrupt(tmp_path):
    bare = build_model(tmp_path / "bare.onnx", metadata=False)
    with pytest.raises(ContractError, match="no FairMOT metadata"):
        Engine(bare)
    with pytest.raises(EngineError, match="not found"):
        Engine(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not a protobuf")
    with pytest.raises(EngineError, match="cannot load"):
        Engine(corrupt)


def test_io_binding_path_gives_the_same_outputs(dense_model):
    plain = Engine(dense_model, providers=("cpu",))
    bound = Engine(dense_model, providers=("cpu",), io_binding=True, threads=1)
    blob = np.random.default_rng(0).random((2, 3, IN_H, IN_W), dtype=np.float32)
    a, b = plain.run(blob), bound.run(blob)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.parametrize("input_format", ["float32_rgb_nchw", INPUT_UINT8_BGR_NHWC])
@pytest.mark.parametrize("topk", [0, 16])
def test_detector_end_to_end(tmp_path, input_format, topk):
    path = build_model(tmp_path / "m.onnx", input_format=input_format, topk=topk)
    detector = Detector(path, conf_thres=0.4, providers=("cpu",))
    assert detector.contract.input_format == input_format
    bright = detector.detect(frame(1080, 1920, 255))
    # Peak B scores the mean input: 114 white columns and 14 grey (128) padding columns.
    assert bright.scores[0] == pytest.approx((114 + 14 * 128 / 255) / 128, rel=1e-5)
    assert bright.scores[1] == pytest.approx(0.9)
    np.testing.assert_allclose(bright.boxes, expected_boxes(1080, 1920)[::-1], rtol=1e-5, atol=1e-3)
    assert bright.embeddings.argmax(axis=1).tolist() == [1, 0]  # sorted by score: B first
    dark = detector.detect(frame(480, 640, 0))
    assert len(dark) == 1
    np.testing.assert_allclose(dark.boxes, expected_boxes(480, 640)[:1], rtol=1e-5, atol=1e-3)
    assert set(detector.last_timings) == {"preprocess", "inference", "decode"}


def test_detect_batch_maps_each_frame_and_fixed_batch_is_chunked(tmp_path):
    frames = [frame(1080, 1920, 255), frame(480, 640, 0), frame(300, 900, 255)]
    for batch in (0, 1, 2):
        path = build_model(tmp_path / f"b{batch}.onnx", batch=batch)
        detector = Detector(path, providers=("cpu",))
        results = detector.detect_batch(frames)
        assert [len(r) for r in results] == [2, 1, 2]
        for r, f in zip(results, frames, strict=True):
            want = expected_boxes(*f.shape[:2])
            got = r.boxes[np.argsort(-r.embeddings[:, 0])]  # peak A first
            np.testing.assert_allclose(got, want[: len(r)], rtol=1e-5, atol=1e-3)
    assert detector.detect_batch([]) == []


def test_detector_settings_are_validated(dense_model):
    engine = Engine(dense_model, providers=("cpu",))
    detector = Detector(engine, conf_thres=0.95)
    assert detector.engine is engine
    assert len(detector.detect(frame(100, 200, 255))) == 1  # only B (score ~0.97) passes
    detector.topk = 1
    with pytest.raises(ValueError):
        detector.conf_thres = 1.5
    with pytest.raises(ValueError):
        detector.topk = 0
    with pytest.raises(TypeError):
        Detector(engine, threads=2)
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((10, 10, 3), np.float32))
