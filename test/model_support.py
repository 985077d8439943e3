"""Helpers for the model/export tests: original-layout checkpoints from the reference tables and a
small numpy decoder written from the spec (section 4), independent of the package's own code."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

# arch -> reference table in ../shared/data/fairmot
TSV_FILES = {
    "dla_34": "dla34_state_dict.tsv",
    "yolov5s": "yolov5s_state_dict.tsv",
    "resdcn_18": "resdcn_18_state_dict.tsv",
    "resdcn_34": "resdcn_34_state_dict.tsv",
    "hrnet_18": "hrnet18_state_dict.tsv",
}


def read_tsv(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) rows of a state-dict table; 'scalar' is the shape ()."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        name, shape = line.split("\t")
        rows.append((name, () if shape == "scalar" else tuple(int(v) for v in shape.split("x"))))
    return rows


def random_state_dict(
    rows: list[tuple[str, tuple[int, ...]]], seed: int = 0
) -> OrderedDict[str, torch.Tensor]:
    """Random values shaped like a trained network, so that float32 rounding stays far below
    the test tolerances: He-scaled convs, plausible BatchNorm statistics, deformable offsets of
    about a pixel that depend only weakly on the features (random features are rough, so strong
    offset feedback would amplify rounding from layer to layer), O(1) regression outputs and a
    heatmap with distinct peaks around the training prior."""
    gen = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, shape in rows:
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(1000, dtype=torch.long)
        elif name.endswith("running_var"):
            state[name] = 0.5 + torch.rand(shape, generator=gen)
        elif name.endswith("running_mean"):
            state[name] = 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            gain = 2.0**0.5
            if "conv_offset_mask" in name:
                gain = 0.1
            elif name in ("wh.2.weight", "id.2.weight", "reg.2.weight"):
                gain *= 0.25
            elif name == "hm.2.weight":
                gain *= 2.0
            state[name] = gain / fan_in**0.5 * torch.randn(shape, generator=gen)
        elif name.endswith("conv_offset_mask.bias"):
            state[name] = torch.randn(shape, generator=gen)  # ~1 px offsets, masks 0.3-0.7
        elif name == "hm.2.bias":
            state[name] = torch.full(shape, -2.19)  # the training prior: few cells above 0.4
        elif name.endswith("weight"):  # BatchNorm scale
            state[name] = 0.5 + torch.rand(shape, generator=gen)
        else:  # biases
            state[name] = 0.1 * torch.randn(shape, generator=gen)
    return state


def write_original_checkpoint(
    path: Path,
    state: OrderedDict[str, torch.Tensor],
    prefix: str = "module.",
    epoch: int = 30,
    with_optimizer: bool = True,
) -> Path:
    """Save ``state`` in the original container, with key prefixes and an Adam state."""
    container: dict = {
        "epoch": epoch,
        "state_dict": OrderedDict((prefix + k, v) for k, v in state.items()),
    }
    if with_optimizer:
        params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))]
        opt = torch.optim.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 1e-5}])
        params[0].grad = torch.ones(3)
        params[1].grad = torch.ones(2)
        opt.step()
        container["optimizer"] = opt.state_dict()
    torch.save(container, path)
    return path


def reference_dense(heads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw heads -> contract dense outputs per spec section 4 (sigmoid, 3x3 peaks, L2)."""
    heat = 1.0 / (1.0 + np.exp(-heads["hm"].astype(np.float64)))
    padded = np.pad(heat, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    h, w = heat.shape[-2:]
    window = np.stack([padded[..., i : i + h, j : j + w] for i in range(3) for j in range(3)])
    peaks = np.where(window.max(axis=0) == heat, heat, 0.0)
    ids = heads["id"].astype(np.float64)
    norm = np.maximum(np.sqrt((ids**2).sum(axis=1, keepdims=True)), 1e-12)
    return {
        "heatmap": peaks,
        "ltrb": heads["wh"].astype(np.float64),
        "offset": heads["reg"].astype(np.float64),
        "embedding": ids / norm,
    }


def numpy_topk(dense: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """Top-K peaks of dense outputs (ties: lower flat index first) -> scores, grid boxes, embs."""
    heat = dense["heatmap"]
    b, _, h, w = heat.shape
    flat = heat.reshape(b, h * w)
    order = np.argsort(-flat, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(flat, order, axis=1)
    ys, xs = np.divmod(order, w)

    def gather(name: str) -> np.ndarray:  # (B, C, K)
        maps = dense[name].reshape(b, dense[name].shape[1], h * w)
        return np.take_along_axis(maps, order[:, None, :], axis=2)

    lt, off = gather("ltrb"), gather("offset")
    cx, cy = xs + off[:, 0], ys + off[:, 1]
    boxes = np.stack([cx - lt[:, 0], cy - lt[:, 1], cx + lt[:, 2], cy + lt[:, 3]], axis=2)
    return {
        "det_scores": scores,
        "det_boxes": boxes,
        "det_embeddings": gather("embedding").transpose(0, 2, 1),
    }


def decode_frame(dense: dict[str, np.ndarray], index: int, conf: float, k: int = 500) -> dict:
    """One frame's thresholded detections in grid units, best first (spec section 4)."""
    one = {name: value[index : index + 1] for name, value in dense.items()}
    top = numpy_topk(one, min(k, one["heatmap"].size))
    keep = top["det_scores"][0] > conf
    return {name: value[0][keep] for name, value in top.items()}
