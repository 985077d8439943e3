"""FairMOT networks in plain PyTorch (no compiled extensions), loadable from the original weights.

``build_model(arch)`` returns a module whose ``forward`` maps a (B, 3, H, W) RGB/255 batch to the
raw heads ``{'hm', 'wh', 'id', 'reg'}`` at stride 4 (H and W multiples of 32). Sigmoid, peak
suppression and embedding normalisation belong to the export wrapper / runtime, not here, so
training and export share one definition.
"""

from __future__ import annotations

from torch import nn

from fairmot_ros.model.heads import HEAD_ORDER, FairMOTNet, head_channels

__all__ = [
    "ARCHS",
    "ARCH_ALIASES",
    "DEFAULT_HEAD_CONV",
    "DEFAULT_REID_DIM",
    "HEAD_ORDER",
    "FairMOTNet",
    "build_model",
    "canonical_arch",
    "head_channels",
]

ARCHS = ("dla_34", "yolov5s", "resdcn_18", "resdcn_34", "hrnet_18")
# Spellings of the original ``--arch`` option that name the same networks.
ARCH_ALIASES = {
    "yolo": "yolov5s", "yolo_0": "yolov5s", "yolov5": "yolov5s", "dla34": "dla_34",
    "hrnet18": "hrnet_18", "hrnet_w18": "hrnet_18",
}  # fmt: skip
DEFAULT_REID_DIM = {
    "dla_34": 128, "yolov5s": 64, "resdcn_18": 128, "resdcn_34": 128, "hrnet_18": 128,
}  # fmt: skip
DEFAULT_HEAD_CONV = {
    "dla_34": 256, "yolov5s": 64, "resdcn_18": 256, "resdcn_34": 256, "hrnet_18": 256,
}  # fmt: skip


def canonical_arch(arch: str) -> str:
    """Normalise an arch name (aliases, case); ValueError names the supported ones."""
    name = arch.strip().lower()
    name = ARCH_ALIASES.get(name, name)
    if name not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; supported: {', '.join(ARCHS)}")
    return name


def build_model(
    arch: str = "dla_34", reid_dim: int | None = None, head_conv: int | None = None
) -> nn.Module:
    """A freshly initialised FairMOT network (training init: heatmap bias -2.19).

    ``reid_dim`` and ``head_conv`` default to the arch's released configuration (128 / 256 for
    DLA, ResDCN and HRNet, 64 / 64 for yolov5s). The result has ``.arch``, ``.heads`` (name ->
    channels, output order), ``.reid_dim`` and ``.head_conv``.
    """
    name = canonical_arch(arch)
    reid = DEFAULT_REID_DIM[name] if reid_dim is None else int(reid_dim)
    hidden = DEFAULT_HEAD_CONV[name] if head_conv is None else int(head_conv)
    if reid <= 0 or hidden <= 0:
        raise ValueError(f"reid_dim ({reid}) and head_conv ({hidden}) must be positive")
    if name == "dla_34":
        from fairmot_ros.model.dla import DLASeg

        return DLASeg(reid_dim=reid, head_conv=hidden)
    if name == "yolov5s":
        from fairmot_ros.model.yolo import PoseYolo

        return PoseYolo(reid_dim=reid, head_conv=hidden)
    if name == "hrnet_18":
        from fairmot_ros.model.hrnet import PoseHighResolutionNet

        return PoseHighResolutionNet(reid_dim=reid, head_conv=hidden)
    from fairmot_ros.model.resdcn import PoseResNetDCN

    return PoseResNetDCN(depth=int(name.split("_")[1]), reid_dim=reid, head_conv=hidden)
