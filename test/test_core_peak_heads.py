"""Heads at the peaks: a split model finds the same detections as the dense one.

Small hand-built FairMOT-shaped graphs (a stride-4 feature map, four conv3x3 -> activation ->
conv1x1 heads, the contract's heatmap peak suppression and embedding normalisation) in FP32 and
FP16 with ReLU and SiLU heads, then the shipped model on PETS frames: the trunk's heatmap is the
dense model's bit for bit, the heads evaluated at cells equal the dense maps there, detections and
tracks agree, and models the split does not fit run dense with the reason said.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fairmot_ros.contract import ModelContract
from fairmot_ros.detector import Detector
from fairmot_ros.engine import Engine
from fairmot_ros.peak_heads import OUT_FEATURES, HeadSplitError, PeakHeads, split_heads

IN, C, HIDDEN = 64, 8, 12
OUT = IN // 4
HEADS = (("hm", 1), ("wh", 4), ("reg", 2), ("id", 6))


def fairmot_like(path, activation="relu", fp16=False, head_kernel=3, seed=0):
    """A dense-output FairMOT-shaped model with random weights (input float32 RGB NCHW)."""
    rng = np.random.default_rng(seed)
    dtype = np.float16 if fp16 else np.float32
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    inits, nodes = [], []

    def weight(name, shape, scale):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(dtype),
                                             name))  # fmt: skip
        return name

    def act(x, y):
        if activation == "relu":
            nodes.append(helper.make_node("Relu", [x], [y]))
        else:
            nodes.append(helper.make_node("Sigmoid", [x], [y + "_gate"]))
            nodes.append(helper.make_node("Mul", [x, y + "_gate"], [y]))

    x = "images"
    if fp16:
        nodes.append(helper.make_node("Cast", ["images"], ["x16"], to=TensorProto.FLOAT16))
        x = "x16"
    nodes.append(helper.make_node("Conv", [x, weight("stem.w", (C, 3, 4, 4), 0.5),
                                           weight("stem.b", (C,), 0.1)], ["stem"],
                                  kernel_shape=[4, 4], strides=[4, 4]))  # fmt: skip
    act("stem", "features")
    pad = (head_kernel - 1) // 2
    for name, out in HEADS:
        nodes.append(helper.make_node(
            "Conv", ["features", weight(f"{name}.0.w", (HIDDEN, C, head_kernel, head_kernel), 0.3),
                     weight(f"{name}.0.b", (HIDDEN,), 0.1)], [f"{name}_h"],
            kernel_shape=[head_kernel] * 2, pads=[pad] * 4))  # fmt: skip
        act(f"{name}_h", f"{name}_a")
        nodes.append(helper.make_node(
            "Conv", [f"{name}_a", weight(f"{name}.2.w", (out, HIDDEN, 1, 1), 0.3),
                     weight(f"{name}.2.b", (out,), 0.1)], [f"{name}_raw"],
            kernel_shape=[1, 1]))  # fmt: skip
        nodes.append(helper.make_node("Cast", [f"{name}_raw"], [f"{name}_f"], to=TensorProto.FLOAT))
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    inits.append(numpy_helper.from_array(np.array(1e-12, np.float32), "eps"))
    nodes += [
        helper.make_node("Sigmoid", ["hm_f"], ["heat"]),
        helper.make_node("MaxPool", ["heat"], ["hmax"], kernel_shape=[3, 3], pads=[1] * 4),
        helper.make_node("Equal", ["hmax", "heat"], ["is_peak"]),
        helper.make_node("Cast", ["is_peak"], ["peak"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["heat", "peak"], ["heatmap"]),
        helper.make_node("Identity", ["wh_f"], ["ltrb"]),
        helper.make_node("Identity", ["reg_f"], ["offset"]),
        helper.make_node("ReduceL2", ["id_f", "axis1"], ["norm"], keepdims=1),
        helper.make_node("Clip", ["norm", "eps"], ["norm_c"]),
        helper.make_node("Div", ["id_f", "norm_c"], ["embedding"]),
    ]
    widths = (("heatmap", 1), ("ltrb", 4), ("offset", 2), ("embedding", 6))
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", c, OUT, OUT])
               for n, c in widths]  # fmt: skip
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, IN, IN])]
    graph = helper.make_graph(nodes, "fairmot_like", inputs, outputs, inits)
    graph.value_info.append(helper.make_tensor_value_info("features", elem, None))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=10)
    contract = ModelContract(arch="dla_34", input_height=IN, input_width=IN, reid_dim=6,
                             precision="fp16" if fp16 else "fp32")  # fmt: skip
    helper.set_model_props(model, contract.to_metadata())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _session(model):
    import onnxruntime as ort

    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("activation", ["relu", "silu"])
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_heads_at_every_cell_equal_the_dense_maps(tmp_path, activation, fp16):
    path = fairmot_like(tmp_path / "m.onnx", activation, fp16)
    model = onnx.load(str(path))
    trunk, heads = split_heads(model)
    assert isinstance(heads, PeakHeads) and heads.activation == activation
    assert heads.channels == C and heads.output_channels == (4, 2, 6)
    assert [o.name for o in trunk.graph.output] == ["heatmap", OUT_FEATURES]
    names = {i.name for i in trunk.graph.initializer}
    assert not any(n.startswith(("wh.", "reg.", "id.")) for n in names)  # the heads are gone
    assert {p.key: p.value for p in trunk.metadata_props} == {
        p.key: p.value for p in model.metadata_props}  # fmt: skip
    images = np.random.default_rng(1).random((2, 3, IN, IN), dtype=np.float32)
    dense = dict(zip(("heatmap", "ltrb", "offset", "embedding"),
                     _session(model).run(None, {"images": images}), strict=True))  # fmt: skip
    heatmap, features = _session(trunk).run(None, {"images": images})
    assert features.dtype == np.float32 and features.shape == (2, C, OUT, OUT)
    np.testing.assert_array_equal(heatmap, dense["heatmap"])
    ys, xs = np.divmod(np.arange(OUT * OUT), OUT)  # every cell, borders included
    for b in range(2):
        ltrb, offset, raw = heads.evaluate(features[b], ys, xs)
        emb = raw / np.maximum(np.linalg.norm(raw, axis=0), 1e-12)
        for got, name in ((ltrb, "ltrb"), (offset, "offset"), (emb, "embedding")):
            want = dense[name][b].reshape(got.shape[0], -1)
            scale = max(1.0, float(np.abs(want).max()))
            # float32 compute either way (ORT's CPU kernels run FP16 graphs in float32);
            # FP16 graphs may round intermediate maps to half precision
            atol = (2e-3 if fp16 else 2e-5) * scale
            np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=name)


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_detector_with_heads_at_peaks_finds_the_dense_detections(tmp_path, fp16):
    path = fairmot_like(tmp_path / "m.onnx", "silu", fp16, seed=3)
    split = Detector(path, conf_thres=0.3, providers=("cpu",))
    dense = Detector(path, conf_thres=0.3, providers=("cpu",), heads_at_peaks=False)
    assert split.engine.heads == "at_peaks" and split.engine.dense_heads_reason is None
    assert dense.engine.heads == "dense" and "off" in dense.engine.dense_heads_reason
    rng = np.random.default_rng(2)
    found = 0
    for shape in ((48, 64), (64, 64), (100, 60), (64, 64)):
        image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        a, b = split.detect(image), dense.detect(image)
        assert len(a) == len(b)
        found += len(a)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_allclose(a.boxes, b.boxes, rtol=0, atol=0.05 if fp16 else 1e-3)
        np.testing.assert_allclose(a.embeddings, b.embeddings, rtol=0, atol=3e-3 if fp16 else 1e-5)
    assert found >= 10  # the comparison saw real detections


def test_models_the_split_does_not_fit_run_dense_with_the_reason(tmp_path):
    wide = fairmot_like(tmp_path / "wide.onnx", head_kernel=5)
    engine = Engine(wide, providers=("cpu",))
    assert engine.heads == "dense" and engine.peak_heads is None
    assert "3x3" in engine.dense_heads_reason
    outputs = engine.run(np.zeros((1, 3, IN, IN), np.float32))
    assert set(outputs) == {"heatmap", "ltrb", "offset", "embedding"}
    with pytest.raises(HeadSplitError, match="3x3"):
        split_heads(onnx.load(str(wide)))
    # a graph without the dense outputs (e.g. top-K) cannot be split
    model = onnx.load(str(fairmot_like(tmp_path / "m.onnx")))
    del model.graph.output[1:]
    with pytest.raises(HeadSplitError, match="no dense output"):
        split_heads(model)


def test_top_k_models_run_dense(tmp_path):
    from test_core_engine import build_model

    engine = Engine(build_model(tmp_path / "topk.onnx", topk=8), providers=("cpu",))
    assert engine.heads == "dense" and "top-8" in engine.dense_heads_reason


@pytest.fixture(scope="module")
def pets_frames():
    from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video, open_sequence

    if locate_pets_video() is None or not PETS_GT_PATH.is_file():
        pytest.skip("PETS09-S2L1 video not available (python -m fairmot_ros.sequences fetch-pets)")
    return [image for _, image in open_sequence("pets:401-520").frames()]


def test_shipped_model_tracks_the_same_with_heads_at_peaks(pets_frames):
    """120 PETS frames through detector + tracker both ways: the same tracks frame by frame."""
    from fairmot_ros.default_model import DEFAULT_MODEL_PATH
    from fairmot_ros.tracking import JDETracker, TrackerConfig

    split = Detector(DEFAULT_MODEL_PATH, providers=("cpu",), threads=1)
    dense = Detector(DEFAULT_MODEL_PATH, providers=("cpu",), threads=1, heads_at_peaks=False)
    assert split.engine.heads == "at_peaks"
    trackers = [JDETracker(TrackerConfig(frame_rate=7.0)) for _ in range(2)]
    worst_box = worst_emb = 0.0
    tracked = 0
    for i, image in enumerate(pets_frames):
        a, b = split.detect(image), dense.detect(image)
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.scores, b.scores)
        if len(a):
            worst_box = max(worst_box, float(np.abs(a.boxes - b.boxes).max()))
            worst_emb = max(worst_emb, float(np.abs(a.embeddings - b.embeddings).max()))
        ta = trackers[0].update(a.boxes, a.scores, a.embeddings, i / 7.0)
        tb = trackers[1].update(b.boxes, b.scores, b.embeddings, i / 7.0)
        assert [t.track_id for t in ta] == [t.track_id for t in tb]
        if ta:
            np.testing.assert_allclose([t.tlbr for t in ta], [t.tlbr for t in tb], atol=1e-3)
        tracked += len(ta)
    assert tracked > 300  # about 3.5 people tracked per frame
    print(f"largest differences: boxes {worst_box:.2e} px, embeddings {worst_emb:.2e}")
    assert worst_box < 1e-3 and worst_emb < 1e-5, (worst_box, worst_emb)
