"""A checkpoint written by fairmot-train loads strictly, exports, and resumes training."""

from __future__ import annotations

import json

import onnx
import pytest
import torch
from training_support import make_mot_folder

from fairmot_ros.export import main as export_main
from fairmot_ros.model import build_model
from fairmot_ros.model.checkpoint import load_checkpoint
from fairmot_ros.training.cli import build_parser, init_weights, lr_at
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


def test_init_loads_weights_only_and_fine_tunes_with_colour_variety(tmp_path, capsys):
    seq = make_mot_folder(tmp_path / "toy", frames=4)
    _train(tmp_path, seq, "--epochs", "1")
    first = tmp_path / "run" / "model_last.pth"
    model = build_model("yolov5s", reid_dim=16)
    init_weights(model, str(first))
    saved = torch.load(first, map_location="cpu", weights_only=True)["state_dict"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[key])

    args = ["--arch", "yolov5s", "--reid-dim", "16", "--input-size", "64x64", "--data", str(seq),
            "--batch-size", "2", "--threads", "1", "--epochs", "1", "--color-jitter",
            "--init", str(first), "--out", str(tmp_path / "tuned")]
    assert train_main(args) == 0
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["color_jitter"] is True and config["init"] == str(first)
    tuned = torch.load(tmp_path / "tuned" / "model_last.pth", map_location="cpu",
                       weights_only=True)
    assert tuned["epoch"] == 1  # a new schedule, not the source run's
    assert tuned["train_state"]["global_step"] == 2

    wrong = args[:3] + ["32"] + args[4:-1] + [str(tmp_path / "wrong")]
    assert train_main(wrong) == 2
    assert "do not match" in capsys.readouterr().err


def test_bad_data_is_a_clean_error(tmp_path, capsys):
    code = train_main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "not found" in capsys.readouterr().err


def test_composites_and_degradation_train_from_the_command_line(tmp_path, capsys):
    seq = make_mot_folder(tmp_path / "toy", frames=6)
    _train(tmp_path, seq, "--epochs", "1", "--paste", "2", "--degrade")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["paste"] == 2 and config["degrade"] is True
    assert "cut-outs" in capsys.readouterr().out
    steps = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(steps) == 3 and all(s["loss"] > 0 for s in steps)


def test_time_limit_ends_at_an_epoch_and_resume_follows_the_same_trajectory(tmp_path, capsys):
    seq = make_mot_folder(tmp_path / "toy", frames=4)
    common = ["--arch", "yolov5s", "--reid-dim", "16", "--input-size", "64x64", "--data",
              str(seq), "--batch-size", "2", "--lr-step", "2", "--threads", "1", "--epochs", "3",
              "--bn-recalibration", "1", "--keep-every", "2"]
    assert train_main([*common, "--out", str(tmp_path / "whole")]) == 0
    assert sorted(p.name for p in (tmp_path / "whole").glob("model_*.pth")) == [
        "model_2.pth", "model_3.pth", "model_last.pth"]  # every 2nd, lr step, last

    split = tmp_path / "split"
    assert train_main([*common, "--time-limit", "1e-9", "--out", str(split)]) == 0
    assert "stopping after epoch 1" in capsys.readouterr().out
    last = split / "model_last.pth"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 1
    assert train_main([*common, "--time-limit", "1e-9", "--resume", str(last),
                       "--out", str(split)]) == 0
    assert train_main([*common, "--resume", str(last), "--out", str(split)]) == 0
    whole = torch.load(tmp_path / "whole" / "model_last.pth", map_location="cpu",
                       weights_only=True)
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    assert resumed["epoch"] == 3 and resumed["train_state"]["global_step"] == 6
    for name in ("state_dict", "loss_state"):
        for key, value in whole[name].items():
            torch.testing.assert_close(resumed[name][key], value, rtol=0, atol=0)
    losses = [[json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]
              for run in (tmp_path / "whole", split)]
    assert losses[0] == losses[1]


def test_bad_run_limits_are_clean_errors(tmp_path, capsys):
    seq = make_mot_folder(tmp_path / "toy", frames=4)
    for flag, value in (("--keep-every", "0"), ("--time-limit", "-1"), ("--time-limit", "nan")):
        code = train_main(["--data", str(seq), "--input-size", "64x64", flag, value,
                           "--out", str(tmp_path / "o")])
        assert code == 2
        assert flag in capsys.readouterr().err


def test_scale_range_option_parses_and_refuses_bad_ranges(capsys):
    base = ["--data", "pets:1-2"]
    assert build_parser().parse_args(base).scale_range is None
    assert build_parser().parse_args([*base, "--scale-range", "0.5,4"]).scale_range == (0.5, 4.0)
    for bad in ("4,0.5", "0,2", "1", "a,b", "1,inf"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*base, "--scale-range", bad])
        assert "scale range" in capsys.readouterr().err
