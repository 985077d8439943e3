"""The FairMOT output heads and the base class every backbone variant shares.

Each head is an attribute of the top-level network named after its output (``hm``, ``wh``,
``id``, ``reg``): ``Sequential(conv3x3(C_feat -> head_conv, bias), act, conv1x1(-> out, bias))``.
The attribute names and their registration order are what the original checkpoints expect, so
they are created here in one place for all archs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# Head name -> channels before the re-ID width is known; this order is the output order.
HEAD_ORDER = ("hm", "wh", "id", "reg")
HM_PRIOR_BIAS = -2.19  # sigmoid(-2.19) ~ 0.1: the CenterNet focal-loss prior used for training


def head_channels(reid_dim: int) -> dict[str, int]:
    """Channels per head in output order: heatmap 1, ltrb box 4, re-ID ``reid_dim``, offset 2."""
    return {"hm": 1, "wh": 4, "id": int(reid_dim), "reg": 2}


def make_head(
    in_channels: int, hidden: int, out_channels: int, activation: type[nn.Module]
) -> nn.Sequential:
    """conv3x3 -> activation -> conv1x1; the keys ``.0`` and ``.2`` match the checkpoints."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=True),
        activation(),
        nn.Conv2d(hidden, out_channels, kernel_size=1, padding=0, bias=True),
    )


class FairMOTNet(nn.Module):
    """Base of every arch: holds the heads and turns the stride-4 feature into the head dict.

    Subclasses build their trunk, call :meth:`_add_heads` last (so the heads come last in the
    state_dict, as in the checkpoints) and implement :meth:`features`.
    """

    arch: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.heads: dict[str, int] = {}
        self.head_conv = 0
        self.reid_dim = 0

    def _add_heads(
        self,
        in_channels: int,
        reid_dim: int,
        head_conv: int,
        activation: type[nn.Module] = nn.ReLU,
        registration_order: Sequence[str] = HEAD_ORDER,
        weight_std: float | None = None,
    ) -> None:
        """Create the heads with the original training init.

        The heatmap's last bias is -2.19; the other heads get zero biases and, with
        ``weight_std`` (the ResNet variants), N(0, std) weights; otherwise torch's default init.
        """
        self.heads = head_channels(reid_dim)
        self.head_conv = int(head_conv)
        self.reid_dim = int(reid_dim)
        for name in registration_order:
            head = make_head(in_channels, head_conv, self.heads[name], activation)
            if name == "hm":
                nn.init.constant_(head[-1].bias, HM_PRIOR_BIAS)
            else:
                for layer in (head[0], head[2]):
                    if weight_std is not None:
                        nn.init.normal_(layer.weight, std=weight_std)
                    nn.init.zeros_(layer.bias)
            self.add_module(name, head)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-4 feature map the heads read."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw head outputs (no sigmoid, no normalisation) for a (B, 3, H, W) RGB/255 batch."""
        feature = self.features(x)
        return {name: getattr(self, name)(feature) for name in self.heads}
