"""``fairmot-export --int8``: static QDQ quantization, its contract, the engine taking the file,
the calibration source rules (and calibration frames seen at other scales), and re-exporting an
exported file.

One tiny random yolov5s (128x96, uint8 input) is exported FP16 once; the INT8 and FP32 files
are made from that file, as the shipped INT8 model is made from the shipped FP16 one, with
calibration frames from a small synthetic image folder.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from fairmot_ros.contract import ModelContract
from fairmot_ros.engine import Engine
from fairmot_ros.export import main
from fairmot_ros.quantize import (
    CalibrationSet,
    QuantizationError,
    _check_pets_range,
    calibration_frames,
    parse_calibration_scales,
    trunk_node_names,
)
from fairmot_ros.sequences import MotSequence, locate_pets_video

SIZE = "128x96"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8")
    frames = folder / "frames"
    frames.mkdir()
    rng = np.random.default_rng(3)
    for index in range(1, 9):
        image = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (5, 5), 0)
        cv2.imwrite(str(frames / f"{index:06d}.png"), image)
    fp16 = folder / "fp16.onnx"
    assert main(["--random-weights", "yolov5s", "--input-size", SIZE, "--fp16",
                 "--uint8-input", "--reid-dim", "16", "-o", str(fp16), "--no-compare"]) == 0
    int8 = folder / "int8.onnx"
    assert main([str(fp16), "-o", str(int8), "--int8", "--calibration", f"{frames}:2-7",
                 "--calibration-frames", "3"]) == 0  # fmt: skip
    fp32 = folder / "fp32.onnx"
    assert main([str(fp16), "-o", str(fp32)]) == 0
    return {"folder": folder, "frames": frames, "fp16": fp16, "int8": int8, "fp32": fp32}


def _contract(path) -> ModelContract:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return ModelContract.from_metadata(props, str(path))


def test_int8_contract_and_graph(files):
    contract = _contract(files["int8"])
    assert contract.precision == "int8" and contract.arch == "yolov5s"
    assert (contract.input_width, contract.input_height) == (128, 96)  # from the source file
    assert contract.input_format == "uint8_bgr_nhwc" and contract.reid_dim == 16
    assert "QDQ" in contract.quantization and "per channel" in contract.quantization
    assert "3 frames of" in contract.quantization and "(2,4,7)" in contract.quantization
    model = onnx.load(str(files["int8"]))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dequant = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    int8_weights = [n for n in dequant if weights.get(n.input[0], np.zeros(0)).dtype == np.int8]
    assert len(int8_weights) >= 50  # every trunk convolution
    assert all(weights[n.input[1]].size > 1 for n in int8_weights)  # a scale per channel
    producer = {out: node for node in model.graph.node for out in node.output}
    heads = [n for n in model.graph.node if n.op_type == "Conv"
             and any(h in n.input[1] for h in ("hm.", "wh.", "reg.", "id."))]  # fmt: skip
    assert len(heads) == 8
    for conv in heads:  # the heads keep float weights, but for the heatmap's 3x3 conv
        quantized = conv.input[1] not in weights
        assert quantized == ("hm.0." in conv.input[1]), conv.input[1]
        assert quantized or weights[conv.input[1]].dtype == np.float32
    assert all(producer[o.name].op_type != "QuantizeLinear" for o in model.graph.output)
    # The uint8 input's BGR->RGB Gather is folded into the first convolution's weights.
    assert "BGR->RGB folded" in contract.quantization
    assert not any(n.op_type == "Gather" for n in model.graph.node)
    assert 5e5 < files["int8"].stat().st_size < 0.5 * files["fp32"].stat().st_size


def test_engine_runs_int8_with_the_heads_at_the_peaks(files):
    peaks = Engine(files["int8"], providers=["cpu"], threads=1)
    dense = Engine(files["int8"], providers=["cpu"], threads=1, heads_at_peaks=False)
    assert peaks.heads == "at_peaks" and peaks.contract.precision == "int8"
    image = cv2.imread(str(files["frames"] / "000001.png"))
    blob = image[None]
    trunk = peaks.run(blob)
    full = dense.run(blob)
    np.testing.assert_array_equal(trunk["heatmap"], full["heatmap"])
    ys, xs = np.nonzero(full["heatmap"][0, 0] > 0)
    ltrb, offset, raw = peaks.peak_heads.evaluate(trunk["head_features"][0], ys, xs)
    np.testing.assert_allclose(ltrb, full["ltrb"][0][:, ys, xs], atol=1e-4)
    np.testing.assert_allclose(offset, full["offset"][0][:, ys, xs], atol=1e-4)
    embedding = raw / np.linalg.norm(raw, axis=0, keepdims=True)
    np.testing.assert_allclose(embedding, full["embedding"][0][:, ys, xs], atol=1e-4)
    reference = Engine(files["fp32"], providers=["cpu"], threads=1, heads_at_peaks=False)
    want = reference.run(blob)
    assert np.abs(full["embedding"] - want["embedding"]).max() < 0.5  # same network, coarser


def test_reexport_of_an_export_keeps_its_function(files):
    contract = _contract(files["fp32"])
    assert contract.precision == "fp32" and contract.input_format == "uint8_bgr_nhwc"
    blob = cv2.imread(str(files["frames"] / "000003.png"))[None]
    a = Engine(files["fp16"], providers=["cpu"], threads=1, heads_at_peaks=False).run(blob)
    b = Engine(files["fp32"], providers=["cpu"], threads=1, heads_at_peaks=False).run(blob)
    for name in ("ltrb", "offset", "embedding"):
        assert np.abs(a[name] - b[name]).max() < 0.02, name


def test_channel_flip_fold_is_exact_in_float(files):
    import onnxruntime as ort

    from fairmot_ros.quantize import fold_channel_flip

    model = onnx.load(str(files["fp32"]))
    folded = fold_channel_flip(model)
    assert folded is not None
    assert [n.op_type for n in model.graph.node].count("Gather") == 1
    assert [n.op_type for n in folded.graph.node].count("Gather") == 0
    blob = cv2.imread(str(files["frames"] / "000005.png"))[None]
    outs = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            .run(None, {"images": blob}) for m in (model, folded)]  # fmt: skip
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_trunk_stops_at_the_heads(files):
    model = onnx.load(str(files["fp32"]))
    names = set(trunk_node_names(model))
    ops = {n.name: n for n in model.graph.node}
    assert ops[next(iter(n for n in ops if n in names))].op_type == "Conv"
    reads = {i for n in names for i in ops[n].input}
    assert not any(h in i for i in reads for h in ("hm.2.", "id.", "wh.", "reg."))
    assert any("hm.0." in i for i in reads)  # the heatmap head's 3x3 conv is quantized too


@pytest.mark.parametrize(("argv", "words"), [
    (["--int8"], "needs --calibration"),
    (["--int8", "--fp16", "--calibration", "x"], "exclude each other"),
    (["--calibration", "x"], "is for --int8"),
    (["--int8", "--calibration", "/nonexistent/seq"], "not found"),
    (["--int8", "--calibration", "FRAMES", "--topk", "5"], "dense outputs"),
    (["--int8", "--calibration", "FRAMES", "--calibration-frames", "0"], "must be >= 1"),
    (["--int8", "--calibration", "FRAMES", "--calibration-scales", "1,0"], "outside"),
    (["--int8", "--calibration", "FRAMES", "--calibration-scales", "1,two"], "not a number"),
    (["--int8", "--calibration", "FRAMES", "--calibration-scales", "1,nan"], "outside"),
    (["--int8", "--calibration", "FRAMES", "--calibration-scales", "2,1,2"], "repeats"),
    (["--int8", "--calibration", "FRAMES", "--calibration-scales", ""], "not a number"),
    (["--calibration-scales", "1,2"], "is for --int8"),
])  # fmt: skip
def test_bad_int8_requests_are_one_line(files, capsys, tmp_path, argv, words):
    argv = [str(files["frames"]) if a == "FRAMES" else a for a in argv]
    try:
        code = main([str(files["fp16"]), "-o", str(tmp_path / "x.onnx"), *argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and words in err, err
    assert not (tmp_path / "x.onnx").exists()


def test_int8_of_an_int8_file_is_refused(files, capsys, tmp_path):
    code = main([str(files["int8"]), "-o", str(tmp_path / "y.onnx")])
    assert code == 1 and "quantized already" in capsys.readouterr().err


@pytest.mark.parametrize(("first", "last", "ok"), [(1, 400, True), (1, 20, True),
                                                   (350, 450, False), (401, 795, False),
                                                   (1, 0, False)])  # fmt: skip
def test_pets_calibration_stays_in_the_training_frames(tmp_path, first, last, ok):
    sequence = MotSequence(tmp_path / "vtest.avi", None, first, last, 10.0, 768, 576,
                           "PETS09-S2L1")  # fmt: skip
    if ok:
        _check_pets_range(sequence, f"pets:{first}-{last}")
    else:
        with pytest.raises(QuantizationError, match="training frames 1-400"):
            _check_pets_range(sequence, f"pets:{first}-{last}")


def _small_input(path) -> ModelContract:
    """``path``'s contract with a 64x64 input, so that calibration frames are really
    letterboxed (shrunk and padded) rather than copied."""
    import dataclasses

    return dataclasses.replace(_contract(path), input_width=64, input_height=64)


def test_calibration_at_scale_2_is_the_letterboxed_view_of_the_scale_sweep(files):
    from fairmot_ros.evaluation.scales import scale_sequence
    from fairmot_ros.preprocess import letterbox, to_input_tensor
    from fairmot_ros.sequences import open_sequence

    contract = _small_input(files["fp16"])
    spec = f"{files['frames']}:2-7"
    calibration = calibration_frames(spec, 3, contract, scales=(1, 2))
    assert calibration.frames == (2, 4, 7) and calibration.scales == (1.0, 2.0)
    assert len(calibration.blobs) == 6  # frame by frame: 2@1, 2@2, 4@1, 4@2, 7@1, 7@2

    def blob(image):
        padded, _ = letterbox(image, contract.input_height, contract.input_width)
        return to_input_tensor(padded, contract.input_format)

    swept = dict(scale_sequence(open_sequence(spec), 2.0).frames())  # the sweep's 2x frames
    for k, index in enumerate(calibration.frames):
        image = cv2.imread(str(files["frames"] / f"{index:06d}.png"))
        np.testing.assert_array_equal(calibration.blobs[2 * k], blob(image))
        np.testing.assert_array_equal(calibration.blobs[2 * k + 1], blob(swept[index]))
        assert not np.array_equal(calibration.blobs[2 * k], calibration.blobs[2 * k + 1])
    # 2x by hand: the centred half-size window (32-96, 24-72) of the frame, doubled.
    image = cv2.imread(str(files["frames"] / "000004.png"))
    doubled = cv2.resize(image[24:72, 32:96], (128, 96), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(calibration.blobs[3], blob(doubled))


def test_default_calibration_is_the_frames_as_recorded(files):
    contract = _small_input(files["fp16"])
    spec = f"{files['frames']}:2-7"
    default = calibration_frames(spec, 3, contract)
    ones = calibration_frames(spec, 3, contract, scales=[1])
    assert default.scales == ones.scales == (1.0,) and len(default.blobs) == 3
    for a, b in zip(default.blobs, ones.blobs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert default.describe() == ones.describe() == f"3 frames of {spec} (2,4,7)"


def test_explicit_scale_1_writes_the_same_file(files, tmp_path):
    again = tmp_path / "int8_scale1.onnx"
    assert main([str(files["fp16"]), "-o", str(again), "--int8", "--calibration",
                 f"{files['frames']}:2-7", "--calibration-frames", "3",
                 "--calibration-scales", "1"]) == 0  # fmt: skip
    assert again.read_bytes() == files["int8"].read_bytes()


def test_scales_are_in_the_recipe(files, tmp_path, capsys):
    out = tmp_path / "int8_scales.onnx"
    assert main([str(files["fp16"]), "-o", str(out), "--int8", "--calibration",
                 f"{files['frames']}:2-7", "--calibration-frames", "3",
                 "--calibration-scales", "1,1.5,3"]) == 0  # fmt: skip
    recipe = _contract(out).quantization
    assert recipe.endswith("minmax calibration on 3 frames of "
                           f"{files['frames']}:2-7 (2,4,7), each at scales 1,1.5,3 (centred "
                           "scale views, 9 inputs)"), recipe  # fmt: skip
    assert "each at scales 1,1.5,3" in capsys.readouterr().out
    assert "scales" not in _contract(files["int8"]).quantization
    assert out.read_bytes() != files["int8"].read_bytes()


def test_describe_names_the_scales():
    blobs = tuple(np.zeros((1, 2, 2, 3), np.uint8) for _ in range(4))
    assert (CalibrationSet(blobs, "pets:1-400", (1, 400), (1.0, 0.5)).describe()
            == "2 frames of pets:1-400 (1,400), each at scales 1,0.5 (centred scale views, "
               "4 inputs)")  # fmt: skip
    assert CalibrationSet(blobs[:2], "x", (3, 9)).describe() == "2 frames of x (3,9)"


@pytest.mark.parametrize(("text", "words"), [
    ("0.05", "outside"), ("1,11", "outside"), ("inf", "outside"), ("1;2", "not a number"),
    ("1,,2", "not a number"), ("1,2,1.0", "repeats"),
])  # fmt: skip
def test_bad_calibration_scales_are_refused(files, text, words):
    with pytest.raises(QuantizationError, match=words):
        parse_calibration_scales(text)
    assert parse_calibration_scales(" 1, 1.5 ,2,3") == (1.0, 1.5, 2.0, 3.0)
    with pytest.raises(QuantizationError, match="none given"):
        calibration_frames(f"{files['frames']}:2-7", 3, _small_input(files["fp16"]), scales=())
    with pytest.raises(QuantizationError, match="outside"):
        calibration_frames(f"{files['frames']}:2-7", 3, _small_input(files["fp16"]),
                           scales=(1, 0))  # fmt: skip


@pytest.mark.skipif(locate_pets_video() is None, reason="PETS09-S2L1 video not present")
@pytest.mark.parametrize("spec", ["pets:401-795", "pets:390-410", "pets"])
def test_pets_calibration_at_other_scales_stays_in_the_training_frames(files, spec):
    with pytest.raises(QuantizationError, match="training frames 1-400"):
        calibration_frames(spec, 5, _small_input(files["fp16"]), scales=(1, 2, 3))
