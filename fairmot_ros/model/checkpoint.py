"""Reading and writing FairMOT checkpoints in the original container, strictly.

The original loader drops and skips tensors with a printed warning, which is how users ended
up running the new ``fairmot_dla34.pth`` with old heads and got silently degraded tracking
(fairmot-spec sections 3.3 and 9). Here every load is strict: a checkpoint that does not fit raises
:class:`CheckpointError` naming the missing, unexpected and mis-shaped tensors and suggesting
the arch / re-ID width the file was made for.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from fairmot_ros.model import ARCHS, build_model, canonical_arch

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "detect_arch",
    "infer_config",
    "load_checkpoint",
    "load_state_dict_strict",
    "read_state_dict",
    "save_checkpoint",
]

# Tensors whose absence cannot change the network's output; anything else missing is an error.
_HARMLESS_MISSING = re.compile(r"(^base\.fc\.(weight|bias)$)|(\.num_batches_tracked$)")
_LIST_LIMIT = 6


class CheckpointError(ValueError):
    """A file is not a usable FairMOT checkpoint, or does not fit the requested network.

    ``missing``, ``unexpected`` and ``mismatched`` (name, checkpoint shape, model shape) are
    set when the file loaded but did not fit; the message is one line either way.
    """

    def __init__(
        self,
        message: str,
        missing: tuple[str, ...] = (),
        unexpected: tuple[str, ...] = (),
        mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (),
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched


@dataclass(frozen=True)
class CheckpointInfo:
    """What was learnt while loading a checkpoint."""

    path: str
    arch: str
    reid_dim: int
    head_conv: int
    epoch: int | None = None
    has_optimizer: bool = False
    stripped_prefix: bool = False
    num_tensors: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _shape(value: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(v) for v in value.shape)


def _short_list(names: list[str]) -> str:
    shown = ", ".join(names[:_LIST_LIMIT])
    more = len(names) - _LIST_LIMIT
    return shown + (f", ... (+{more} more)" if more > 0 else "")


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0].rstrip(".")


def _torch_load(path: Path, trusted: bool) -> object:
    """``torch.load`` with every failure turned into a one-line CheckpointError."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"checkpoint path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint file is empty: {path}")
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # torch zip format / legacy pickle
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (starts with {head!r})")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" in text or "weights_only" in text:
            found = re.search(r"GLOBAL (\S+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"{path} holds Python objects beyond tensors and numbers{what}; load it only "
                "if you trust its source (trusted=True / --trust-checkpoint)"
            ) from None
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (unpickling failed: {_first_sentence(exc)})"
        ) from None
    except (EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} is truncated or corrupt ({type(exc).__name__})") from None
    except RuntimeError as exc:
        text = _first_sentence(exc)
        if "zip archive" in text or "central directory" in text or "PytorchStreamReader" in text:
            raise CheckpointError(f"{path} is truncated or corrupt ({text})") from None
        raise CheckpointError(f"{path} could not be read as a checkpoint ({text})") from None
    except OSError as exc:
        raise CheckpointError(f"{path} could not be read ({exc.strerror or exc})") from None
    except Exception as exc:  # the unpickler raises anything (KeyError, ValueError...) on junk
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint ({type(exc).__name__}: {_first_sentence(exc)})"
        ) from None


def read_state_dict(
    path: str | os.PathLike, trusted: bool = False
) -> tuple[OrderedDict[str, torch.Tensor], dict]:
    """The tensors of a checkpoint (``module.`` prefixes stripped) and container facts.

    Accepts the original container ``{'epoch', 'state_dict'[, 'optimizer']}`` or a bare state
    dict. The facts dict has ``epoch``, ``has_optimizer`` and ``stripped_prefix``.
    """
    path = Path(path)
    obj = _torch_load(path, trusted)
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{path} is not a FairMOT checkpoint: it holds a {type(obj).__name__}, not a dict"
        )
    facts = {"epoch": None, "has_optimizer": False, "stripped_prefix": False}
    if "state_dict" in obj:
        state = obj["state_dict"]
        epoch = obj.get("epoch")
        facts["epoch"] = int(epoch) if isinstance(epoch, int) else None
        facts["has_optimizer"] = "optimizer" in obj
        if not isinstance(state, Mapping):
            raise CheckpointError(f"{path}: 'state_dict' is a {type(state).__name__}, not a dict")
    else:
        state = obj
    if not state:
        raise CheckpointError(f"{path} holds an empty state dict")
    bad = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{path} is not a FairMOT checkpoint: no 'state_dict' and non-tensor entries "
            f"({_short_list(bad)})"
        )
    cleaned: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state.items():
        name = str(key)
        for prefix in ("module.", "_orig_mod."):
            if name.startswith(prefix) and not name.startswith("module_list"):
                name = name[len(prefix) :]
                facts["stripped_prefix"] = True
        cleaned[name] = value
    return cleaned, facts


def detect_arch(state: Mapping[str, torch.Tensor]) -> str:
    """Which supported arch a state dict belongs to; CheckpointError says what it looks like."""
    keys = set(state)
    if "backbone.model.0.conv.conv.weight" in keys:
        return "yolov5s"
    if any(k.startswith("dla_up.") for k in keys) or "base.level5.root.conv.weight" in keys:
        if "dla_up.ida_0.proj_1.conv.conv_offset_mask.weight" not in keys:
            raise CheckpointError(
                "checkpoint looks like dlaconv_34 / dlav0 (DLA without deformable convs), "
                f"which is not supported; supported archs: {', '.join(ARCHS)}"
            )
        return "dla_34"
    if any(k.startswith("deconv_layers.") for k in keys) and "layer4.0.conv1.weight" in keys:
        if "layer1.0.conv3.weight" in keys:
            raise CheckpointError(
                "checkpoint looks like resdcn_50 (Bottleneck ResNet), unsupported"
            )
        blocks = {k.split(".")[1] for k in keys if k.startswith("layer3.")}
        depth = {2: 18, 6: 34}.get(len(blocks))
        if depth is None:
            raise CheckpointError(
                f"ResNet-DCN checkpoint with {len(blocks)} blocks in layer3 is unsupported"
            )
        return f"resdcn_{depth}"
    if any(k.startswith(("stage4.", "transition1.")) for k in keys):
        if any(k.startswith("last_layer") for k in keys):
            raise CheckpointError(
                "checkpoint looks like hrnet_18 in the legacy pre-Sep-2020 layout with "
                "last_layer (e.g. all_hrnet_v2_w18.pth), which is not supported"
            )
        width = state.get("transition1.0.0.weight")
        if width is not None and _shape(width)[0] != 18:
            raise CheckpointError(
                f"checkpoint looks like HRNet-W{_shape(width)[0]}; only hrnet_18 (W18) is "
                "supported"
            )
        return "hrnet_18"
    raise CheckpointError(
        "cannot tell the arch of this checkpoint (no dla_up/base, backbone.model, "
        f"deconv_layers or stage4 tensors); supported archs: {', '.join(ARCHS)}"
    )


def infer_config(state: Mapping[str, torch.Tensor]) -> tuple[str, int, int]:
    """(arch, reid_dim, head_conv) of a state dict, read from its tensor names and shapes."""
    arch = detect_arch(state)
    _check_heads(state)
    reid_dim = _shape(state["id.2.weight"])[0]
    head_conv = _shape(state["hm.0.weight"])[0]
    return arch, reid_dim, head_conv


def _legacy_hint(state: Mapping[str, torch.Tensor]) -> str | None:
    wh = state.get("wh.2.weight")
    if wh is not None and _shape(wh)[0] == 2:
        reid = state.get("id.2.weight")
        extra = f", id {_shape(reid)[0]}" if reid is not None else ""
        return (
            f"legacy 2-channel wh checkpoint (wh 2{extra}; pre-Sep-2020 FairMOT code, e.g. "
            "all_dla34.pth), not supported: current models predict 4-channel ltrb boxes"
        )
    hm = state.get("hm.2.weight")
    if hm is not None and _shape(hm)[0] != 1:
        return (
            f"{_shape(hm)[0]}-class heatmap: a CenterNet detection checkpoint (e.g. "
            "ctdet_coco_dla_2x.pth), usable only as a training init, not for tracking"
        )
    return None


def _check_heads(state: Mapping[str, torch.Tensor]) -> None:
    missing = [
        k
        for k in ("hm.0.weight", "hm.2.weight", "wh.2.weight", "id.2.weight", "reg.2.weight")
        if k not in state
    ]
    hint = _legacy_hint(state)
    if hint:
        raise CheckpointError(f"checkpoint has the wrong heads: {hint}")
    if missing:
        raise CheckpointError(
            f"checkpoint lacks FairMOT heads ({', '.join(missing)}): not a FairMOT tracking model"
        )


def load_state_dict_strict(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> tuple[str, ...]:
    """Copy ``state`` into ``model``; any missing, unexpected or mis-shaped tensor is an error.

    Missing ``base.fc.*`` (the unused DLA classifier) and ``num_batches_tracked`` buffers are
    tolerated because they cannot change the output; the returned notes say so.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        (k, _shape(state[k]), _shape(own[k]))
        for k in own
        if k in state and _shape(state[k]) != _shape(own[k])
    ]
    harmful_missing = [k for k in missing if not _HARMLESS_MISSING.search(k)]
    if harmful_missing or unexpected or mismatched:
        arch = getattr(model, "arch", type(model).__name__)
        reid = getattr(model, "reid_dim", "?")
        parts = [f"{source} does not fit {arch} (reid_dim {reid})"]
        if harmful_missing:
            parts.append(f"{len(harmful_missing)} missing: {_short_list(harmful_missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {_short_list(unexpected)}")
        if mismatched:
            shown = [f"{k} {tuple(c)} vs model {tuple(m)}" for k, c, m in mismatched]
            parts.append(f"{len(mismatched)} mis-shaped: {_short_list(shown)}")
        parts.append("hint: " + _suggestion(state, model))
        raise CheckpointError(
            "; ".join(parts),
            missing=tuple(harmful_missing),
            unexpected=tuple(unexpected),
            mismatched=tuple(mismatched),
        )
    filled = dict(own)
    filled.update(state)
    model.load_state_dict(filled, strict=True)
    notes = []
    if any(k.startswith("base.fc.") for k in missing):
        notes.append("checkpoint lacks the unused DLA classifier base.fc (kept at init)")
    if any(k.endswith("num_batches_tracked") for k in missing):
        notes.append("checkpoint lacks BatchNorm num_batches_tracked counters (not used in eval)")
    return tuple(notes)


def _suggestion(state: Mapping[str, torch.Tensor], model: nn.Module) -> str:
    legacy = _legacy_hint(state)
    if legacy:
        return legacy
    try:
        arch, reid, hidden = infer_config(state)
    except CheckpointError as exc:
        return str(exc)
    wanted = getattr(model, "arch", None)
    if arch != wanted:
        return f"it looks like a {arch} checkpoint (reid_dim {reid}): use --arch {arch} or auto"
    if reid != getattr(model, "reid_dim", reid):
        return f"its re-ID width is {reid}: use --reid-dim {reid} (or leave it unset)"
    if hidden != getattr(model, "head_conv", hidden):
        return f"its head width is {hidden}, the model's {model.head_conv}"
    return f"the {arch} layout differs from this checkpoint; it may come from a modified network"


def load_checkpoint(
    path: str | os.PathLike,
    arch: str | None = None,
    reid_dim: int | None = None,
    *,
    trusted: bool = False,
) -> tuple[nn.Module, CheckpointInfo]:
    """Build the network a checkpoint was made for and load it strictly (CPU, eval mode).

    ``arch``/``reid_dim`` default to what the checkpoint's tensors say; when given, a file that
    does not match raises CheckpointError with the suggested values. ``trusted`` allows full
    unpickling for files holding more than tensors (only for files from a trusted source).
    """
    state, facts = read_state_dict(path, trusted=trusted)
    if arch is None or str(arch).lower() == "auto":
        name = detect_arch(state)
    else:
        try:
            name = canonical_arch(arch)
        except ValueError as exc:
            raise CheckpointError(str(exc)) from None
    # Widths come from the file unless given; a legacy file keeps the defaults so that the
    # error lists every head that differs from the current layout.
    reid, head_conv = reid_dim, None
    if "hm.0.weight" in state:
        head_conv = _shape(state["hm.0.weight"])[0]
    if reid is None and "id.2.weight" in state and _legacy_hint(state) is None:
        reid = _shape(state["id.2.weight"])[0]
    model = build_model(name, reid_dim=reid, head_conv=head_conv)
    notes = load_state_dict_strict(model, state, source=str(path))
    model.eval()
    info = CheckpointInfo(
        path=str(path),
        arch=name,
        reid_dim=int(model.reid_dim),
        head_conv=int(model.head_conv),
        epoch=facts["epoch"],
        has_optimizer=facts["has_optimizer"],
        stripped_prefix=facts["stripped_prefix"],
        num_tensors=len(state),
        notes=notes,
    )
    return model, info


def _unwrap(model: nn.Module) -> nn.Module:
    """The bare network inside DataParallel / DistributedDataParallel / torch.compile."""
    while True:
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``{'epoch', 'state_dict'[, 'optimizer']}`` as the original code does (no prefixes).

    ``extra`` adds keys beside those (the trainer's resume state); loaders of the original
    layout ignore them. Tensors are stored on the CPU and the file is written atomically (temp
    file + rename), so an interrupted save never leaves a truncated checkpoint behind.
    """
    path = Path(path)
    state = OrderedDict((k, v.detach().cpu()) for k, v in _unwrap(model).state_dict().items())
    container: dict = {"epoch": int(epoch), "state_dict": state}
    if optimizer is not None:
        container["optimizer"] = optimizer.state_dict()
    clash = set(extra or {}) & set(container)
    if clash:
        raise ValueError(f"extra checkpoint keys {sorted(clash)} would replace the original ones")
    container.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(container, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
