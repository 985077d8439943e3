"""FairMOT's light ``yolov5s`` variant: YOLOv5s backbone + PAN neck down to stride 4, no DCN.

Layer indices ``backbone.model.N`` are those of the original (fairmot-spec section 3.5) so the
released ``fairmot_yolov5s`` checkpoint loads strictly; parameter-free layers (upsample, concat)
keep their slots. Two deliberate differences that do not change the numbers:

* BatchNorm eps is 1e-3 and momentum 0.03 from construction (the original patched them later);
* ``Focus`` gathers its four pixel phases with a reshape/permute instead of strided slices,
  which the ONNX exporters and some runtimes reject (spec section 9).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fairmot_ros.model.heads import FairMOTNet

BN_EPS = 1e-3
BN_MOMENTUM = 0.03
HEAD_WIDTH = 64


class Conv(nn.Module):
    """Conv2d (no bias, 'same' padding) -> BN -> SiLU."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """Stack the 2x2 pixel phases on channels in Focus order without strided slicing.

    Phase order (row, col parity): (0, 0), (1, 0), (0, 1), (1, 1), i.e. phase index
    ``2 * col_parity + row_parity``; equal to ``cat([x[..., ::2, ::2], x[..., 1::2, ::2],
    x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)``.
    """
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2)  # (b, c, y, row parity, x, col parity)
    x = x.permute(0, 5, 3, 1, 2, 4)  # (b, col parity, row parity, c, y, x)
    return x.reshape(b, 4 * c, h // 2, w // 2)


class Focus(nn.Module):
    """Space-to-depth (stride 2) followed by a Conv over the 4x channels."""

    def __init__(self, c_in: int, c_out: int, k: int = 1) -> None:
        super().__init__()
        self.conv = Conv(c_in * 4, c_out, k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(space_to_depth(x))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 with an optional residual (only when shapes allow)."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = Conv(c_in, c_out, 1, 1)
        self.cv2 = Conv(c_out, c_out, 3, 1)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP block: cv3(concat[m(cv1(x)), cv2(x)])."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        hidden = c_out // 2
        self.cv1 = Conv(c_in, hidden, 1, 1)
        self.cv2 = Conv(c_in, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, c_out, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))


class SPP(nn.Module):
    """Spatial pyramid pooling: concat[x, maxpool5, maxpool9, maxpool13] of cv1(x), then cv2."""

    def __init__(self, c_in: int, c_out: int, kernels: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1, 1)
        self.cv2 = Conv(hidden * (len(kernels) + 1), c_out, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [pool(x) for pool in self.m], dim=1))


class Upsample(nn.Module):
    """Nearest-neighbour x2 (parameter-free slot in the layer list)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


class Concat(nn.Module):
    """Channel concatenation (parameter-free slot in the layer list)."""

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=1)


# (slot, source of the skip input) for the three concat layers of the neck.
_SKIPS = {12: 6, 16: 4, 20: 2}


class YoloBackbone(nn.Module):
    """YOLOv5s (depth 0.33, width 0.5) without Detect, ending at stride 4 with 64 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.ModuleList(
            [
                Focus(3, 32, 3),  # 0  /2
                Conv(32, 64, 3, 2),  # 1  /4
                C3(64, 64, 1),  # 2
                Conv(64, 128, 3, 2),  # 3  /8
                C3(128, 128, 3),  # 4
                Conv(128, 256, 3, 2),  # 5  /16
                C3(256, 256, 3),  # 6
                Conv(256, 512, 3, 2),  # 7  /32
                SPP(512, 512),  # 8
                C3(512, 512, 1, shortcut=False),  # 9
                Conv(512, 256, 1, 1),  # 10
                Upsample(),  # 11 /16
                Concat(),  # 12 [x, 6]
                C3(512, 256, 1, shortcut=False),  # 13
                Conv(256, 128, 1, 1),  # 14
                Upsample(),  # 15 /8
                Concat(),  # 16 [x, 4]
                C3(256, 128, 1, shortcut=False),  # 17
                Conv(128, 64, 1, 1),  # 18
                Upsample(),  # 19 /4
                Concat(),  # 20 [x, 2]
                C3(128, 64, 1, shortcut=False),  # 21
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        saved: dict[int, torch.Tensor] = {}
        keep = set(_SKIPS.values())
        for index, layer in enumerate(self.model):
            x = layer([x, saved[_SKIPS[index]]]) if index in _SKIPS else layer(x)
            if index in keep:
                saved[index] = x
        return x


class PoseYolo(FairMOTNet):
    """FairMOT ``yolov5s``: the YOLOv5s trunk, then SiLU heads of width 64 (hm, id, reg, wh)."""

    arch = "yolov5s"

    def __init__(self, reid_dim: int = 64, head_conv: int = HEAD_WIDTH) -> None:
        super().__init__()
        self.backbone = YoloBackbone()
        # The original registers the heads in sorted order, which is the checkpoint key order.
        self._add_heads(
            64, reid_dim, head_conv, nn.SiLU, registration_order=sorted(("hm", "wh", "id", "reg"))
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)
