"""The network as deployed: pre-processing, head activations, peak suppression and top-K in-graph.

:class:`DeployWrapper` turns the raw-head network into exactly the outputs that
:mod:`fairmot_ros.contract` names, so the exported ONNX graph does all tensor work on the device
and the runtime only gathers peaks (dense outputs) or reads K rows (top-K outputs):

* input ``float32_rgb_nchw``: the original tensor; ``uint8_bgr_nhwc``: the letterboxed camera
  bytes, converted in-graph (BGR->RGB, NHWC->NCHW, /255) so only bytes cross to the GPU;
* ``heatmap = sigmoid(hm) * (maxpool3x3(sigmoid(hm)) == sigmoid(hm))`` (plateaus all survive);
* ``embedding = F.normalize(id, dim=1)`` (eps 1e-12), ``ltrb`` and ``offset`` unchanged;
* top-K: the K best heatmap cells, descending (ties: lower flat index first), their boxes
  ``(x + dx - l, y + dy - t, x + dx + r, y + dy + b)`` in grid units and their embeddings.

Post-processing runs in float32 even for an FP16 network, so every output is float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fairmot_ros.contract import INPUT_UINT8_BGR_NHWC, ModelContract

__all__ = ["DeployWrapper", "peak_heatmap", "topk_detections"]


def peak_heatmap(hm_logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid scores kept only at 3x3 local maxima (the original decoder's peak NMS)."""
    heat = torch.sigmoid(hm_logits)
    hmax = F.max_pool2d(heat, kernel_size=3, stride=1, padding=1)
    return heat * (hmax == heat).to(heat.dtype)


def topk_detections(
    heatmap: torch.Tensor,
    ltrb: torch.Tensor,
    offset: torch.Tensor,
    embedding: torch.Tensor,
    k: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores (B, K), boxes (B, K, 4) grid units, embeddings (B, K, D)) at the K best peaks."""
    b, _, h, w = heatmap.shape
    scores, index = torch.topk(heatmap.reshape(b, h * w), k, dim=1)
    xs = (index % w).to(heatmap.dtype)
    ys = torch.div(index, w, rounding_mode="floor").to(heatmap.dtype)

    def gather(dense: torch.Tensor) -> torch.Tensor:  # (B, C, h, w) -> (B, C, K)
        flat = dense.reshape(b, dense.shape[1], h * w)
        return flat.gather(2, index.unsqueeze(1).expand(b, dense.shape[1], k))

    lt_rb = gather(ltrb)
    off = gather(offset)
    cx = xs + off[:, 0]
    cy = ys + off[:, 1]
    boxes = torch.stack(
        (cx - lt_rb[:, 0], cy - lt_rb[:, 1], cx + lt_rb[:, 2], cy + lt_rb[:, 3]), dim=2
    )
    return scores, boxes, gather(embedding).transpose(1, 2)


class DeployWrapper(nn.Module):
    """Network + in-graph pre/post-processing for one :class:`ModelContract`.

    The wrapped network must already be in the contract's precision (``.half()`` for fp16);
    :func:`fairmot_ros.export.export_onnx` prepares it.
    """

    def __init__(self, model: nn.Module, contract: ModelContract) -> None:
        super().__init__()
        self.model = model
        self.contract = contract
        self.compute_dtype = torch.float16 if contract.precision == "fp16" else torch.float32
        self.uint8_input = contract.input_format == INPUT_UINT8_BGR_NHWC

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Contract input -> the network's (B, 3, H, W) RGB/255 tensor in compute precision."""
        if self.uint8_input:
            bgr_to_rgb = torch.tensor([2, 1, 0], device=images.device)
            images = images.index_select(3, bgr_to_rgb).permute(0, 3, 1, 2)
            images = images.to(torch.float32) / 255.0
        return images.to(self.compute_dtype)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        heads = self.model(self.preprocess(images))
        heatmap = peak_heatmap(heads["hm"].float())
        ltrb = heads["wh"].float()
        offset = heads["reg"].float()
        embedding = F.normalize(heads["id"].float(), p=2.0, dim=1, eps=1e-12)
        if self.contract.topk:
            return topk_detections(heatmap, ltrb, offset, embedding, self.contract.topk)
        return heatmap, ltrb, offset, embedding
