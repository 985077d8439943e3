"""Trainable weights recovered from an exported model, to fine-tune when only the ONNX file exists.

The exporter folds every BatchNorm into the convolution before it (``W' = W g / s``,
``b' = beta - mu g / s`` with ``s = sqrt(var + eps)``), so the ONNX file keeps ``W'`` and ``b'``
only. Any BatchNorm with ``g / s = 1`` and ``beta - mu = b'`` gives back the exported function
in eval mode, but training normalises by *batch* statistics: unless the running statistics are
what the data really produces, train-mode outputs are not the deployed network's. So the
weights are loaded with each BatchNorm as a plain bias, and :func:`calibrate_unfolded_batchnorm`
then measures each folded convolution's output mean and variance on real training images and
sets ``mu``, ``var`` to them with ``g = s``, ``beta = mu + b'``: the eval-mode function is
unchanged (exactly, up to float rounding) and a training batch like the measured ones sees
nearly the same network.

FP16 exports come back as the FP16 values in float32: the exported network, not the checkpoint
it was made from. Supported: yolov5s, whose every BatchNorm sits beside its convolution. The DCN
networks (BatchNorms inside ``nn.Sequential``, deformable and transposed convolutions) and
hrnet_18 (BatchNorms inside its transition and fusion ``nn.Sequential``s) are refused with a
``ContractError``; fine-tune them from their checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from fairmot_ros.contract import ContractError, ModelContract

__all__ = ["calibrate_unfolded_batchnorm", "load_exported_weights"]

EXPORT_PREFIX = "model."  # the deploy wrapper's attribute holding the network
RECOVERABLE_ARCHS = ("yolov5s",)


def _paired_norms(model: nn.Module) -> dict[str, nn.BatchNorm2d]:
    """Convolution name -> the BatchNorm applied to its output (siblings ``conv``/``bn`` or
    ``convN``/``bnN``, as everywhere in yolov5s)."""
    modules = dict(model.named_modules())
    pairs: dict[str, nn.BatchNorm2d] = {}
    for name, module in modules.items():
        if not isinstance(module, nn.BatchNorm2d):
            continue
        parent, _, leaf = name.rpartition(".")
        conv_name = f"{parent}.{leaf.replace('bn', 'conv', 1)}".lstrip(".")
        if not leaf.startswith("bn") or not isinstance(modules.get(conv_name), nn.Conv2d):
            raise ContractError(f"cannot recover BatchNorm {name}: no convolution beside it")
        pairs[conv_name] = module
    return pairs


def load_exported_weights(model: nn.Module, path: str | Path, arch: str) -> list[nn.BatchNorm2d]:
    """Fill ``model`` with the weights of an exported ``.onnx`` of the same arch and heads.

    Returns the BatchNorms left as plain biases; run :func:`calibrate_unfolded_batchnorm` on
    them before training. Raises ``ContractError`` when the file is not an export of this
    network (arch in its metadata, a missing or mis-shaped tensor).
    """
    path = Path(path)
    if arch not in RECOVERABLE_ARCHS:
        raise ContractError(
            f"{path}: fine-tuning from an exported file works for {', '.join(RECOVERABLE_ARCHS)}"
            f" only; {arch}'s folded BatchNorms cannot be mapped back, so fine-tune it from its "
            "checkpoint"
        )
    try:
        graph_model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise ContractError(f"{path}: not a readable ONNX model ({exc})") from None
    props = {p.key: p.value for p in graph_model.metadata_props}
    contract = ModelContract.from_metadata(props, source=str(path))
    if contract.arch != arch:
        raise ContractError(f"{path} is an export of {contract.arch}, not {arch}")
    tensors = {t.name: t for t in graph_model.graph.initializer}
    # Convolutions exported without a bias input had a zero bias, their own or that of the
    # BatchNorm folded into them (e.g. a freshly initialised network): the exporter drops it.
    no_bias = {node.input[1] for node in graph_model.graph.node
               if node.op_type == "Conv" and (len(node.input) < 3 or not node.input[2])}

    def take(name: str, like: torch.Tensor) -> torch.Tensor:
        tensor = tensors.get(EXPORT_PREFIX + name)
        if tensor is None:
            raise ContractError(f"{path}: no tensor for {name}")
        value = torch.from_numpy(np.array(numpy_helper.to_array(tensor), dtype=np.float32))
        if tuple(value.shape) != tuple(like.shape):
            raise ContractError(f"{path}: {name} is {tuple(value.shape)}, the network has "
                                f"{tuple(like.shape)}")
        return value

    norms = _paired_norms(model)
    covered: set[int] = set()
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, nn.Conv2d):
                continue
            module.weight.copy_(take(f"{name}.weight", module.weight))
            covered.add(id(module.weight))
            if module.bias is not None and EXPORT_PREFIX + f"{name}.weight" in no_bias:
                module.bias.zero_()
                covered.add(id(module.bias))
            elif module.bias is not None:
                module.bias.copy_(take(f"{name}.bias", module.bias))
                covered.add(id(module.bias))
            norm = norms.get(name)
            if norm is not None:
                if EXPORT_PREFIX + f"{name}.weight" in no_bias:
                    norm.bias.zero_()
                else:
                    norm.bias.copy_(take(f"{name}.weight_bias", norm.bias))
                norm.weight.fill_(1.0)
                norm.running_mean.zero_()
                norm.running_var.fill_(1.0 - norm.eps)  # (y - 0) / sqrt(1) * 1 + b'
                covered.update({id(norm.weight), id(norm.bias)})
    left = [n for n, p in model.named_parameters() if id(p) not in covered]
    if left:
        raise ContractError(f"{path}: cannot recover {len(left)} parameters, e.g. {left[0]}")
    return list(norms.values())


def calibrate_unfolded_batchnorm(
    model: nn.Module,
    norms: list[nn.BatchNorm2d],
    batches: Iterable[torch.Tensor],
    max_batches: int,
) -> int:
    """Give each unfolded BatchNorm the statistics of its input on ``batches`` (see the module
    docstring); returns the number of batches used. The model's train/eval mode is kept."""
    if not norms or max_batches <= 0:
        return 0
    sums = {id(n): [0.0, 0.0, 0] for n in norms}

    def observe(module: nn.Module, inputs: tuple[torch.Tensor, ...], _output) -> None:
        x = inputs[0].detach().double()
        entry = sums[id(module)]
        entry[0] = entry[0] + x.sum(dim=(0, 2, 3))
        entry[1] = entry[1] + (x * x).sum(dim=(0, 2, 3))
        entry[2] += x.numel() // x.shape[1]

    was_training = model.training
    model.eval()
    hooks = [n.register_forward_hook(observe) for n in norms]
    device = next(model.parameters()).device
    used = 0
    try:
        with torch.no_grad():
            for images in batches:
                model(images.to(device))
                used += 1
                if used >= max_batches:
                    break
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    if not used:
        return 0
    with torch.no_grad():
        for norm in norms:
            total, squares, count = sums[id(norm)]
            mean = total / count
            var = (squares / count - mean * mean).clamp_min(0.0)
            scale = torch.sqrt(var + norm.eps)
            norm.running_mean.copy_(mean.float())
            norm.running_var.copy_(var.float())
            norm.weight.copy_(scale.float())
            norm.bias.add_(mean.float())
    return used
