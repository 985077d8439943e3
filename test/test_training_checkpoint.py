"""A checkpoint written by fairmot-train loads strictly, exports, and resumes training."""

from __future__ import annotations

import json

import onnx
import torch
from training_support import make_mot_folder

from fairmot_ros.export import main as export_main
from fairmot_ros.model.checkpoint import load_checkpoint
from fairmot_ros.training.cli import lr_at
from fairmot_ros.training.cli import main as train_main


def _train(tmp_path, seq, *extra):
    args = ["--arch", "yolov5s", "--reid-dim", "16", "--input-size", "64x64",
            "--data", str(seq), "--batch-size", "2", "--lr-step", "1", "--threads", "1",
            "--out", str(tmp_path / "run"), *extra]
    assert train_main(args) == 0


def test_train_checkpoint_loads_strictly_exports_and_resumes(tmp_path):
    seq = make_mot_folder(tmp_path / "toy", frames=4)
    _train(tmp_path, seq, "--epochs", "1")
    run = tmp_path / "run"
    last = run / "model_last.pth"
    assert (run / "model_1.pth").is_file()
    model, info = load_checkpoint(last)
    assert (info.arch, info.reid_dim, info.epoch, info.has_optimizer) == ("yolov5s", 16, 1, True)
    container = torch.load(last, map_location="cpu", weights_only=True)
    assert set(container["loss_state"]) == {"classifier.weight", "classifier.bias", "s_det",
                                            "s_id"}
    assert container["train_state"]["num_ids"] == 2
    steps = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2]
    assert {"hm_loss", "wh_loss", "off_loss", "id_loss", "loss"} <= set(steps[0])

    onnx_path = tmp_path / "toy.onnx"
    assert export_main([str(last), "-o", str(onnx_path), "--input-size", "64x64",
                        "--no-compare"]) == 0
    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert meta["fairmot.arch"] == "yolov5s" and meta["fairmot.reid_dim"] == "16"

    _train(tmp_path, seq, "--epochs", "2", "--resume", str(last))
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    assert resumed["epoch"] == 2
    steps = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2, 3, 4]
    assert steps[-1]["lr"] == lr_at(2, 5e-4, [1]) == 5e-5


def test_bad_data_is_a_clean_error(tmp_path, capsys):
    code = train_main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "not found" in capsys.readouterr().err
