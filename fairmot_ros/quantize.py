"""Static INT8 quantization of an exported FP32 FairMOT model with ONNX Runtime's tools.

``quantize_int8`` takes a validated FP32 export and writes a QDQ model (``QuantizeLinear`` /
``DequantizeLinear`` pairs around each quantized operator, which ONNX Runtime's CPU provider
fuses into integer kernels and TensorRT reads as explicit INT8):

* weights INT8, symmetric, one scale per output channel; activations UINT8 with ranges from
  calibration frames (``onnxruntime.quantization.quantize_static``);
* only the *trunk* is quantized: the nodes the heads' shared feature map depends on (found as
  :mod:`fairmot_ros.peak_heads` finds it), from the first convolution on, and the heatmap
  head's first (3x3) convolution with its activation. The heatmap head's output convolution,
  the sigmoid, the 3x3 peak suppression, the box, offset and re-ID heads and the embedding
  normalisation stay in float32: a quantized heatmap would sit on a 1/255 grid (flat plateaus
  that the peak suppression keeps as several peaks), and the other heads are computed at the
  kept peaks anyway (``Engine(heads_at_peaks=True)`` reads their float weights as before);
* the contract says ``precision int8`` and ``quantization`` describes the recipe and the
  calibration frames, so the node, ``fairmot-eval`` and the benchmarks take the file like any
  other export.

Calibration frames come from :func:`calibration_frames`: evenly spaced frames of a sequence
range, letterboxed as the runtime letterboxes them, each also seen through the fixed view of
every further calibration scale (:class:`fairmot_ros.scale_view.ScaleView`, the views of the
evaluation's scale sweep) where scales other than 1 are asked for. For PETS09-S2L1 only the
training range (frames 1-400) is accepted, so the held-out frames never shape the quantization.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairmot_ros.contract import INPUT_NAME, ModelContract

__all__ = ["CALIBRATION_METHODS", "DEFAULT_CALIBRATION_SCALES", "CalibrationSet",
           "QuantizationError", "calibration_frames", "check_calibration_scales",
           "parse_calibration_scales", "quantize_int8", "trunk_node_names"]  # fmt: skip

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_CALIBRATION_FRAMES = 20
DEFAULT_CALIBRATION_METHOD = "minmax"
DEFAULT_CALIBRATION_SCALES = (1.0,)


class QuantizationError(ValueError):
    """The model or the calibration data cannot be used for INT8 quantization."""


@dataclass(frozen=True)
class CalibrationSet:
    """Letterboxed input blobs (each batch 1, in the model's input format) and where they
    came from."""

    blobs: tuple[np.ndarray, ...]
    source: str
    frames: tuple[int, ...]
    scales: tuple[float, ...] = DEFAULT_CALIBRATION_SCALES

    def describe(self) -> str:
        shown = ",".join(str(f) for f in self.frames)
        text = f"{len(self.frames)} frames of {self.source} ({shown})"
        if self.scales != DEFAULT_CALIBRATION_SCALES:
            listed = ",".join(f"{s:g}" for s in self.scales)
            text += f", each at scales {listed} (centred scale views, {len(self.blobs)} inputs)"
        return text


def check_calibration_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """``scales`` as a tuple of floats, or :class:`QuantizationError` where the list is empty,
    repeats a scale or holds one that :class:`~fairmot_ros.scale_view.ScaleView` refuses."""
    from fairmot_ros.scale_view import ScaleError, check_scale

    if not len(scales):
        raise QuantizationError("calibration scales: none given")
    checked = []
    for scale in scales:
        try:
            checked.append(check_scale(float(scale)))
        except (ScaleError, TypeError, ValueError) as exc:
            raise QuantizationError(f"calibration scales: {exc}") from None
    if len(set(checked)) != len(checked):
        raise QuantizationError(f"calibration scales: {','.join(f'{s:g}' for s in checked)} "
                                f"repeats a scale")  # fmt: skip
    return tuple(checked)


def parse_calibration_scales(text: str) -> tuple[float, ...]:
    """``--calibration-scales`` text, e.g. ``1,1.5,2,3``, as checked scales."""
    values = []
    for item in text.split(","):
        try:
            values.append(float(item))
        except ValueError:
            raise QuantizationError(f"calibration scales {text!r}: {item.strip()!r} is not a "
                                    f"number (give e.g. 1,2,3)") from None  # fmt: skip
    return check_calibration_scales(values)


def _check_pets_range(sequence, spec: str) -> None:
    from fairmot_ros.sequences import PETS_TRAIN_RANGE

    if sequence.name != "PETS09-S2L1":
        return
    first, last = PETS_TRAIN_RANGE
    if sequence.last == 0 or sequence.first < first or sequence.last > last:
        shown = f"{sequence.first}-{sequence.last or 'end'}"
        raise QuantizationError(
            f"calibration source {spec!r} covers PETS09-S2L1 frames {shown}; only the training "
            f"frames {first}-{last} may be used (e.g. pets:{first}-{last})"
        )


def calibration_frames(
    spec: str,
    count: int,
    contract: ModelContract,
    scales: Sequence[float] = DEFAULT_CALIBRATION_SCALES,
) -> CalibrationSet:
    """``count`` evenly spaced frames of the sequence ``spec`` (``PATH[:FIRST-LAST]``, as
    ``fairmot-eval --sequence``), each seen through the centred
    :class:`~fairmot_ros.scale_view.ScaleView` of every scale in ``scales`` (in that order,
    frame by frame; scale 1 is the frame itself) and letterboxed into ``contract``'s input."""
    from fairmot_ros.preprocess import letterbox, to_input_tensor
    from fairmot_ros.scale_view import ScaleView
    from fairmot_ros.sequences import open_sequence

    if count < 1:
        raise QuantizationError(f"calibration frame count must be >= 1, got {count}")
    scales = check_calibration_scales(scales)
    sequence = open_sequence(spec)
    _check_pets_range(sequence, spec)
    indices = [index for index, _ in sequence.frames()]  # one decoding pass, images dropped
    if not indices:
        raise QuantizationError(f"calibration source {spec!r} has no frames")
    spots = np.linspace(0, len(indices) - 1, min(count, len(indices)))
    picks = sorted({indices[round(i)] for i in spots})
    wanted = set(picks)
    blobs = []
    for index, image in sequence.frames():
        if index not in wanted:
            continue
        height, width = image.shape[:2]
        for scale in scales:
            seen = ScaleView.make(scale, width, height).apply(image)
            padded, _ = letterbox(seen, contract.input_height, contract.input_width)
            blobs.append(to_input_tensor(padded, contract.input_format))
    return CalibrationSet(tuple(blobs), spec, tuple(picks), scales)


def trunk_node_names(model) -> list[str]:
    """Names of the nodes that compute the heads' feature map, from the first convolution on
    (the input conversion before it stays as it is)."""
    from fairmot_ros.peak_heads import HeadSplitError, split_heads

    try:
        trunk, _ = split_heads(model)
    except HeadSplitError as exc:
        raise QuantizationError(f"cannot find the network's trunk to quantize: {exc}") from None
    feature = next(n.input[0] for n in trunk.graph.node if n.name == "peak_heads_features")
    producer = {out: node for node in model.graph.node for out in node.output}
    needed: set[str] = set()
    todo = [feature]
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in needed:
            continue
        needed.add(node.name)
        todo.extend(name for name in node.input if name)
    ordered = [node for node in model.graph.node if node.name in needed]
    if len(needed) != len(ordered) or any(not node.name for node in ordered):
        raise QuantizationError("the graph's node names are not unique; cannot select the trunk")
    first_conv = next((i for i, n in enumerate(ordered) if n.op_type == "Conv"), None)
    if first_conv is None:
        raise QuantizationError("the trunk has no convolution to quantize")
    return [node.name for node in ordered[first_conv:]] + _heatmap_head_start(model, feature)


def _heatmap_head_start(model, feature: str) -> list[str]:
    """The heatmap head's first convolution (the one of the feature map's consumers that
    leads to the ``heatmap`` output) and the activation nodes on its output."""
    from fairmot_ros.contract import OUT_HEATMAP

    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def reaches_heatmap(node) -> bool:
        seen, todo = set(), list(node.output)
        while todo:
            name = todo.pop()
            if name == OUT_HEATMAP:
                return True
            for nxt in consumers.get(name, []):
                if nxt.name not in seen:
                    seen.add(nxt.name)
                    todo.extend(nxt.output)
        return False

    heads = [n for n in consumers.get(feature, []) if n.op_type == "Conv" and reaches_heatmap(n)]
    if len(heads) != 1:
        return []
    conv = heads[0]
    act = [n for n in consumers.get(conv.output[0], []) if n.op_type in ("Relu", "Sigmoid", "Mul")]
    gates = [n for a in act if a.op_type == "Sigmoid" for n in consumers.get(a.output[0], [])
             if n.op_type == "Mul"]  # fmt: skip
    return [conv.name, *dict.fromkeys(n.name for n in [*act, *gates])]


_CHANNEL_PATH_OPS = ("Transpose", "Cast", "Div", "Mul", "Reshape", "Identity")


def fold_channel_flip(model):
    """The model with its BGR->RGB ``Gather`` on the input folded into the first convolution
    (that convolution's input channels permuted instead), or None where the graph does not
    have that shape or the folded model does not compute the same outputs.

    The uint8 input's channel flip is a ``Gather`` over the whole image, about 5 % of the INT8
    network's CPU time; between it and the first convolution there are only layout and scale
    operations (for yolov5s the Focus space-to-depth), which move channels around but never
    mix them, so a permutation of the convolution's input channels does the same exactly.
    The permutation is found by running that short path on a probe image whose every
    (channel, 2x2 position) has its own value, with and without the flip."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    graph = model.graph
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    flips = [n for n in consumers.get(INPUT_NAME, []) if n.op_type == "Gather"]
    weights = {init.name: init for init in graph.initializer}
    if len(flips) != 1 or flips[0].input[1] not in weights:
        return None
    flip = flips[0]
    if numpy_helper.to_array(weights[flip.input[1]]).tolist() != [2, 1, 0]:
        return None
    path, tensor = [], flip.output[0]
    while True:
        users = consumers.get(tensor, [])
        if len(users) != 1:
            return None
        node = users[0]
        if node.op_type == "Conv":
            break
        if node.op_type not in _CHANNEL_PATH_OPS or node.input[0] != tensor:
            return None
        path.append(node)
        tensor = node.output[0]
    conv = node
    if conv.input[0] != tensor or conv.input[1] not in weights:
        return None

    def run_path(with_flip: bool, probe: np.ndarray) -> np.ndarray:
        first = flip if with_flip else helper.make_node("Identity", [INPUT_NAME], flip.output)
        nodes = [first, *path]
        used = {name for n in nodes for name in n.input}
        sub = helper.make_graph(nodes, "path", list(graph.input),
                                [helper.make_tensor_value_info(tensor, 1, None)],
                                [weights[name] for name in used if name in weights])  # fmt: skip
        sub_model = helper.make_model(sub, opset_imports=list(model.opset_import),
                                      ir_version=model.ir_version)  # fmt: skip
        session = ort.InferenceSession(sub_model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])  # fmt: skip
        return session.run(None, {INPUT_NAME: probe})[0]

    shape = [d.dim_value or 1 for d in graph.input[0].type.tensor_type.shape.dim]
    dtype = np.uint8 if graph.input[0].type.tensor_type.elem_type == 2 else np.float32
    axis = int(next((helper.get_attribute_value(a) for a in flip.attribute if a.name == "axis"),
                    0))  # fmt: skip
    codes = np.zeros(shape, np.float64)
    index = np.indices(shape)
    codes += 1 + index[axis] + 3 * ((index[axis - 1 if axis == 3 else 2] % 2) * 2
                                    + index[axis - 2 if axis == 3 else 3] % 2)  # fmt: skip
    probe = (codes * 20).astype(dtype) if dtype == np.uint8 else (codes / 20).astype(dtype)
    try:
        flipped, plain = run_path(True, probe), run_path(False, probe)
    except Exception:  # noqa: BLE001 - a path ONNX Runtime cannot run alone is left as it is
        return None
    channels = flipped.shape[1]
    perm = []
    for k in range(channels):
        match = [j for j in range(channels) if np.array_equal(flipped[:, k], plain[:, j])]
        if len(match) != 1:
            return None
        perm.append(match[0])
    if sorted(perm) != list(range(channels)):
        return None
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    weight = numpy_helper.to_array(weights[conv.input[1]])
    permuted = np.empty_like(weight)
    permuted[:, perm] = weight
    for init in folded.graph.initializer:
        if init.name == conv.input[1]:
            init.CopyFrom(numpy_helper.from_array(permuted, init.name))
    for node in folded.graph.node:
        if node.op_type == "Gather" and node.output[0] == flip.output[0]:
            node.op_type = "Identity"
            del node.input[1:]
            del node.attribute[:]
    if not any(flip.input[1] in node.input for node in folded.graph.node):
        kept = [init for init in folded.graph.initializer if init.name != flip.input[1]]
        del folded.graph.initializer[:]
        folded.graph.initializer.extend(kept)
    return folded if _same_outputs(model, folded, probe) else None


def _same_outputs(model, folded, probe: np.ndarray) -> bool:
    import onnxruntime as ort

    rng = np.random.default_rng(5)
    feed = rng.integers(0, 256, probe.shape).astype(probe.dtype)
    if probe.dtype != np.uint8:
        feed = (feed / 255.0).astype(probe.dtype)
    outs = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            .run(None, {INPUT_NAME: feed}) for m in (model, folded)]  # fmt: skip
    return all(np.allclose(a, b, atol=1e-4, rtol=1e-4) for a, b in zip(*outs, strict=True))


class _Reader:
    """``CalibrationDataReader`` over a :class:`CalibrationSet`."""

    def __init__(self, blobs: Sequence[np.ndarray]):
        self._blobs = iter(blobs)

    def get_next(self):
        blob = next(self._blobs, None)
        return None if blob is None else {INPUT_NAME: blob}

    def rewind(self):  # pragma: no cover - not used by quantize_static's single pass
        raise NotImplementedError


def quantize_int8(
    fp32_path: str | os.PathLike,
    out_path: str | os.PathLike,
    contract: ModelContract,
    calibration: CalibrationSet,
    method: str = DEFAULT_CALIBRATION_METHOD,
) -> ModelContract:
    """Write the INT8 QDQ version of the FP32 export at ``fp32_path`` to ``out_path``.

    ``contract`` is the FP32 file's; the returned contract (also written into the file's
    metadata) has ``precision="int8"`` and the recipe in ``quantization``.
    """
    import dataclasses

    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if contract.precision != "fp32":
        raise QuantizationError(f"INT8 quantization starts from an FP32 export, not "
                                f"{contract.precision}")  # fmt: skip
    if method not in CALIBRATION_METHODS:
        raise QuantizationError(f"calibration method {method!r} not in {CALIBRATION_METHODS}")
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}  # fmt: skip
    recipe = (f"onnxruntime {_ort_version()} quantize_static QDQ, trunk and heatmap head's "
              f"first conv (its output conv, sigmoid, peak suppression, box/offset/re-ID heads "
              f"and embedding norm float32), weights int8 symmetric per channel, activations "
              f"uint8 {method} calibration on {calibration.describe()}")
    int8 = dataclasses.replace(contract, precision="int8", quantization=recipe)
    with tempfile.TemporaryDirectory(prefix="fairmot-int8-") as tmp:
        source = Path(fp32_path)
        folded = fold_channel_flip(onnx.load(str(source)))
        if folded is not None:
            source = Path(tmp) / "folded.onnx"
            onnx.save_model(folded, str(source))
            int8 = dataclasses.replace(int8, quantization=recipe.replace(
                "QDQ, ", "QDQ, BGR->RGB folded into the first conv, ", 1))  # fmt: skip
        prepared = Path(tmp) / "prepared.onnx"
        with _quiet():
            # Shape inference and graph optimisation first, as ONNX Runtime recommends; the
            # node names to quantize are read from the prepared graph (it renames some).
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        names = trunk_node_names(onnx.load(str(prepared)))
        quantized = Path(tmp) / "int8.onnx"
        with _quiet():
            quantize_static(
                str(prepared), str(quantized), _Reader(calibration.blobs),
                quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                nodes_to_quantize=names, calibrate_method=methods[method],
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )  # fmt: skip
        model = onnx.load(str(quantized))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, int8.to_metadata())
    model.doc_string = (f"FairMOT {int8.arch} (reid {int8.reid_dim}, int8) exported by "
                        f"fairmot_ros {int8.exporter_version}: {int8.quantization}")  # fmt: skip
    onnx.save_model(model, str(out_path))
    return int8


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


@contextlib.contextmanager
def _quiet():
    """ONNX Runtime's quantization tools log every step at INFO and print calibration
    progress; keep the command's output to its one line."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)
