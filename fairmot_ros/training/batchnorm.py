"""Re-estimate BatchNorm running statistics from training batches.

With few optimiser steps (short CPU runs) and the slow yolov5s BN momentum (0.03), the running
means and variances lag behind the weights, so eval-mode outputs differ from what training
saw: the heatmap can stay below the detection threshold although train-mode outputs are
right. Averaging the batch statistics of a few forward passes with the final weights fixes
that without changing any weight. Only training data is used.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], max_batches: int
) -> int:
    """Reset BN statistics and set them to the plain average over ``max_batches`` batches.

    Returns the number of batches used; the model is left in its previous train/eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or max_batches <= 0:
        return 0
    saved = [(m, m.momentum) for m in norms]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: equal weight per batch
    model.train()
    device = next(model.parameters()).device
    used = 0
    try:
        for batch in batches:
            model(batch["input"].to(device))
            used += 1
            if used >= max_batches:
                break
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.train(was_training)
    return used
