"""FairMOT ``resdcn_18`` / ``resdcn_34``: ResNet + three DCN/transposed-conv up-sampling stages.

Names follow the original ``PoseResNet`` (fairmot-spec section 3.5): torchvision-style
``conv1``/``bn1``/``layer1..4`` and ``deconv_layers`` whose slots 0, 6, 12 are the DCNs.
No released checkpoint exists; the arch is here for fine-tunes and ablations.
"""

from __future__ import annotations

import torch
from torch import nn

from fairmot_ros.model.dcn import DCN
from fairmot_ros.model.dla import fill_up_weights
from fairmot_ros.model.heads import FairMOTNet

BN_MOMENTUM = 0.1
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
DECONV_CHANNELS = (256, 128, 64)


class ResBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convs, projection shortcut when the shape changes
    (also HRNet's branch block, with its own BatchNorm momentum)."""

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, momentum: float = BN_MOMENTUM
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=momentum)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=momentum)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes, momentum=momentum),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


def _res_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [ResBlock(inplanes, planes, stride)]
    layers += [ResBlock(planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _deconv_layers(inplanes: int) -> nn.Sequential:
    """Three x2 stages of DCN -> BN -> ReLU -> ConvTranspose(4, s2) -> BN -> ReLU."""
    layers: list[nn.Module] = []
    for planes in DECONV_CHANNELS:
        up = nn.ConvTranspose2d(
            planes, planes, 4, stride=2, padding=1, output_padding=0, bias=False
        )
        fill_up_weights(up)
        layers += [
            DCN(inplanes, planes, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(planes, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
            up,
            nn.BatchNorm2d(planes, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        ]
        inplanes = planes
    return nn.Sequential(*layers)


class PoseResNetDCN(FairMOTNet):
    """ResNet-18/34 trunk (stride 32, 512 ch) lifted to stride 4 / 64 ch by the deconv stages."""

    def __init__(self, depth: int = 34, reid_dim: int = 128, head_conv: int = 256) -> None:
        super().__init__()
        if depth not in RESNET_BLOCKS:
            raise ValueError(
                f"resdcn depth {depth} unsupported; choose from {sorted(RESNET_BLOCKS)}"
            )
        self.arch = f"resdcn_{depth}"
        blocks = RESNET_BLOCKS[depth]
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _res_layer(64, 64, blocks[0], 1)
        self.layer2 = _res_layer(64, 128, blocks[1], 2)
        self.layer3 = _res_layer(128, 256, blocks[2], 2)
        self.layer4 = _res_layer(256, 512, blocks[3], 2)
        self.deconv_layers = _deconv_layers(512)
        self._add_heads(DECONV_CHANNELS[-1], reid_dim, head_conv, weight_std=0.001)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.deconv_layers(x)
