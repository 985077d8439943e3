"""FairMOT ``hrnet_18``: HRNet-W18 (four parallel resolutions, repeated fusion), no DCN.

Names follow the original ``pose_hrnet`` with ``hrnet_w18.yaml`` (fairmot-spec section 3.5):
stem ``conv1``/``conv2``, ``layer1`` (four Bottlenecks), ``transition1..3`` and ``stage2..4``
built from ``HighResolutionModule``s whose ``branches`` and ``fuse_layers`` keep the original
nesting, so the state dict is key for key the original one. The stride-4 feature the heads read
is the concatenation of all four branches brought to branch 0's size bilinearly (270 channels).
Without DCN the network runs anywhere ONNX Runtime does; no released checkpoint fits the
current layout (the 2020 ``all_hrnet_v2_w18.pth`` is the legacy one, refused by the loader), so
the arch is here for own trainings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fairmot_ros.model.heads import FairMOTNet
from fairmot_ros.model.resdcn import ResBlock

BN_MOMENTUM = 0.01
WIDTHS = (18, 36, 72, 144)  # branch channels of HRNet-W18
STAGE_MODULES = (1, 4, 3)  # HighResolutionModules in stages 2, 3, 4
BLOCKS_PER_BRANCH = 4
STEM_CHANNELS = 64
LAYER1_BLOCKS = 4


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def _conv3x3(inplanes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 expansion), projection shortcut when the width changes."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int) -> None:
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = _bn(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if inplanes != width:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, width, 1, bias=False), _bn(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + residual)


def _fuse_layer(widths: tuple[int, ...], target: int, source: int) -> nn.Module | None:
    """What brings branch ``source`` to branch ``target``'s resolution and width.

    Coarser sources: 1x1 conv + BN, then nearest x2^(source - target). Finer sources: a chain of
    stride-2 3x3 convs, the last one without ReLU and changing the width."""
    if source == target:
        return None
    if source > target:
        return nn.Sequential(
            nn.Conv2d(widths[source], widths[target], 1, bias=False),
            _bn(widths[target]),
            nn.Upsample(scale_factor=2 ** (source - target), mode="nearest"),
        )
    steps: list[nn.Module] = []
    for k in range(target - source):
        last = k == target - source - 1
        out = widths[target] if last else widths[source]
        layers: list[nn.Module] = [_conv3x3(widths[source], out, stride=2), _bn(out)]
        if not last:
            layers.append(nn.ReLU(inplace=True))
        steps.append(nn.Sequential(*layers))
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """Parallel branches of basic residual blocks (``ResBlock``), then every branch receives
    the sum of all branches."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(ResBlock(w, w, momentum=BN_MOMENTUM) for _ in range(BLOCKS_PER_BRANCH)))
            for w in widths
        )
        count = len(widths)
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_layer(widths, i, j) for j in range(count)) for i in range(count)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for layers in self.fuse_layers:
            total = None
            for layer, x in zip(layers, xs, strict=True):
                part = x if layer is None else layer(x)
                total = part if total is None else total + part
            fused.append(self.relu(total))
        return fused


def _transition(previous: tuple[int, ...], widths: tuple[int, ...]) -> nn.ModuleList:
    """Adapt the branches of one stage to the next: kept branches change width only where
    needed (3x3 conv), the new branch comes from the coarsest one by a stride-2 3x3 conv."""
    layers: list[nn.Module | None] = []
    for i, width in enumerate(widths):
        if i < len(previous):
            layers.append(
                None if previous[i] == width else nn.Sequential(
                    _conv3x3(previous[i], width), _bn(width), nn.ReLU(inplace=True)
                )
            )  # fmt: skip
        else:
            layers.append(nn.Sequential(nn.Sequential(
                _conv3x3(previous[-1], width, stride=2), _bn(width), nn.ReLU(inplace=True)
            )))  # fmt: skip
    return nn.ModuleList(layers)


class PoseHighResolutionNet(FairMOTNet):
    """HRNet-W18 trunk; all four resolutions concatenated at stride 4 feed the heads."""

    arch = "hrnet_18"

    def __init__(self, reid_dim: int = 128, head_conv: int = 256) -> None:
        super().__init__()
        self.conv1 = _conv3x3(3, STEM_CHANNELS, stride=2)
        self.bn1 = _bn(STEM_CHANNELS)
        self.conv2 = _conv3x3(STEM_CHANNELS, STEM_CHANNELS, stride=2)
        self.bn2 = _bn(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        width = STEM_CHANNELS * Bottleneck.expansion
        self.layer1 = nn.Sequential(
            Bottleneck(STEM_CHANNELS, STEM_CHANNELS),
            *(Bottleneck(width, STEM_CHANNELS) for _ in range(1, LAYER1_BLOCKS)),
        )
        previous: tuple[int, ...] = (width,)
        for stage, modules in enumerate(STAGE_MODULES, start=2):
            widths = WIDTHS[:stage]
            setattr(self, f"transition{stage - 1}", _transition(previous, widths))
            setattr(self, f"stage{stage}",
                    nn.Sequential(*(HighResolutionModule(widths) for _ in range(modules))))
            previous = widths
        for module in self.modules():  # the original's initialisation without ImageNet weights
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.001)
        self._add_heads(sum(WIDTHS), reid_dim, head_conv)  # torch default weights, zero biases

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for stage in range(2, 2 + len(STAGE_MODULES)):
            transition = getattr(self, f"transition{stage - 1}")
            # kept branches pass through (or change width); a new one grows from the coarsest
            sources = [xs[min(i, len(xs) - 1)] for i in range(len(transition))]
            xs = [
                x if layer is None else layer(x)
                for layer, x in zip(transition, sources, strict=True)
            ]
            xs = getattr(self, f"stage{stage}")(xs)
        size = xs[0].shape[-2:]
        upsampled = [
            F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in xs[1:]
        ]
        return torch.cat([xs[0], *upsampled], dim=1)
