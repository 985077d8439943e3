"""DLA-34 with deformable up-sampling (FairMOT's default ``dla_34``, fairmot-spec section 3.2).

Module and attribute names follow the original ``DLASeg`` so that ``fairmot_dla34.pth`` loads
strictly: ``base`` (the DLA-34 backbone incl. the unused ImageNet ``fc``), ``dla_up`` (three
IDAUp stages), ``ida_up`` (the final aggregation to stride 4) and the four heads.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fairmot_ros.model.dcn import DCN
from fairmot_ros.model.heads import FairMOTNet

BN_MOMENTUM = 0.1
DLA34_LEVELS = (1, 1, 1, 2, 2, 1)
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual the caller may supply (Tree passes its projection)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = _bn(planes)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if residual is None:
            residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Root(nn.Module):
    """1x1 conv + BN + ReLU over the channel concatenation of a tree's outputs."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=1, padding=0, bias=False)
        self.bn = _bn(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(torch.cat(xs, dim=1))))


class Tree(nn.Module):
    """Hierarchical DLA aggregation node (one or two levels deep for DLA-34).

    ``children`` collects the tensors the root concatenates after [x2, x1]: the pooled input
    when ``level_root`` and, for a two-level tree, the first sub-tree's output.
    """

    def __init__(
        self,
        levels: int,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        level_root: bool = False,
        root_dim: int = 0,
    ) -> None:
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * out_channels
        if level_root:
            root_dim += in_channels
        self.tree1: nn.Module
        self.tree2: nn.Module
        if levels == 1:
            self.tree1 = BasicBlock(in_channels, out_channels, stride)
            self.tree2 = BasicBlock(out_channels, out_channels, 1)
            self.root = Root(root_dim, out_channels)
        else:
            self.tree1 = Tree(levels - 1, in_channels, out_channels, stride, root_dim=0)
            self.tree2 = Tree(
                levels - 1, out_channels, out_channels, 1, root_dim=root_dim + out_channels
            )
        self.levels = levels
        self.level_root = level_root
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        self.project = None
        if in_channels != out_channels:
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False), _bn(out_channels)
            )

    def forward(
        self,
        x: torch.Tensor,
        residual: torch.Tensor | None = None,
        children: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        # ``residual`` from a parent is ignored: every tree recomputes its own (as DLA does).
        children = [] if children is None else children
        bottom = self.downsample(x) if self.downsample is not None else x
        residual = self.project(bottom) if self.project is not None else bottom
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, residual)
        if self.levels == 1:
            x2 = self.tree2(x1)
            return self.root(x2, x1, *children)
        children.append(x1)
        return self.tree2(x1, children=children)


def _conv_level(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        _bn(out_channels),
        nn.ReLU(inplace=True),
    )


class DLA34(nn.Module):
    """DLA-34 backbone returning the six level outputs (strides 1, 2, 4, 8, 16, 32)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        ch = DLA34_CHANNELS
        self.channels = ch
        self.base_layer = nn.Sequential(
            nn.Conv2d(3, ch[0], 7, stride=1, padding=3, bias=False),
            _bn(ch[0]),
            nn.ReLU(inplace=True),
        )
        self.level0 = _conv_level(ch[0], ch[0], 1)
        self.level1 = _conv_level(ch[0], ch[1], 2)
        self.level2 = Tree(DLA34_LEVELS[2], ch[1], ch[2], 2, level_root=False)
        self.level3 = Tree(DLA34_LEVELS[3], ch[2], ch[3], 2, level_root=True)
        self.level4 = Tree(DLA34_LEVELS[4], ch[3], ch[4], 2, level_root=True)
        self.level5 = Tree(DLA34_LEVELS[5], ch[4], ch[5], 2, level_root=True)
        # The ImageNet classifier: never used by FairMOT, but present in every DLA checkpoint.
        self.fc = nn.Conv2d(ch[5], num_classes, kernel_size=1, bias=True)
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not self.fc:
                fan = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan))
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = []
        x = self.base_layer(x)
        for i in range(6):
            x = getattr(self, f"level{i}")(x)
            levels.append(x)
        return levels


class DeformConv(nn.Module):
    """DCN 3x3 -> BN -> ReLU; ``actf`` is registered first, as in the checkpoints."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.actf = nn.Sequential(_bn(out_channels), nn.ReLU(inplace=True))
        self.conv = DCN(in_channels, out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actf(self.conv(x))


def fill_up_weights(up: nn.ConvTranspose2d) -> None:
    """Bilinear initialisation of a depthwise transposed conv (trained afterwards)."""
    weight = up.weight.data
    size = weight.size(2)
    f = math.ceil(size / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    coords = torch.arange(size, dtype=torch.float64)
    profile = 1 - torch.abs(coords / f - c)
    kernel = (profile[:, None] * profile[None, :]).to(weight.dtype)
    weight.copy_(kernel.expand_as(weight))


class IDAUp(nn.Module):
    """Iterative deep aggregation: lift layer i to ``out`` channels, upsample, fuse with i-1."""

    def __init__(self, out_channels: int, channels: list[int], up_factors: list[int]) -> None:
        super().__init__()
        for i in range(1, len(channels)):
            f = int(up_factors[i])
            proj = DeformConv(channels[i], out_channels)
            up = nn.ConvTranspose2d(
                out_channels,
                out_channels,
                f * 2,
                stride=f,
                padding=f // 2,
                output_padding=0,
                groups=out_channels,
                bias=False,
            )
            fill_up_weights(up)
            node = DeformConv(out_channels, out_channels)
            setattr(self, f"proj_{i}", proj)
            setattr(self, f"up_{i}", up)
            setattr(self, f"node_{i}", node)

    def forward(self, layers: list[torch.Tensor], startp: int, endp: int) -> None:
        """Update ``layers[startp + 1 : endp]`` in place."""
        for i in range(startp + 1, endp):
            k = i - startp
            lifted = getattr(self, f"up_{k}")(getattr(self, f"proj_{k}")(layers[i]))
            layers[i] = getattr(self, f"node_{k}")(lifted + layers[i - 1])


class DLAUp(nn.Module):
    """Three IDAUp stages that bring the deepest level down to stride 4, step by step."""

    def __init__(self, startp: int, channels: list[int], scales: list[int]) -> None:
        super().__init__()
        self.startp = startp
        in_channels = list(channels)
        scales = list(scales)
        for i in range(len(channels) - 1):
            j = -i - 2
            factors = [s // scales[j] for s in scales[j:]]
            setattr(self, f"ida_{i}", IDAUp(channels[j], in_channels[j:], factors))
            scales[j + 1 :] = [scales[j]] * len(scales[j + 1 :])
            in_channels[j + 1 :] = [channels[j]] * len(in_channels[j + 1 :])

    def forward(self, layers: list[torch.Tensor]) -> list[torch.Tensor]:
        layers = list(layers)
        out = [layers[-1]]
        for i in range(len(layers) - self.startp - 1):
            getattr(self, f"ida_{i}")(layers, len(layers) - i - 2, len(layers))
            out.insert(0, layers[-1])
        return out


class DLASeg(FairMOTNet):
    """FairMOT ``dla_34``: DLA-34 + DLAUp + IDAUp to a 64-channel stride-4 map, then heads."""

    arch = "dla_34"
    first_level = 2  # log2(down_ratio 4)
    last_level = 5

    def __init__(self, reid_dim: int = 128, head_conv: int = 256) -> None:
        super().__init__()
        self.base = DLA34()
        channels = list(self.base.channels)
        first, last = self.first_level, self.last_level
        scales = [2**i for i in range(len(channels[first:]))]
        self.dla_up = DLAUp(first, channels[first:], scales)
        self.ida_up = IDAUp(
            channels[first], channels[first:last], [2**i for i in range(last - first)]
        )
        self._add_heads(channels[first], reid_dim, head_conv)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        levels = self.dla_up(self.base(x))
        y = [levels[i] for i in range(self.last_level - self.first_level)]
        self.ida_up(y, 0, len(y))
        return y[-1]
