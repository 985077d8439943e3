"""BatchNorm recalibration sets running statistics to the average batch statistics."""

from __future__ import annotations

import torch
from torch import nn

from fairmot_ros.training.batchnorm import recalibrate_batchnorm


def test_running_stats_become_the_batch_average_and_weights_stay():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4, momentum=0.03)).eval()
    weights = [p.clone() for p in model.parameters()]
    batches = [{"input": torch.randn(2, 3, 5, 5) * (i + 1) + i} for i in range(3)]
    used = recalibrate_batchnorm(model, iter(batches), max_batches=2)
    assert used == 2 and not model.training
    bn = model[1]
    assert bn.momentum == 0.03
    with torch.no_grad():
        feats = [model[0](b["input"]) for b in batches[:2]]
    expected = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0)
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-5, atol=1e-5)
    for before, after in zip(weights, model.parameters(), strict=True):
        torch.testing.assert_close(before, after)
