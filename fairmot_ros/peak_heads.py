"""Box, offset and re-ID heads evaluated only where the decoder looks: at the heatmap peaks.

FairMOT's four heads are each ``conv3x3 -> activation -> conv1x1`` on one shared stride-4
feature map. The heatmap head must run everywhere (its peaks decide where objects are), but
the decoder reads ``ltrb``, ``offset`` and ``embedding`` only at the peaks it keeps (score
above ``conf_thres``, at most K of them): computing those three heads over every cell is
wasted work, about a fifth of the demonstration model's CPU time (doc/performance.md, "Core
pipeline").

:func:`split_heads` cuts a dense-output model (as ``fairmot-export`` writes it, contract
``topk == 0``) into a *trunk* graph whose outputs are the dense ``heatmap`` and the shared
feature map (``head_features``, float32), and a :class:`PeakHeads` holding the three heads'
weights as matrices. :meth:`PeakHeads.evaluate` then computes the heads at the chosen cells:
a 3x3 patch of the features per cell times the first layer's weights, the activation, the
second layer. The values are the dense heads' values at those cells up to float32 summation
order (measured on the demonstration model: doc/python-api.md, "Heads at the peaks"), so
the decoder keeps its runtime ``conf_thres`` and ``topk`` and its exact selection rule.

Only ``onnx`` and numpy are needed (no torch); the graph is never changed on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from fairmot_ros.contract import INPUT_NAME, OUT_EMBEDDING, OUT_HEATMAP, OUT_LTRB, OUT_OFFSET

__all__ = ["OUT_FEATURES", "HeadSplitError", "PeakHeads", "split_heads"]

# The trunk's second output: the feature map the heads read, (B, C, h, w) float32.
OUT_FEATURES = "head_features"
# Dense outputs replaced by the heads at the peaks, in PeakHeads.evaluate's order.
SPARSE_OUTPUTS = (OUT_LTRB, OUT_OFFSET, OUT_EMBEDDING)
ACTIVATIONS = ("relu", "silu")
# Ops between a head's last convolution and the graph output: precision casts and, for the
# embedding, the L2 normalisation's division (its other input is the norm).
_PASS_THROUGH = ("Cast", "Identity", "Div")
_FLOAT16 = 10  # onnx.TensorProto.FLOAT16
_FLOAT = 1  # onnx.TensorProto.FLOAT


class HeadSplitError(ValueError):
    """The model's heads are not the ``conv3x3 -> activation -> conv1x1`` on one shared
    feature map this module can evaluate at peaks (the model then runs dense)."""


@dataclass(frozen=True)
class PeakHeads:
    """The ltrb, offset and embedding heads as matrices.

    ``first`` (9 C, H1 + H2 + H3) holds the three 3x3 convolutions, rows ordered
    (ky, kx, c) like :meth:`patches`; ``first_bias`` (H1 + H2 + H3,). ``second`` are the
    three 1x1 convolutions as (Hi, out_i) matrices with their biases; ``hidden`` the Hi.
    ``activation`` is "relu" or "silu" (x * sigmoid(x)). Everything is float32: an FP16
    model's weights are exact in float32, and ONNX Runtime's CPU kernels compute FP16
    graphs in float32 as well.
    """

    channels: int
    activation: str
    first: np.ndarray
    first_bias: np.ndarray
    second: tuple[np.ndarray, np.ndarray, np.ndarray]
    second_bias: tuple[np.ndarray, np.ndarray, np.ndarray]
    hidden: tuple[int, int, int]

    @property
    def output_channels(self) -> tuple[int, int, int]:
        return tuple(int(w.shape[1]) for w in self.second)  # type: ignore[return-value]

    @staticmethod
    def patches(features: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """(N, 9 C) float32: the 3x3 neighbourhood of each cell, zero outside the map
        (the convolutions' padding of 1), ordered (ky, kx, c)."""
        c, h, w = features.shape
        out = np.zeros((len(ys), 3, 3, c), np.float32)
        for ky in range(3):
            yy = ys + (ky - 1)
            for kx in range(3):
                xx = xs + (kx - 1)
                inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                if inside.any():
                    out[inside, ky, kx] = features[:, yy[inside], xx[inside]].T
        return out.reshape(len(ys), 9 * c)

    def evaluate(
        self, features: np.ndarray, ys: np.ndarray, xs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ltrb (4, N), offset (2, N), raw embedding (D, N)) at cells (ys, xs) of one frame's
        (C, h, w) features: the dense heads' maps read at those cells, channel-first like
        ``dense[:, ys, xs]``. The embedding is not normalised yet (the decoder does it)."""
        ys = np.asarray(ys, dtype=np.intp)
        xs = np.asarray(xs, dtype=np.intp)
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 3 or features.shape[0] != self.channels:
            raise ValueError(
                f"head features must be ({self.channels}, h, w), got {features.shape}"
            )
        hidden = self.patches(features, ys, xs) @ self.first
        hidden += self.first_bias
        if self.activation == "relu":
            np.maximum(hidden, 0.0, out=hidden)
        else:
            hidden *= 1.0 / (1.0 + np.exp(-hidden))
        results = []
        start = 0
        for width, weight, bias in zip(self.hidden, self.second, self.second_bias, strict=True):
            part = hidden[:, start : start + width] @ weight
            part += bias
            results.append(np.ascontiguousarray(part.T))
            start += width
        return results[0], results[1], results[2]


def split_heads(model) -> tuple[object, PeakHeads]:
    """(trunk ``onnx.ModelProto``, :class:`PeakHeads`) of a dense-output FairMOT model.

    The trunk keeps every node the heatmap needs, unchanged (so the heatmap is the dense
    model's, bit for bit), adds ``head_features`` and keeps the metadata. Raises
    :class:`HeadSplitError` naming what does not fit.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    outputs = {o.name: o for o in graph.output}
    missing = [name for name in (OUT_HEATMAP, *SPARSE_OUTPUTS) if name not in outputs]
    if missing:
        raise HeadSplitError(f"the model has no dense output {', '.join(missing)}")
    producer = {out: node for node in graph.node for out in node.output}
    weights = {init.name: init for init in graph.initializer}

    def array(name: str) -> np.ndarray:
        if name not in weights:
            raise HeadSplitError(f"head weight {name!r} is not an initializer")
        return numpy_helper.to_array(weights[name]).astype(np.float32)

    def attrs(node) -> dict:
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def conv(node, kernel: int) -> tuple[np.ndarray, np.ndarray]:
        if node is None or node.op_type != "Conv" or node.domain not in ("", "ai.onnx"):
            raise HeadSplitError(f"expected a Conv, found {node.op_type if node else 'input'}")
        a = attrs(node)
        weight = array(node.input[1])
        pad = (kernel - 1) // 2
        if (
            weight.ndim != 4 or weight.shape[2:] != (kernel, kernel)
            or a.get("group", 1) != 1
            or list(a.get("strides", [1, 1])) != [1, 1]
            or list(a.get("dilations", [1, 1])) != [1, 1]
            or list(a.get("pads", [0, 0, 0, 0])) != [pad] * 4
            or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        ):  # fmt: skip
            raise HeadSplitError(
                f"{node.name}: not a plain {kernel}x{kernel} convolution with padding {pad}"
            )
        bias = array(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if bias is None:
            bias = np.zeros(weight.shape[0], np.float32)
        return weight, bias

    def activation(name: str) -> tuple[str, str]:
        """(kind, input tensor) of the activation producing ``name``."""
        node = producer.get(name)
        if node is not None and node.op_type == "Relu":
            return "relu", node.input[0]
        if node is not None and node.op_type == "Mul" and len(node.input) == 2:
            for x, s in (node.input, node.input[::-1]):
                gate = producer.get(s)
                if gate is not None and gate.op_type == "Sigmoid" and gate.input[0] == x:
                    return "silu", x
        raise HeadSplitError(
            f"head activation {node.op_type if node else 'input'} is not ReLU or SiLU"
        )

    heads = []
    for name in SPARSE_OUTPUTS:
        node = producer.get(name)
        while node is not None and node.op_type in _PASS_THROUGH:
            node = producer.get(node.input[0])
        w2, b2 = conv(node, 1)
        kind, pre = activation(node.input[0])
        w1, b1 = conv(producer.get(pre), 3)
        if w1.shape[0] != w2.shape[1]:
            raise HeadSplitError(f"{name} head: {w1.shape[0]} hidden channels feed {w2.shape[1]}")
        heads.append((kind, producer[pre].input[0], w1, b1, w2, b2))
    kinds = {h[0] for h in heads}
    features = {h[1] for h in heads}
    if len(kinds) != 1 or len(features) != 1:
        raise HeadSplitError("the heads do not share one activation and one feature map")
    (feature_name,) = features
    channels = int(heads[0][2].shape[1])
    if any(h[2].shape[1] != channels for h in heads):
        raise HeadSplitError("the heads read different channel counts")
    if feature_name == INPUT_NAME:
        raise HeadSplitError("the heads read the model input")

    first = np.concatenate(
        [h[2].transpose(2, 3, 1, 0).reshape(9 * channels, -1) for h in heads], axis=1
    )
    peak_heads = PeakHeads(
        channels=channels,
        activation=heads[0][0],
        first=np.ascontiguousarray(first),
        first_bias=np.concatenate([h[3] for h in heads]),
        second=tuple(np.ascontiguousarray(h[4][:, :, 0, 0].T) for h in heads),
        second_bias=tuple(h[5] for h in heads),
        hidden=tuple(int(h[2].shape[0]) for h in heads),
    )
    trunk = _trunk(onnx, helper, model, feature_name, channels)
    return trunk, peak_heads


def _trunk(onnx, helper, model, feature_name: str, channels: int):
    """A copy of ``model`` whose outputs are the heatmap and the features as float32, with
    the nodes and initializers only the removed heads used taken out."""
    graph = model.graph
    feature_type = _tensor_type(onnx, model, feature_name)
    cast = helper.make_node(
        "Cast", [feature_name], [OUT_FEATURES], to=_FLOAT, name="peak_heads_features"
    )
    heatmap = next(o for o in graph.output if o.name == OUT_HEATMAP)
    batch = heatmap.type.tensor_type.shape.dim[0]
    dims = [d.dim_param or d.dim_value for d in heatmap.type.tensor_type.shape.dim]
    batch_dim = batch.dim_param or batch.dim_value or "batch"
    feature_out = helper.make_tensor_value_info(
        OUT_FEATURES, _FLOAT, [batch_dim, channels, *dims[2:]]
    )
    if feature_type not in (_FLOAT, _FLOAT16):
        raise HeadSplitError(f"the feature map {feature_name!r} is not float32 or float16")
    nodes = [*graph.node, cast]
    keep = _needed(nodes, [OUT_HEATMAP, OUT_FEATURES])
    new_graph = helper.make_graph(
        [n for n in nodes if id(n) in keep],
        graph.name,
        list(graph.input),
        [heatmap, feature_out],
        initializer=[],
    )
    used = {name for n in new_graph.node for name in n.input}
    new_graph.initializer.extend(i for i in graph.initializer if i.name in used)
    new_graph.value_info.extend(v for v in graph.value_info if v.name in used)
    trunk = helper.make_model(
        new_graph, opset_imports=list(model.opset_import), ir_version=model.ir_version
    )
    trunk.producer_name = model.producer_name
    trunk.producer_version = model.producer_version
    for prop in model.metadata_props:
        trunk.metadata_props.add(key=prop.key, value=prop.value)
    return trunk


def _needed(nodes: Iterable, outputs: list[str]) -> set[int]:
    """ids of the nodes the given outputs depend on."""
    nodes = list(nodes)
    producer = {out: node for node in nodes for out in node.output}
    keep: set[int] = set()
    todo = list(outputs)
    while todo:
        node = producer.get(todo.pop())
        if node is None or id(node) in keep:
            continue
        keep.add(id(node))
        todo.extend(name for name in node.input if name)
        for attr in node.attribute:  # subgraphs (If/Loop) read outer names too
            for sub in list(attr.g.node if attr.HasField("g") else []):
                todo.extend(sub.input)
    return keep


def _tensor_type(onnx, model, name: str) -> int:
    """The element type of tensor ``name`` (value_info, else ONNX shape inference)."""
    graph = model.graph
    if not _declared_type(graph, name):
        try:
            graph = onnx.shape_inference.infer_shapes(model).graph
        except Exception as exc:  # noqa: BLE001 - inference failing only means "unknown"
            raise HeadSplitError(f"cannot infer the type of {name!r}: {exc}") from None
    found = _declared_type(graph, name)
    if not found:
        raise HeadSplitError(f"cannot tell the type of the feature map {name!r}")
    return found


def _declared_type(graph, name: str) -> int:
    """The element type the graph declares for ``name``; 0 when it declares none."""
    for info in [*graph.value_info, *graph.output, *graph.input]:
        if info.name == name and info.type.tensor_type.elem_type:
            return int(info.type.tensor_type.elem_type)
    return 0
