"""The FairMOT losses: known values on tiny maps, and learning on a tiny batch for every arch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fairmot_ros.model import ARCHS, build_model
from fairmot_ros.training.losses import FairMOTLoss, focal_loss, reg_l1_loss
from fairmot_ros.training.targets import build_targets


def test_focal_loss_hand_value():
    # One positive (gt 1) with p = 0.5, one negative with gt 0.5 and p = 0.2.
    logits = torch.tensor([[[[0.0, math.log(0.2 / 0.8)]]]])
    target = torch.tensor([[[[1.0, 0.5]]]])
    pos = -math.log(0.5) * 0.5**2
    neg = -math.log(0.8) * 0.2**2 * 0.5**4
    assert float(focal_loss(logits, target)) == pytest.approx(pos + neg, rel=1e-5)


def test_focal_loss_clamps_confident_logits():
    target = torch.zeros(1, 1, 2, 2)
    target[0, 0, 0, 0] = 1
    value = float(focal_loss(torch.full((1, 1, 2, 2), -100.0), target))
    assert math.isfinite(value) and value == pytest.approx(-math.log(1e-4), rel=1e-3)


def test_reg_l1_normalised_by_objects_times_channels():
    output = torch.zeros(1, 2, 2, 2)
    output[0, :, 1, 1] = torch.tensor([1.0, 3.0])
    ind = torch.tensor([[3, 0]])
    mask = torch.tensor([[1, 0]], dtype=torch.uint8)
    target = torch.tensor([[[0.0, 1.0], [9.0, 9.0]]])
    assert float(reg_l1_loss(output, mask, ind, target)) == pytest.approx(3 / (2 + 1e-4))


def test_uncertainty_weighting_initial_values_and_formula():
    loss = FairMOTLoss(reid_dim=8, num_ids=5, multi_loss="uncertainty", wh_weight=0.1)
    assert loss.s_det.item() == pytest.approx(-1.85) and loss.s_id.item() == pytest.approx(-1.05)
    assert loss.emb_scale == pytest.approx(math.sqrt(2) * math.log(4))
    torch.manual_seed(0)
    batch = _tiny_batch()
    outputs = {"hm": torch.randn(2, 1, 16, 16), "wh": torch.randn(2, 4, 16, 16),
               "reg": torch.rand(2, 2, 16, 16), "id": torch.randn(2, 8, 16, 16)}
    total, stats = loss(outputs, batch)
    det = stats["hm_loss"] + 0.1 * stats["wh_loss"] + stats["off_loss"]
    expected = 0.5 * (math.exp(1.85) * det + math.exp(1.05) * stats["id_loss"] - 1.85 - 1.05)
    assert total.item() == pytest.approx(expected, rel=1e-5)
    fixed = FairMOTLoss(reid_dim=8, num_ids=5, multi_loss="fix", wh_weight=0.1)
    fixed.classifier.load_state_dict(loss.classifier.state_dict())
    assert fixed(outputs, batch)[0].item() == pytest.approx(det + 0.1 * stats["id_loss"], rel=1e-5)
    with pytest.raises(ValueError):
        FairMOTLoss(8, 5, multi_loss="sum")


def _tiny_batch(size: int = 64, reid: int = 8):
    rng = np.random.default_rng(0)
    images, targets = [], []
    for b in range(2):
        image = np.full((3, size, size), 0.5, np.float32)
        boxes = []
        for k in range(2):
            x, y = rng.integers(4, size - 24, 2)
            colour = np.array([0.1 * (k + 1), 0.9, 0.2 * b], np.float32)
            image[:, y : y + 20, x : x + 10] = colour[:, None, None]
            boxes.append([x, y, x + 10, y + 20])
        images.append(image)
        targets.append(build_targets(np.array(boxes), np.array([2 * b, 2 * b + 1]),
                                     (size // 4, size // 4), max_objects=8).as_dict())
    batch = {k: torch.from_numpy(np.stack([t[k] for t in targets])) for k in targets[0]}
    batch["input"] = torch.from_numpy(np.stack(images))
    return batch


# Each arch with its recipe's weighting; yolov5s also with the other one.
CASES = [(arch, "fix" if arch == "yolov5s" else "uncertainty") for arch in ARCHS]
CASES.append(("yolov5s", "uncertainty"))


@pytest.mark.parametrize(("arch", "multi_loss"), CASES)
def test_loss_decreases_on_a_tiny_batch(arch, multi_loss):
    torch.manual_seed(0)
    reid = 8
    # BatchNorm in eval mode: with two 64x64 images its batch statistics are too noisy for a
    # five-step check; the gradients still reach every layer.
    model = build_model(arch, reid_dim=reid).eval()
    loss_fn = FairMOTLoss(reid, num_ids=4, multi_loss=multi_loss)
    optimizer = torch.optim.Adam(
        [{"params": model.parameters()}, {"params": loss_fn.parameters()}], lr=2e-4
    )
    batch = _tiny_batch(reid=reid)
    values = []
    for _ in range(5):
        total, stats = loss_fn(model(batch["input"]), batch)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        values.append(stats["loss"])
        assert set(stats) == {"loss", "hm_loss", "wh_loss", "off_loss", "id_loss"}
    assert all(math.isfinite(v) for v in values)
    assert values[-1] < values[0]
