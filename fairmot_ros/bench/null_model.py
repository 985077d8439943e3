"""A model with the product's contract and almost no network, to time the node around it.

The node's own cost per frame (image conversion, letterbox to the real input size, decoding
the real dense maps, tracking, messages, publishing) is hidden behind the network on a CPU.
This graph takes the same uint8 BGR input and gives the same dense outputs as an exported
FairMOT model, computed from the image with a few cheap operators: the heatmap is the 4x4
mean brightness above 0.6 (the benchmark frames' white squares), peak-suppressed 3x3 like the
real graph, boxes are a constant 2 cells each way, offsets zero, embeddings one unit vector
(32 wide by default: the node only gathers them at peaks, and a wide constant map would only
time memory writes).
So the node finds and tracks a few objects per frame and everything but the network runs.
Building it needs ``onnx`` (an offline tool); the node only needs ONNX Runtime to load it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fairmot_ros.contract import (
    INPUT_NAME,
    INPUT_UINT8_BGR_NHWC,
    OUT_EMBEDDING,
    OUT_HEATMAP,
    OUT_LTRB,
    OUT_OFFSET,
    ModelContract,
)

_OPSET = 17
_IR_VERSION = 9  # onnx's newest IR is newer than ONNX Runtime accepts


def write_null_model(path: str | Path, width: int = 1088, height: int = 608,
                     reid_dim: int = 32) -> Path:  # fmt: skip
    """Write the network-free model for a ``width`` x ``height`` input; returns its path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    contract = ModelContract(arch="null", input_height=height, input_width=width,
                             reid_dim=reid_dim, input_format=INPUT_UINT8_BGR_NHWC,
                             model_name=f"null-network-{width}x{height}")  # fmt: skip

    def const(name: str, value: np.ndarray):
        return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)

    unit = np.zeros((1, reid_dim, 1, 1), np.float32)
    unit[0, 0] = 1.0
    initializers = [
        const("scale", 1.0 / 255.0), const("threshold", 0.6), const("gain", 2.5),
        const("one", 1.0), const("zero", 0.0),
        const("ltrb_value", np.full((1, 4, 1, 1), 2.0)),
        const("offset_value", np.zeros((1, 2, 1, 1))), const("embedding_value", unit),
        numpy_helper.from_array(np.array([-1, 1, height, 3 * width], np.int64), "rows_shape"),
    ]  # fmt: skip
    node = helper.make_node
    nodes = [
        node("Cast", [INPUT_NAME], ["float_image"], to=TensorProto.FLOAT),
        # (B, H, W, 3) viewed as (B, 1, H, 3W): a 4 x 12 pool is the mean over a cell's
        # 4 x 4 pixels and their three channels, with no transpose or slice.
        node("Reshape", ["float_image", "rows_shape"], ["rows"]),
        node("AveragePool", ["rows"], ["cells"], kernel_shape=[4, 12], strides=[4, 12]),
        node("Mul", ["cells", "scale"], ["bright"]),
        node("Sub", ["bright", "threshold"], ["above"]),
        node("Relu", ["above"], ["positive"]),
        node("Mul", ["positive", "gain"], ["raw_heat"]),
        node("Min", ["raw_heat", "one"], ["heat"]),
        node("MaxPool", ["heat"], ["pooled"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Equal", ["heat", "pooled"], ["is_peak"]),
        node("Cast", ["is_peak"], ["peak"], to=TensorProto.FLOAT),
        node("Mul", ["heat", "peak"], [OUT_HEATMAP]),
        node("Mul", ["cells", "zero"], ["zeros"]),
        node("Add", ["zeros", "ltrb_value"], [OUT_LTRB]),
        node("Add", ["zeros", "offset_value"], [OUT_OFFSET]),
        node("Add", ["zeros", "embedding_value"], [OUT_EMBEDDING]),
    ]
    h, w = height // 4, width // 4
    graph = helper.make_graph(
        nodes, "null_network",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", height, width, 3])],
        [helper.make_tensor_value_info(OUT_HEATMAP, TensorProto.FLOAT, ["batch", 1, h, w]),
         helper.make_tensor_value_info(OUT_LTRB, TensorProto.FLOAT, ["batch", 4, h, w]),
         helper.make_tensor_value_info(OUT_OFFSET, TensorProto.FLOAT, ["batch", 2, h, w]),
         helper.make_tensor_value_info(OUT_EMBEDDING, TensorProto.FLOAT,
                                       ["batch", reid_dim, h, w])],
        initializers,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                              ir_version=_IR_VERSION)  # fmt: skip
    helper.set_model_props(model, contract.to_metadata())
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
