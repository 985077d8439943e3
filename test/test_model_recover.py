"""Weights recovered from an exported ONNX file give back the exported network, and their
unfolded BatchNorms are calibrated so that training starts from that same network."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from model_support import random_state_dict
from training_support import make_mot_folder

from fairmot_ros.contract import ContractError, ModelContract
from fairmot_ros.export import export_onnx
from fairmot_ros.model import build_model
from fairmot_ros.model.recover import calibrate_unfolded_batchnorm, load_exported_weights
from fairmot_ros.training.cli import main as train_main

HEIGHT, WIDTH = 64, 96


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A yolov5s network with trained-looking random weights and its FP32 export."""
    model = build_model("yolov5s", reid_dim=16)
    rows = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    model.load_state_dict(random_state_dict(rows, seed=3), strict=True)
    model.eval()
    path = tmp_path_factory.mktemp("recover") / "net.onnx"
    export_onnx(model, path, ModelContract("yolov5s", HEIGHT, WIDTH, reid_dim=16))
    return model, path


def _images(seed: int, batch: int = 4) -> torch.Tensor:
    return torch.rand((batch, 3, HEIGHT, WIDTH), generator=torch.Generator().manual_seed(seed))


def _heads(model, images) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model(images)


def test_recovered_weights_are_the_exported_network_before_and_after_calibration(exported):
    original, path = exported
    recovered = build_model("yolov5s", reid_dim=16)
    norms = load_exported_weights(recovered, path, "yolov5s")
    assert len(norms) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in recovered.modules())
    recovered.eval()
    images = _images(0)
    want = _heads(original, images)
    for name, value in _heads(recovered, images).items():
        torch.testing.assert_close(value, want[name], atol=1e-4, rtol=1e-4)
    assert calibrate_unfolded_batchnorm(recovered, norms, [_images(1)], max_batches=4) == 1
    assert not recovered.training  # the caller's mode is kept
    for name, value in _heads(recovered, images).items():
        torch.testing.assert_close(value, want[name], atol=1e-4, rtol=1e-4)
    # the running statistics are the calibration batch's own: in train mode, which normalises
    # by the batch statistics, every BatchNorm sees that mean and variance, so training starts
    # from the exported network
    seen = {}

    def observe(module, inputs, _output):
        x = inputs[0].double()
        seen[id(module)] = (x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False))

    hooks = [n.register_forward_hook(observe) for n in norms]
    running = [(n.running_mean.clone(), n.running_var.clone()) for n in norms]
    recovered.train()
    _heads(recovered, _images(1))
    for hook in hooks:
        hook.remove()
    for norm, (mean, var) in zip(norms, running, strict=True):
        batch_mean, batch_var = seen[id(norm)]
        torch.testing.assert_close(batch_mean.float(), mean, atol=2e-3, rtol=2e-3)
        torch.testing.assert_close(batch_var.float(), var, atol=2e-3, rtol=2e-3)


def test_uncalibrated_unfolded_batchnorm_would_change_the_training_network(exported):
    _, path = exported
    recovered = build_model("yolov5s", reid_dim=16)
    load_exported_weights(recovered, path, "yolov5s")
    recovered.train()
    train_mode = _heads(recovered, _images(1))
    recovered.eval()
    eval_mode = _heads(recovered, _images(1))
    assert (train_mode["hm"] - eval_mode["hm"]).abs().max() > 0.1


def test_a_file_that_is_not_this_networks_export_is_refused(exported, tmp_path):
    _, path = exported
    relabelled = onnx.load(str(path))
    for prop in relabelled.metadata_props:
        if prop.key == "fairmot.arch":
            prop.value = "dla_34"
    onnx.save(relabelled, str(tmp_path / "dla.onnx"))
    with pytest.raises(ContractError, match="is an export of dla_34, not yolov5s"):
        load_exported_weights(build_model("yolov5s", reid_dim=16), tmp_path / "dla.onnx", "yolov5s")
    for arch in ("resdcn_18", "hrnet_18"):
        with pytest.raises(ContractError, match=f"yolov5s only; {arch}'s folded BatchNorms"):
            load_exported_weights(build_model(arch, reid_dim=16), path, arch)
    wrong_dim = r"id\.2\.weight is \(16, 64, 1, 1\), the network has \(32"
    with pytest.raises(ContractError, match=wrong_dim):
        load_exported_weights(build_model("yolov5s", reid_dim=32), path, "yolov5s")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ContractError, match="not a readable ONNX model"):
        load_exported_weights(build_model("yolov5s", reid_dim=16), junk, "yolov5s")


def test_train_fine_tunes_an_export_with_colour_identities(exported, tmp_path, capsys):
    _, path = exported
    seq = make_mot_folder(tmp_path / "toy", frames=6, size=(HEIGHT, WIDTH))
    args = ["--arch", "yolov5s", "--reid-dim", "16", "--input-size", f"{WIDTH}x{HEIGHT}",
            "--data", str(seq), "--batch-size", "2", "--threads", "1", "--epochs", "1",
            "--color-jitter", "--color-identities", "3", "--paste", "2", "--init", str(path),
            "--out", str(tmp_path / "tuned")]
    assert train_main(args) == 0
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert (config["color_identities"], config["real_ids"], config["num_ids"]) == (3, 2, 6)
    tuned = torch.load(tmp_path / "tuned" / "model_last.pth", map_location="cpu",
                       weights_only=True)
    assert tuned["loss_state"]["classifier.weight"].shape == (6, 16)
    steps = [json.loads(line) for line in (tmp_path / "tuned" / "log.jsonl").read_text()
             .splitlines()]
    assert steps and all(np.isfinite(s["loss"]) for s in steps)
    capsys.readouterr()
    assert train_main(args[:-1] + [str(tmp_path / "bad"), "--color-identities", "1"]) == 2
    assert "--color-identities 1" in capsys.readouterr().err
    start = args.index("--color-jitter")
    plain = args[:start] + args[start + 1 : start + 3] + args[start + 5 : -1]  # no jitter, paste
    assert "--paste" not in plain and "--color-identities" in plain
    assert train_main(plain + [str(tmp_path / "bad2")]) == 2
    assert "needs --color-jitter or --paste" in capsys.readouterr().err
