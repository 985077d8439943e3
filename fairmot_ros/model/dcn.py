"""Modulated deformable convolution (DCNv2) in plain torch, exportable as ONNX ``DeformConv``.

Why plain torch: the original FairMOT needs a compiled DCNv2 extension that breaks with every
torch/CUDA release and cannot be exported. Here the sampling is a ``grid_sample`` over all kernel
taps followed by one matrix product, which runs on any device, is differentiable for training,
and follows DCNv2's arithmetic (fairmot-spec section 3.2.4):

* offset channel ``2k`` is the row (y) and ``2k + 1`` the column (x) displacement of tap
  ``k = i * kw + j``; mask channel ``k`` modulates that tap;
* the tap samples ``(h_out * stride - pad + i * dil + dy, w_out * stride - pad + j * dil + dx)``
  bilinearly with zeros outside the image: a point contributes only when ``-1 < h < H`` and
  ``-1 < w < W``, and each of its four neighbours is bounds-checked on its own.

For export the same call is routed through the custom op ``fairmot::deform_conv2d`` whose ONNX
translation is the opset-19 ``DeformConv`` operator (same offset and mask layout), so ONNX Runtime
runs the real kernel on CPU and CUDA.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DCN",
    "deform_conv2d",
    "deform_conv2d_reference",
    "onnx_deform_conv_mode",
    "onnx_translation_table",
]

_EXPORT_STATE = {"onnx_op": False}


def _sampling_grid(
    offset: torch.Tensor,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: int,
    padding: int,
    dilation: int,
) -> torch.Tensor:
    """The ``grid_sample`` grid (B, taps * Ho, Wo, 2) for every kernel tap's sampling point.

    ``align_corners=True`` maps normalised -1 / +1 onto the first / last pixel centre, so pixel
    coordinate p becomes ``2 p / (size - 1) - 1``; zero padding then reproduces DCNv2's
    per-neighbour bounds check exactly.
    """
    b, _, h_out, w_out = offset.shape
    kh, kw = kernel
    taps = kh * kw
    height, width = in_hw
    dtype, device = offset.dtype, offset.device
    off = offset.reshape(b, taps, 2, h_out, w_out)
    rows = torch.arange(h_out, device=device, dtype=dtype) * stride - padding
    cols = torch.arange(w_out, device=device, dtype=dtype) * stride - padding
    tap_i = torch.arange(kh, device=device, dtype=dtype).repeat_interleave(kw) * dilation
    tap_j = torch.arange(kw, device=device, dtype=dtype).repeat(kh) * dilation
    py = rows.view(1, 1, h_out, 1) + tap_i.view(1, taps, 1, 1) + off[:, :, 0]
    px = cols.view(1, 1, 1, w_out) + tap_j.view(1, taps, 1, 1) + off[:, :, 1]
    gy = py * (2.0 / (height - 1)) - 1.0
    gx = px * (2.0 / (width - 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)  # (B, taps, Ho, Wo, 2), x first for grid_sample
    return grid.reshape(b, taps * h_out, w_out, 2)


def deform_conv2d_reference(
    x: torch.Tensor,
    weight: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 1,
    dilation: int = 1,
) -> torch.Tensor:
    """Modulated deformable convolution as composite torch ops (autograd-friendly).

    Shapes: x (B, Ci, H, W), weight (Co, Ci, kh, kw), offset (B, 2*kh*kw, Ho, Wo),
    mask (B, kh*kw, Ho, Wo) already passed through the sigmoid, bias (Co,).
    """
    b, c_in, height, width = x.shape
    c_out, _, kh, kw = weight.shape
    taps = kh * kw
    h_out, w_out = offset.shape[-2:]
    if height == 1 or width == 1:
        # align_corners=True scales by (size - 1), which collapses a 1-pixel axis onto its only
        # pixel; one extra zero row/column is exactly the zero padding DCNv2 samples there.
        x = F.pad(x, (0, int(width == 1), 0, int(height == 1)))
        height, width = x.shape[-2:]
    grid = _sampling_grid(offset, (height, width), (kh, kw), stride, padding, dilation)
    sampled = F.grid_sample(
        x, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=True
    )  # (B, Ci, taps * Ho, Wo)
    sampled = sampled.view(b, c_in, taps, h_out, w_out) * mask.view(b, 1, taps, h_out, w_out)
    columns = sampled.reshape(b, c_in * taps, h_out * w_out)
    out = torch.matmul(weight.reshape(c_out, c_in * taps), columns)
    out = out.view(b, c_out, h_out, w_out)
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1)
    return out


@torch.library.custom_op("fairmot::deform_conv2d", mutates_args=())
def _deform_conv2d_op(
    x: torch.Tensor,
    weight: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    bias: torch.Tensor,
    stride: int,
    padding: int,
    dilation: int,
) -> torch.Tensor:
    """Opaque op that the ONNX exporter translates to ``DeformConv``; eager value = reference."""
    return deform_conv2d_reference(x, weight, offset, mask, bias, stride, padding, dilation)


@_deform_conv2d_op.register_fake
def _deform_conv2d_fake(x, weight, offset, mask, bias, stride, padding, dilation):
    return x.new_empty((x.shape[0], weight.shape[0], offset.shape[2], offset.shape[3]))


def deform_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 1,
    dilation: int = 1,
) -> torch.Tensor:
    """Modulated deformable convolution; the ONNX op while exporting, composite ops otherwise."""
    if _EXPORT_STATE["onnx_op"]:
        if bias is None:
            bias = weight.new_zeros(weight.shape[0])
        return _deform_conv2d_op(x, weight, offset, mask, bias, stride, padding, dilation)
    return deform_conv2d_reference(x, weight, offset, mask, bias, stride, padding, dilation)


@contextlib.contextmanager
def onnx_deform_conv_mode() -> Iterator[None]:
    """Route every :func:`deform_conv2d` call through the exportable custom op."""
    previous = _EXPORT_STATE["onnx_op"]
    _EXPORT_STATE["onnx_op"] = True
    try:
        yield
    finally:
        _EXPORT_STATE["onnx_op"] = previous


def onnx_translation_table(opset: int = 19) -> dict:
    """``custom_translation_table`` for ``torch.onnx.export(dynamo=True)``: op -> DeformConv."""
    if opset < 19:
        raise ValueError(f"DeformConv needs ONNX opset >= 19, got {opset}")
    import onnxscript  # only needed at export time

    op = onnxscript.values.Opset("", opset)

    def deform_conv(x, weight, offset, mask, bias, stride: int, padding: int, dilation: int):
        # kernel_shape is inferred from the weight; group/offset_group are 1 as in DCNv2's DCN.
        return op.DeformConv(
            x,
            weight,
            offset,
            bias,
            mask,
            strides=[stride, stride],
            pads=[padding, padding, padding, padding],
            dilations=[dilation, dilation],
            group=1,
            offset_group=1,
        )

    return {torch.ops.fairmot.deform_conv2d.default: deform_conv}


class DCN(nn.Module):
    """DCNv2's ``DCN`` layer: a conv predicting offsets and masks, then the deformable conv.

    Parameter names (``weight``, ``bias``, ``conv_offset_mask.weight/bias``) are those of the
    original checkpoints. ``conv_offset_mask`` outputs 27 channels for a 3x3 kernel: 0-8 and 9-17
    are concatenated into the 18 offsets, 18-26 go through a sigmoid to form the masks.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        taps = kernel_size * kernel_size
        self.conv_offset_mask = nn.Conv2d(
            in_channels,
            3 * taps,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=True,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """DCNv2's init: uniform(+-1/sqrt(fan_in)) weights, zero bias, zero offsets/masks."""
        fan_in = self.in_channels * self.kernel_size * self.kernel_size
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = self.kernel_size * self.kernel_size
        out = self.conv_offset_mask(x)
        offset = out[:, : 2 * taps]  # concat(o1, o2) is just the first 2*taps channels
        mask = torch.sigmoid(out[:, 2 * taps :])
        return deform_conv2d(
            x, self.weight, offset, mask, self.bias, self.stride, self.padding, self.dilation
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}"
        )
