"""Strict loading of original-container checkpoints; clear errors for files that do not fit."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from model_support import TSV_FILES, random_state_dict, read_tsv, write_original_checkpoint

from fairmot_ros.model import ARCHS, build_model
from fairmot_ros.model.checkpoint import (
    CheckpointError,
    infer_config,
    load_checkpoint,
    read_state_dict,
    save_checkpoint,
)


@pytest.fixture(scope="module")
def tables(shared_dir):
    return {arch: read_tsv(shared_dir / "data" / "fairmot" / f) for arch, f in TSV_FILES.items()}


@pytest.fixture(scope="module")
def dla_file(tables, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "fairmot_dla34.pth"
    return write_original_checkpoint(path, random_state_dict(tables["dla_34"], seed=1))


@pytest.fixture(scope="module")
def yolo_file(tables, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "fairmot_yolov5s.pth"
    return write_original_checkpoint(path, random_state_dict(tables["yolov5s"], seed=2), prefix="")


@pytest.mark.parametrize("arch", ARCHS)
def test_original_container_loads_strictly_with_auto_arch(tables, tmp_path, arch):
    state = random_state_dict(tables[arch], seed=3)
    path = write_original_checkpoint(tmp_path / "c.pth", state, prefix="module.", epoch=30)
    model, info = load_checkpoint(path)
    assert (info.arch, info.epoch, info.has_optimizer, info.stripped_prefix) == (
        arch, 30, True, True,
    )  # fmt: skip
    assert info.reid_dim == (64 if arch == "yolov5s" else 128) and info.notes == ()
    assert not model.training
    loaded = model.state_dict()
    assert list(loaded) == list(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_bare_state_dict_and_explicit_arch(tables, tmp_path):
    state = random_state_dict(tables["yolov5s"], seed=4)
    torch.save(state, tmp_path / "bare.pth")
    model, info = load_checkpoint(tmp_path / "bare.pth", arch="yolo", reid_dim=64)
    assert info.arch == "yolov5s" and info.epoch is None and not info.has_optimizer
    assert torch.equal(model.state_dict()["wh.2.weight"], state["wh.2.weight"])


def test_save_checkpoint_writes_the_original_container(tmp_path):
    torch.manual_seed(0)
    model = build_model("yolov5s")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    path = save_checkpoint(tmp_path / "sub" / "model_last.pth", model, 7, optimizer)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"epoch", "state_dict", "optimizer"} and raw["epoch"] == 7
    assert list(raw["state_dict"]) == list(model.state_dict())
    reloaded, info = load_checkpoint(path)
    assert info.epoch == 7 and not info.stripped_prefix
    assert torch.equal(reloaded.hm[2].bias, model.hm[2].bias)
    wrapped = torch.nn.DataParallel(model)
    save_checkpoint(tmp_path / "dp.pth", wrapped, 8)
    assert not any(k.startswith("module.") for k in torch.load(tmp_path / "dp.pth")["state_dict"])
    extra = save_checkpoint(tmp_path / "extra.pth", model, 9, extra={"train_state": {"step": 3}})
    raw = torch.load(extra, weights_only=True)
    assert raw["train_state"] == {"step": 3} and raw["epoch"] == 9
    assert load_checkpoint(extra)[1].epoch == 9  # the original layout still loads
    with pytest.raises(ValueError, match="epoch"):
        save_checkpoint(tmp_path / "clash.pth", model, 9, extra={"epoch": 1})


def test_legacy_two_channel_wh_checkpoint_is_refused_with_its_reason(tables, tmp_path):
    rows = [
        (name, {"wh.2.weight": (2, 256, 1, 1), "wh.2.bias": (2,), "id.2.weight": (512, 256, 1, 1),
                "id.2.bias": (512,)}.get(name, shape))
        for name, shape in tables["dla_34"]
    ]  # fmt: skip
    path = write_original_checkpoint(tmp_path / "all_dla34.pth", random_state_dict(rows))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "legacy 2-channel wh" in text and "not supported" in text
    assert "4 mis-shaped" in text and "wh.2.weight (2, 256, 1, 1) vs model (4, 256, 1, 1)" in text
    assert {name for name, _, _ in err.value.mismatched} == {
        "wh.2.weight", "wh.2.bias", "id.2.weight", "id.2.bias",
    }  # fmt: skip
    assert "\n" not in text


def test_yolo_checkpoint_into_dla_names_both_sides_and_suggests_the_arch(yolo_file):
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(yolo_file, arch="dla_34")
    text = str(err.value)
    assert "does not fit dla_34" in text and "missing: base.base_layer.0.weight" in text
    assert "unexpected: backbone.model.0.conv.conv.weight" in text
    assert "(+" in text  # long lists are truncated
    assert "looks like a yolov5s checkpoint" in text
    assert len(err.value.missing) > 300 and len(err.value.unexpected) > 300


def test_wrong_reid_dim_suggests_the_file_value(dla_file):
    with pytest.raises(CheckpointError, match=r"re-ID width is 128: use --reid-dim 128"):
        load_checkpoint(dla_file, reid_dim=64)


def test_partial_checkpoint_is_not_loaded_silently(tables, tmp_path):
    state = random_state_dict(tables["resdcn_18"])
    del state["deconv_layers.12.conv_offset_mask.bias"]
    state["extra.weight"] = torch.zeros(3)
    torch.save({"epoch": 1, "state_dict": state}, tmp_path / "p.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "p.pth")
    assert err.value.missing == ("deconv_layers.12.conv_offset_mask.bias",)
    assert err.value.unexpected == ("extra.weight",)


def test_checkpoint_without_unused_classifier_loads_with_a_note(tables, tmp_path):
    state = random_state_dict(tables["dla_34"])
    del state["base.fc.weight"], state["base.fc.bias"]
    torch.save(state, tmp_path / "nofc.pth")
    _, info = load_checkpoint(tmp_path / "nofc.pth")
    assert info.arch == "dla_34" and any("base.fc" in note for note in info.notes)


@pytest.fixture(scope="module")
def junk_dir(tmp_path_factory, yolo_file):
    folder = tmp_path_factory.mktemp("junk")
    data = yolo_file.read_bytes()
    (folder / "truncated.pth").write_bytes(data[: len(data) // 3])
    (folder / "notes.pth").write_text("this is not a checkpoint\n")
    (folder / "empty.pth").write_bytes(b"")
    torch.save([1, 2, 3], folder / "list.pth")
    torch.save({"epoch": 3, "lr": 0.1}, folder / "dict.pth")
    torch.save({"hm.0.weight": torch.zeros(1)}, folder / "unknown.pth")
    return folder


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.pth", "truncated or corrupt"),
        ("notes.pth", "not a PyTorch checkpoint"),
        ("empty.pth", "empty"),
        ("list.pth", "holds a list, not a dict"),
        ("dict.pth", "no 'state_dict' and non-tensor entries"),
        ("unknown.pth", "cannot tell the arch"),
        ("missing.pth", "checkpoint not found"),
    ],
)
def test_unusable_files_give_one_line_errors(junk_dir, name, message):
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(junk_dir / name)
    assert "\n" not in str(err.value)


def test_pickled_objects_need_explicit_trust(tmp_path, tables):
    state = random_state_dict(tables["yolov5s"])
    torch.save({"epoch": 1, "state_dict": state, "opt": torch.optim.SGD}, tmp_path / "obj.pth")
    with pytest.raises(CheckpointError, match="trust"):
        load_checkpoint(tmp_path / "obj.pth")
    _, info = load_checkpoint(tmp_path / "obj.pth", trusted=True)
    assert info.arch == "yolov5s"


def test_infer_config_and_prefix_stripping(tmp_path, tables):
    state = OrderedDict(
        ("module." + k, v) for k, v in random_state_dict(tables["resdcn_18"]).items()
    )
    state["module.id.2.weight"] = torch.zeros(32, 256, 1, 1)
    torch.save(state, tmp_path / "r.pth")
    stripped, facts = read_state_dict(tmp_path / "r.pth")
    assert facts["stripped_prefix"] and "conv1.weight" in stripped
    assert infer_config(stripped) == ("resdcn_18", 32, 256)
    hrnet_like = {"stage4.0.weight": torch.zeros(1), "last_layer.0.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="hrnet_18 in the legacy .*all_hrnet_v2_w18"):
        infer_config(hrnet_like)
    w32 = {"stage4.0.weight": torch.zeros(1), "transition1.0.0.weight": torch.zeros(32, 256, 3, 3)}
    with pytest.raises(CheckpointError, match="HRNet-W32; only hrnet_18"):
        infer_config(w32)
