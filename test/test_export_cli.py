"""fairmot-export on bad input: a one-line error naming the problem and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from fairmot_ros.export import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    torch.save({"epoch": 1, "state_dict": {"w": torch.zeros(1000)}}, folder / "good.pth")
    data = (folder / "good.pth").read_bytes()
    (folder / "truncated.pth").write_bytes(data[: len(data) // 2])
    (folder / "readme.pth").write_text("weights are elsewhere\n")
    (folder / "a_file").write_text("x")
    return folder


def _run(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.pth"], "checkpoint not found"),
        (["truncated.pth"], "truncated or corrupt"),
        (["readme.pth"], "not a PyTorch checkpoint"),
        (["good.pth"], "cannot tell the arch"),
        (["good.pth", "--arch", "hrnet_99"], "unknown arch 'hrnet_99'"),
        (["--random-weights", "resnet_50"], "unknown arch 'resnet_50'"),
        (["good.pth", "--random-weights", "dla_34"], "either CHECKPOINT or --random-weights"),
        ([], "no CHECKPOINT given"),
        (["good.pth", "--input-size", "1000x600"], "must be positive multiples of 32"),
        (["good.pth", "--input-size", "large"], "is not WIDTHxHEIGHT"),
        (["good.pth", "--batch", "0"], "must be >= 1"),
        (["good.pth", "--topk", "-3"], "must be >= 0"),
        (["good.pth", "--opset", "17"], "DeformConv needs opset >= 19"),
    ],
)
def test_bad_arguments_give_one_line_errors(files, capsys, monkeypatch, args, message):
    monkeypatch.chdir(files)
    code, err = _run(capsys, *args, "-o", str(files / "out.onnx"))
    assert code != 0
    assert message in err and err.startswith("fairmot-export: error:")
    assert err.count("\n") == 1
    assert not (files / "out.onnx").exists()


@pytest.mark.parametrize(
    ("output", "message"),
    [("a_file/model.onnx", "cannot create output directory"), (".", "is a directory")],
)
def test_unwritable_output_is_reported_before_any_work(files, capsys, output, message):
    code, err = _run(capsys, "--random-weights", "yolov5s", "-o", str(files / output))
    assert code == 1 and message in err and err.count("\n") == 1


def test_console_entry_point_exit_status(files):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "fairmot_ros.export", str(files / "missing.pth"), "-o", "x.onnx"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"fairmot-export: error: checkpoint not found: {files / 'missing.pth'}"
    ]
    assert proc.stdout == ""
