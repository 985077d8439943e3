"""Modulated deformable convolution: DCNv2 semantics (spec 3.2.4) and the ONNX DeformConv path."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest
import torch

from fairmot_ros.model.dcn import (
    DCN,
    deform_conv2d,
    deform_conv2d_reference,
    onnx_deform_conv_mode,
    onnx_translation_table,
)


def loop_dcn(x, weight, offset, mask, bias, stride, pad, dil):
    """DCNv2's im2col arithmetic, one sample at a time, in float64 (independent reference)."""
    x, weight = x.double().numpy(), weight.double().numpy()
    offset, mask, bias = offset.double().numpy(), mask.double().numpy(), bias.double().numpy()
    batch, _, height, width = x.shape
    c_out, _, kh, kw = weight.shape
    h_out, w_out = offset.shape[-2:]

    def bilinear(img, h, w):
        if not (-1 < h < height and -1 < w < width):
            return np.zeros(img.shape[0])
        h0, w0 = math.floor(h), math.floor(w)
        lh, lw = h - h0, w - w0
        value = np.zeros(img.shape[0])
        for yy, xx, wt in (
            (h0, w0, (1 - lh) * (1 - lw)),
            (h0, w0 + 1, (1 - lh) * lw),
            (h0 + 1, w0, lh * (1 - lw)),
            (h0 + 1, w0 + 1, lh * lw),
        ):
            if 0 <= yy < height and 0 <= xx < width:
                value += wt * img[:, yy, xx]
        return value

    out = np.zeros((batch, c_out, h_out, w_out))
    for n in range(batch):
        for ho in range(h_out):
            for wo in range(w_out):
                cols = np.zeros((x.shape[1], kh, kw))
                for i in range(kh):
                    for j in range(kw):
                        k = i * kw + j
                        h = ho * stride - pad + i * dil + offset[n, 2 * k, ho, wo]
                        w = wo * stride - pad + j * dil + offset[n, 2 * k + 1, ho, wo]
                        cols[:, i, j] = bilinear(x[n], h, w) * mask[n, k, ho, wo]
                out[n, :, ho, wo] = np.tensordot(weight, cols, axes=3) + bias
    return out


@pytest.mark.parametrize(
    ("height", "width", "stride", "pad", "dil"),
    [(5, 7, 1, 1, 1), (6, 6, 2, 1, 1), (7, 5, 1, 2, 2), (1, 6, 1, 1, 1), (1, 1, 1, 1, 1)],
)
def test_matches_loop_reference(height, width, stride, pad, dil):
    gen = torch.Generator().manual_seed(height * 100 + width)
    x = torch.randn(2, 3, height, width, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    bias = torch.randn(4, generator=gen, dtype=torch.float64)
    h_out = (height + 2 * pad - dil * 2 - 1) // stride + 1
    w_out = (width + 2 * pad - dil * 2 - 1) // stride + 1
    offset = 3 * torch.randn(2, 18, h_out, w_out, generator=gen, dtype=torch.float64)
    # Points exactly on and just inside the -1 < h < H validity bounds, and far outside.
    offset[0, 0, 0, 0], offset[0, 1, 0, 0] = -1.0 + pad, 0.25
    offset[0, 2, 0, 0], offset[0, 3, 0, 0] = -0.999 + pad, -0.5
    offset[1, 16, -1, -1], offset[1, 17, -1, -1] = 40.0, -40.0
    mask = torch.rand(2, 9, h_out, w_out, generator=gen, dtype=torch.float64)
    want = loop_dcn(x, weight, offset, mask, bias, stride, pad, dil)
    got = deform_conv2d_reference(x, weight, offset, mask, bias, stride, pad, dil).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_float32_close_to_float64_on_a_feature_map_sized_input():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 8, 40, 72, generator=gen)
    weight = torch.randn(8, 8, 3, 3, generator=gen) / 8
    offset = 5 * torch.randn(1, 18, 40, 72, generator=gen)
    mask = torch.rand(1, 9, 40, 72, generator=gen)
    single = deform_conv2d_reference(x, weight, offset, mask, None)
    double = deform_conv2d_reference(x.double(), weight.double(), offset.double(), mask.double())
    assert torch.max(torch.abs(single.double() - double)) < 1e-4


def test_dcn_module_splits_offsets_and_sigmoid_masks():
    torch.manual_seed(0)
    layer = DCN(5, 6).double()
    torch.nn.init.normal_(layer.conv_offset_mask.weight, std=0.5)
    torch.nn.init.normal_(layer.conv_offset_mask.bias, std=1.0)
    x = torch.randn(1, 5, 6, 9, dtype=torch.float64)
    raw = layer.conv_offset_mask(x)
    o1, o2, m = raw[:, :9], raw[:, 9:18], raw[:, 18:]
    want = loop_dcn(
        x, layer.weight.detach(), torch.cat([o1, o2], 1).detach(),
        torch.sigmoid(m).detach(), layer.bias.detach(), 1, 1, 1,
    )  # fmt: skip
    np.testing.assert_allclose(layer(x).detach().numpy(), want, atol=1e-9)


def test_zero_offsets_and_unit_masks_reduce_to_a_plain_convolution():
    torch.manual_seed(1)
    x = torch.randn(2, 4, 7, 8)
    weight = torch.randn(3, 4, 3, 3)
    bias = torch.randn(3)
    got = deform_conv2d(x, weight, torch.zeros(2, 18, 7, 8), torch.ones(2, 9, 7, 8), bias)
    want = torch.nn.functional.conv2d(x, weight, bias, padding=1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_gradients_reach_input_weights_and_offsets():
    torch.manual_seed(2)
    layer = DCN(3, 4)
    torch.nn.init.normal_(layer.conv_offset_mask.weight, std=0.3)
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    layer(x).square().sum().backward()
    assert x.grad is not None and torch.any(x.grad != 0)
    assert torch.any(layer.weight.grad != 0)
    assert torch.any(layer.conv_offset_mask.weight.grad != 0)


def _export_dcn(layer: torch.nn.Module, x: torch.Tensor, path) -> ort.InferenceSession:
    with onnx_deform_conv_mode(), torch.no_grad():
        program = torch.onnx.export(
            layer, (x,), dynamo=True, opset_version=19, verbose=False,
            custom_translation_table=onnx_translation_table(19),
        )  # fmt: skip
    program.save(str(path))
    ops = {node.op_type for node in program.model_proto.graph.node}
    assert "DeformConv" in ops
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("half", [False, True], ids=["fp32", "fp16"])
def test_onnx_deformconv_matches_torch(tmp_path, half):
    torch.manual_seed(4)
    layer = DCN(8, 16).eval()
    torch.nn.init.normal_(layer.conv_offset_mask.weight, std=0.3)
    torch.nn.init.normal_(layer.conv_offset_mask.bias, std=1.0)
    x = torch.randn(2, 8, 12, 20)
    with torch.no_grad():
        want = layer(x).numpy()
    model, feed = (layer, x)
    if half:
        model, feed = (layer.half(), x.half())
    session = _export_dcn(model, feed, tmp_path / "dcn.onnx")
    got = session.run(None, {session.get_inputs()[0].name: feed.numpy()})[0].astype(np.float32)
    # FP16 (measured ~2e-3 here): 10-bit mantissa on inputs, weights, offsets and the sum.
    atol = 2e-2 if half else 1e-5
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def test_translation_table_needs_opset_19():
    with pytest.raises(ValueError, match="opset"):
        onnx_translation_table(18)
