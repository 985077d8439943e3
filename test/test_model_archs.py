"""Network definitions: exact original state_dict layout, wiring details and output shapes."""

from __future__ import annotations

import pytest
import torch
from model_support import TSV_FILES, read_tsv

from fairmot_ros.model import ARCHS, build_model, canonical_arch
from fairmot_ros.model.yolo import space_to_depth

PARAMETER_COUNTS = {  # fairmot-spec appendix (heads 1/4/D/2)
    "dla_34": 20_349_711,
    "yolov5s": 5_013_703,
    "resdcn_18": 14_946_648,
    "resdcn_34": 25_054_808,
    "hrnet_18": 12_086_299,
}


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_equals_original_table(shared_dir, arch):
    table = read_tsv(shared_dir / "data" / "fairmot" / TSV_FILES[arch])
    model = build_model(arch)
    layout = [(name, tuple(value.shape)) for name, value in model.state_dict().items()]
    assert layout == table  # names, shapes and order
    assert sum(p.numel() for p in model.parameters()) == PARAMETER_COUNTS[arch]


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_gives_raw_heads_at_stride_4(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 96))
    dim = model.reid_dim
    assert list(out) == ["hm", "wh", "id", "reg"]
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "hm": (2, 1, 16, 24), "wh": (2, 4, 16, 24), "id": (2, dim, 16, 24), "reg": (2, 2, 16, 24),
    }  # fmt: skip
    assert model.heads == {"hm": 1, "wh": 4, "id": dim, "reg": 2}
    assert model.arch == arch
    # Training init: heatmap prior bias, zero biases elsewhere, so fresh logits sit near -2.19.
    assert torch.all(model.hm[2].bias == -2.19)
    assert torch.all(model.wh[2].bias == 0) and torch.all(model.id[0].bias == 0)


def test_reid_dim_and_head_conv_are_configurable():
    model = build_model("dla_34", reid_dim=64, head_conv=128)
    assert model.id[2].weight.shape == (64, 128, 1, 1)
    assert model.hm[0].weight.shape == (128, 64, 3, 3)
    assert build_model("yolo").arch == "yolov5s"  # the original --arch spelling
    assert canonical_arch("DLA_34") == "dla_34"
    with pytest.raises(ValueError, match="unknown arch 'hrnet_32'.*dla_34"):
        build_model("hrnet_32")
    with pytest.raises(ValueError, match="positive"):
        build_model("dla_34", reid_dim=0)


def test_yolo_batchnorm_is_eps_1e3_and_heads_use_silu():
    model = build_model("yolov5s")
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.03 for m in norms)
    assert isinstance(model.hm[1], torch.nn.SiLU)
    assert model.hm[0].weight.shape == (64, 64, 3, 3)


def test_focus_space_to_depth_equals_strided_slices():
    x = torch.arange(2 * 3 * 6 * 10, dtype=torch.float32).reshape(2, 3, 6, 10)
    sliced = torch.cat(
        [x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], dim=1
    )
    assert torch.equal(space_to_depth(x), sliced)


def _capture(module: torch.nn.Module, store: dict, key: str, inputs: bool = False):
    def hook(_mod, args, output):
        store[key] = args if inputs else output

    return module.register_forward_hook(hook)


def test_dla_tree_root_concatenation_order():
    """level3.tree2.root sees [x2', x1', pooled input, level3.tree1 output] (spec table)."""
    torch.manual_seed(0)
    model = build_model("dla_34").eval()
    level3 = model.base.level3
    seen: dict = {}
    hooks = [
        _capture(level3.tree2.root.conv, seen, "root_in", inputs=True),
        _capture(level3.tree2.tree2, seen, "x2"),
        _capture(level3.tree2.tree1, seen, "x1"),
        _capture(level3.downsample, seen, "bottom"),
        _capture(level3.tree1, seen, "tree1"),
        _capture(model.base.level5.root.conv, seen, "root5_in", inputs=True),
        _capture(model.base.level5.tree2, seen, "x2_5"),
        _capture(model.base.level5.tree1, seen, "x1_5"),
        _capture(model.base.level5.downsample, seen, "bottom_5"),
    ]
    with torch.no_grad():
        levels = model.base(torch.rand(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    want = torch.cat([seen["x2"], seen["x1"], seen["bottom"], seen["tree1"]], dim=1)
    assert torch.equal(seen["root_in"][0], want)
    want5 = torch.cat([seen["x2_5"], seen["x1_5"], seen["bottom_5"]], dim=1)
    assert torch.equal(seen["root5_in"][0], want5)
    assert [tuple(t.shape[1:]) for t in levels] == [
        (16, 64, 64), (32, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2),
    ]  # fmt: skip


def test_dla_up_returns_stride_4_to_32_pyramid():
    torch.manual_seed(0)
    model = build_model("dla_34").eval()
    with torch.no_grad():
        pyramid = model.dla_up(model.base(torch.rand(1, 3, 64, 64)))
    assert [tuple(t.shape[1:]) for t in pyramid] == [
        (64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2),
    ]  # fmt: skip
    up = model.ida_up.up_2
    assert (up.groups, up.kernel_size, up.stride, up.padding) == (64, (8, 8), (4, 4), (2, 2))


def test_hrnet_fuses_by_sums_and_concatenates_all_branches_at_stride_4():
    """Each module gives branch i relu(sum over j of branch j brought to i's size and width),
    nearest-upsampled from coarser branches; the heads read [b0, b1, b2, b3] of stage 4, the
    coarser three bilinearly upsampled (spec 3.5)."""
    torch.manual_seed(0)
    model = build_model("hrnet_18").eval()
    module = model.stage3[1]
    seen: dict = {}
    hooks = [
        _capture(module, seen, "module_in", inputs=True),
        _capture(module, seen, "module_out"),
        _capture(model.stage4, seen, "stage4_out"),
        _capture(model.hm[0], seen, "head_in", inputs=True),
    ]
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 96))
    for hook in hooks:
        hook.remove()
    branches = [b(x) for b, x in zip(module.branches, seen["module_in"][0], strict=True)]
    b0, b1, b2 = branches
    lift = module.fuse_layers[0][1]
    assert isinstance(lift[2], torch.nn.Upsample) and lift[2].mode == "nearest"
    lifted = lift[1](lift[0](b1)).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    lifted2 = module.fuse_layers[0][2](b2)
    torch.testing.assert_close(seen["module_out"][0], torch.relu(b0 + lifted + lifted2))
    torch.testing.assert_close(
        seen["module_out"][2],
        torch.relu(module.fuse_layers[2][0](b0) + module.fuse_layers[2][1](b1) + b2),
    )
    outs = seen["stage4_out"]
    assert [tuple(t.shape[1:]) for t in outs] == [
        (18, 16, 24), (36, 8, 12), (72, 4, 6), (144, 2, 3),
    ]  # fmt: skip
    size = outs[0].shape[-2:]
    up = [torch.nn.functional.interpolate(t, size=size, mode="bilinear") for t in outs[1:]]
    torch.testing.assert_close(seen["head_in"][0], torch.cat([outs[0], *up], dim=1))
