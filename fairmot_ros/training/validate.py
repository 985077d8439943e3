"""Detection quality of a torch model on held-out frames, for progress checks and selection.

Decoding mirrors inference (spec section 4: sigmoid, 3x3 peak suppression, ltrb + offset boxes,
``score > conf``), boxes are mapped back through the letterbox and matched one-to-one to the
ground truth at IoU >= 0.5. Precision, recall and F1 are enough to see whether a run learns.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fairmot_ros.preprocess import letterbox
from fairmot_ros.tracking.matching import iou_matrix


def decode_boxes(
    outputs: dict[str, torch.Tensor], conf: float, down_ratio: int = 4
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image: boxes (N, 4) x1, y1, x2, y2 in input pixels and scores (N,)."""
    heat = torch.sigmoid(outputs["hm"].float())
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    results = []
    for b in range(heat.shape[0]):
        ys, xs = torch.nonzero(peaks[b, 0] > conf, as_tuple=True)
        scores = peaks[b, 0, ys, xs]
        ltrb = outputs["wh"][b, :, ys, xs].float().T
        offset = outputs["reg"][b, :, ys, xs].float().T
        cx, cy = xs.float() + offset[:, 0], ys.float() + offset[:, 1]
        boxes = torch.stack(
            [cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], dim=1
        )
        results.append(((boxes * down_ratio).cpu().numpy(), scores.cpu().numpy()))
    return results


def match_count(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> int:
    """True positives of a one-to-one assignment maximising IoU (Hungarian via scipy)."""
    from scipy.optimize import linear_sum_assignment

    iou = iou_matrix(pred, truth)
    if not iou.size:
        return 0
    rows, cols = linear_sum_assignment(-iou)
    return int((iou[rows, cols] >= threshold).sum())


@torch.no_grad()
def evaluate_detection(
    model: torch.nn.Module,
    frames: np.ndarray,
    truth: list[np.ndarray],
    input_hw: tuple[int, int],
    conf: float = 0.4,
    batch_size: int = 8,
) -> dict[str, float]:
    """Precision / recall / F1 at IoU 0.5 of ``model`` over ``frames`` (BGR) vs ``truth``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    tp = n_pred = n_true = 0
    for start in range(0, len(frames), batch_size):
        chunk = [np.asarray(f) for f in frames[start : start + batch_size]]
        images, infos = [], []
        for image in chunk:
            boxed, info = letterbox(image, input_hw[0], input_hw[1])
            images.append(boxed[:, :, ::-1].transpose(2, 0, 1))
            infos.append(info)
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(images), dtype=np.float32) / 255.0)
        decoded = decode_boxes(model(batch.to(device)), conf)
        for (boxes, _), info, gt in zip(
            decoded, infos, truth[start : start + batch_size], strict=True
        ):
            boxes = boxes.copy()
            boxes[:, [0, 2]] = (boxes[:, [0, 2]] - info.pad_left) / info.ratio
            boxes[:, [1, 3]] = (boxes[:, [1, 3]] - info.pad_top) / info.ratio
            tp += match_count(boxes, gt)
            n_pred += len(boxes)
            n_true += len(gt)
    model.train(was_training)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "pred": n_pred,
            "truth": n_true}
