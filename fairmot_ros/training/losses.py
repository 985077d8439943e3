"""FairMOT losses (spec section 6): focal heatmap loss, L1 offset/size, identity classification.

``FairMOTLoss`` owns the identity classifier and the two uncertainty parameters because they
are trained with the network but are not part of the exported model. Two weightings exist:

* ``uncertainty`` (the default for DLA/ResNet/HRNet): ``0.5 (e^-s_det det + e^-s_id id +
  s_det + s_id)`` with s_det = -1.85 and s_id = -1.05 at start;
* ``fix`` (the yolov5s recipe): ``det + 0.1 id``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

S_DET_INIT = -1.85
S_ID_INIT = -1.05
MULTI_LOSSES = ("uncertainty", "fix")


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet focal loss (alpha 2, beta 4) on clamped sigmoid scores, per positive."""
    pred = torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)
    target = target.float()
    pos = target.eq(1).float()
    neg = 1.0 - pos
    pos_loss = (torch.log(pred) * (1 - pred).pow(2) * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred.pow(2) * (1 - target).pow(4) * neg).sum()
    num_pos = pos.sum()
    if num_pos == 0:
        return -neg_loss
    return -(pos_loss + neg_loss) / num_pos


def gather_at(feature: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) values at flat indices ``ind`` (B, K) -> (B, K, C)."""
    batch, channels = feature.shape[:2]
    flat = feature.reshape(batch, channels, -1)
    return flat.gather(2, ind.unsqueeze(1).expand(-1, channels, -1)).permute(0, 2, 1)


def reg_l1_loss(
    output: torch.Tensor, mask: torch.Tensor, ind: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Sum of |pred - target| at object centres / (objects x channels + 1e-4)."""
    pred = gather_at(output.float(), ind)
    weight = mask.unsqueeze(2).expand_as(pred).float()
    loss = F.l1_loss(pred * weight, target.float() * weight, reduction="sum")
    return loss / (weight.sum() + 1e-4)


class FairMOTLoss(nn.Module):
    """The full training objective; returns the total and each term for logging."""

    def __init__(
        self,
        reid_dim: int,
        num_ids: int,
        multi_loss: str = "uncertainty",
        wh_weight: float = 0.1,
        hm_weight: float = 1.0,
        off_weight: float = 1.0,
        id_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if multi_loss not in MULTI_LOSSES:
            raise ValueError(f"multi_loss {multi_loss!r} not in {MULTI_LOSSES}")
        if num_ids < 1:
            raise ValueError("training needs at least one identity")
        self.multi_loss = multi_loss
        self.wh_weight, self.hm_weight = wh_weight, hm_weight
        self.off_weight, self.id_weight = off_weight, id_weight
        self.num_ids = num_ids
        # JDE's scale: makes softmax over normalised embeddings sharp enough to learn.
        self.emb_scale = math.sqrt(2) * math.log(num_ids - 1) if num_ids > 2 else 1.0
        self.classifier = nn.Linear(reid_dim, num_ids)
        self.s_det = nn.Parameter(torch.full((1,), S_DET_INIT))
        self.s_id = nn.Parameter(torch.full((1,), S_ID_INIT))

    def forward(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        hm_loss = focal_loss(outputs["hm"], batch["hm"])
        wh_loss = reg_l1_loss(outputs["wh"], batch["reg_mask"], batch["ind"], batch["wh"])
        off_loss = reg_l1_loss(outputs["reg"], batch["reg_mask"], batch["ind"], batch["reg"])
        det_loss = (
            self.hm_weight * hm_loss + self.wh_weight * wh_loss + self.off_weight * off_loss
        )
        mask = batch["reg_mask"] > 0
        embeddings = gather_at(outputs["id"].float(), batch["ind"])[mask]
        id_target = batch["ids"][mask]
        if id_target.numel() and bool((id_target >= 0).any()):
            embeddings = self.emb_scale * F.normalize(embeddings, dim=1)
            logits = self.classifier(embeddings)
            id_loss = F.cross_entropy(logits, id_target, ignore_index=-1)
        else:
            id_loss = outputs["id"].sum() * 0.0
        if self.multi_loss == "uncertainty":
            total = 0.5 * (
                torch.exp(-self.s_det) * det_loss
                + torch.exp(-self.s_id) * id_loss
                + self.s_det
                + self.s_id
            ).squeeze()
        else:
            total = det_loss + 0.1 * id_loss
        stats = {
            "loss": float(total.detach()),
            "hm_loss": float(hm_loss.detach()),
            "wh_loss": float(wh_loss.detach()),
            "off_loss": float(off_loss.detach()),
            "id_loss": float(id_loss.detach()),
        }
        return total, stats
