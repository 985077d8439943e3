"""``fairmot-train``: the FairMOT training loop (spec section 6), resumable, with a loss log.

Checkpoints use the original container ``{'epoch', 'state_dict', 'optimizer'}`` (written by
``fairmot_ros.model.checkpoint.save_checkpoint``, so ``fairmot-export`` reads them like the
released weights) plus extra keys needed to resume: ``loss_state`` (identity classifier,
s_det, s_id) and ``train_state`` (step, identity count, arguments, torch RNG). The learning
rate is a pure function of the epoch (``lr * 0.1 ** (steps passed)``), and sample randomness is
drawn from (seed, epoch, index), so a resumed run continues the same schedule and data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from fairmot_ros.contract import ContractError
from fairmot_ros.evaluation.mot_io import HEIGHT, LEFT, TOP, WIDTH
from fairmot_ros.model import DEFAULT_REID_DIM, build_model, canonical_arch
from fairmot_ros.model.checkpoint import save_checkpoint
from fairmot_ros.model.recover import calibrate_unfolded_batchnorm, load_exported_weights
from fairmot_ros.sequences import SequenceError, open_sequence
from fairmot_ros.training.augment import AugmentConfig
from fairmot_ros.training.batchnorm import recalibrate_batchnorm
from fairmot_ros.training.composite import CompositeConfig, build_scene_model
from fairmot_ros.training.dataset import MotTrainingDataset, cached_frames, label_sequences
from fairmot_ros.training.losses import FairMOTLoss
from fairmot_ros.training.validate import evaluate_detection

# Per-arch recipe differences (spec section 6): yolov5s uses lr 5e-4, wh 0.5, fixed weighting.
RECIPES = {
    "yolov5s": {"lr": 5e-4, "wh_weight": 0.5, "multi_loss": "fix", "batch_size": 16},
}
DEFAULT_RECIPE = {"lr": 1e-4, "wh_weight": 0.1, "multi_loss": "uncertainty", "batch_size": 12}


def parse_size(text: str) -> tuple[int, int]:
    """``"384x288"`` (W x H) -> (height, width); both must be multiples of 32."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input size {text!r} is not WxH") from None
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise argparse.ArgumentTypeError(f"input size {text!r}: W and H must be multiples of 32")
    return height, width


def parse_scale_range(text: str) -> tuple[float, float]:
    """``"0.5,4"`` -> (0.5, 4.0): the affine scale range, both positive, low <= high."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale range {text!r} is not LOW,HIGH") from None
    if not (0 < low <= high < float("inf")):
        raise argparse.ArgumentTypeError(
            f"scale range {text!r}: need 0 < LOW <= HIGH (finite)")
    return low, high


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fairmot-train",
        description="Train a FairMOT network on MOT-format sequences (original recipe).",
    )
    parser.add_argument("--arch", default="yolov5s",
                        help="dla_34, yolov5s, resdcn_18, resdcn_34, hrnet_18")
    parser.add_argument("--reid-dim", type=int, default=None, help="default: 128 (64 yolov5s)")
    parser.add_argument("--head-conv", type=int, default=None)
    parser.add_argument("--input-size", type=parse_size, default=(608, 1088), metavar="WxH",
                        help="training input, multiples of 32 (default 1088x608)")
    parser.add_argument("--crop", type=parse_size, default=None, metavar="WxH",
                        help="train on random WxH windows of the augmented input (cheaper "
                        "steps; not in the original recipe)")
    parser.add_argument("--data", action="append", required=True, metavar="SEQ[:FIRST-LAST]",
                        help="MOT sequence folder, image folder, video or 'pets'; repeatable")
    parser.add_argument("--gt", action="append", default=[], metavar="GT_TXT",
                        help="ground truth for each --data in order (needed for bare videos)")
    parser.add_argument("--val", default=None, metavar="SEQ[:FIRST-LAST]",
                        help="held-out frames scored (precision/recall @IoU .5) every epoch")
    parser.add_argument("--val-gt", default=None, metavar="GT_TXT")
    parser.add_argument("--single-image-mode", action="store_true",
                        help="every box is its own identity (box-only data)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--lr-step", default="20", help="comma-separated epochs (lr x0.1 after)")
    parser.add_argument("--multi-loss", choices=("uncertainty", "fix"), default=None)
    parser.add_argument("--wh-weight", type=float, default=None)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--scale-range", type=parse_scale_range, default=None,
                        metavar="LOW,HIGH",
                        help="draw the random affine's scale log-uniformly from LOW to HIGH, "
                        "e.g. 0.5,4 to show people from half to four times their size in "
                        "the data (default: uniform 0.5-1.2, the original recipe)")
    parser.add_argument("--color-jitter", action="store_true",
                        help="colour variety: rotate the whole image's hue by a random angle "
                        "(probability 0.5) and make it grayscale (probability 0.1) before the "
                        "HSV jitter, so few clothing colours generalise (not in the original "
                        "recipe)")
    parser.add_argument("--color-identities", type=int, default=0, metavar="K",
                        help="with --color-jitter and --paste: hue rotations become K fixed "
                        "variants and each identity in variant k is a new identity, so the "
                        "re-ID head learns K x as many appearances (0: off; not in the "
                        "original recipe)")
    parser.add_argument("--degrade", action="store_true",
                        help="camera-like degradations (tone, blur, low resolution, noise, JPEG)")
    parser.add_argument("--paste", type=int, default=0, metavar="N",
                        help="static cameras only: paste up to N people cut out against the "
                             "median background into half of the samples (0: off)")
    parser.add_argument("--bn-recalibration", type=int, default=0, metavar="N",
                        help="before each checkpoint, re-estimate BatchNorm statistics from N "
                        "training batches (helps short runs; not in the original recipe)")
    parser.add_argument("--resume", default=None, metavar="CKPT")
    parser.add_argument("--init", default=None, metavar="CKPT|ONNX",
                        help="start from these network weights (strict; any arch-matching "
                        "checkpoint, or an exported .onnx whose folded BatchNorms are "
                        "re-calibrated on this data) with a new optimiser and a new identity "
                        "classifier for this data; ignored when --resume is given")
    parser.add_argument("--out", default="runs/train", metavar="DIR")
    parser.add_argument("--seed", type=int, default=317)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--max-steps", type=int, default=0,
                        help="stop after this many optimiser steps in this run (0: no limit)")
    parser.add_argument("--time-limit", type=float, default=0.0, metavar="MIN",
                        help="end this run after the last whole epoch that fits in MIN minutes "
                        "(judged by the longest epoch so far), with its checkpoint written; "
                        "--resume continues the same trajectory (0: no limit)")
    parser.add_argument("--keep-every", type=int, default=5, metavar="N",
                        help="keep model_EPOCH.pth every N epochs, after each lr step epoch "
                        "and after the last (1: every epoch); model_last.pth is rewritten "
                        "every epoch")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    return parser


def lr_at(epoch: int, base_lr: float, steps: list[int]) -> float:
    """Learning rate used during 1-based ``epoch``: x0.1 for every step epoch already passed."""
    return base_lr * 0.1 ** sum(epoch > s for s in steps)


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}


def _open_all(specs: list[str], gts: list[str], offset_ids: bool = True) -> list:
    if gts and len(gts) not in (len(specs),):
        raise SequenceError(f"{len(gts)} --gt files for {len(specs)} --data entries")
    return [open_sequence(spec, gts[i] if gts else None) for i, spec in enumerate(specs)]


def _truth_boxes(sequence) -> tuple[np.ndarray, list[np.ndarray]]:
    frames = cached_frames(sequence)
    rows = sequence.ground_truth(min_conf=0.5)
    truth = []
    for i in range(len(frames)):
        r = rows[rows[:, 0] == sequence.first + i][:, [LEFT, TOP, WIDTH, HEIGHT]]
        truth.append(np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], axis=1))
    return frames, truth


INIT_CALIBRATION_BATCHES = 8


def init_from_export(
    model: torch.nn.Module, path: str, arch: str, dataset: MotTrainingDataset, batch_size: int
) -> None:
    """``--init`` from an exported ``.onnx`` (``fairmot_ros.model.recover``): its weights, and
    its BatchNorms, folded at export, given the statistics of ``INIT_CALIBRATION_BATCHES``
    batches of the training samples (what train-mode BatchNorm will see)."""
    try:
        norms = load_exported_weights(model, path, arch)
    except ContractError as exc:
        raise ValueError(f"--init {exc}") from None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(0))
    calibrate_unfolded_batchnorm(model, norms, (b["input"] for b in loader),
                                 INIT_CALIBRATION_BATCHES)


def init_weights(model: torch.nn.Module, path: str) -> None:
    """Load only the network weights of a checkpoint, strictly (fine-tuning start point).

    The optimiser, identity classifier and schedule are deliberately not taken: the new data
    may have another identity set and the run has its own learning-rate schedule.
    """
    container = torch.load(path, map_location="cpu", weights_only=True)
    state = container.get("state_dict", container) if isinstance(container, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"--init {path}: no state_dict in the checkpoint")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"--init {path}: weights do not match the network: {exc}") from None


def save_training_checkpoint(
    path: Path, model, loss: FairMOTLoss, optimizer, epoch: int, state: dict
) -> None:
    """Original container plus the resume extras, written atomically."""
    loss_state = {k: v.detach().cpu() for k, v in loss.state_dict().items()}
    save_checkpoint(path, model, epoch, optimizer,
                    extra={"loss_state": loss_state, "train_state": state})


def _keep_copy(source: Path, target: Path) -> None:
    """Copy a checkpoint under another name, atomically like the checkpoint itself."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _progress(iterable, total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # plain lines when tqdm is missing
        return iterable
    return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, mininterval=5.0,
                file=sys.stderr)


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) training; returns the path of the last checkpoint."""
    arch = canonical_arch(args.arch)
    recipe = RECIPES.get(arch, DEFAULT_RECIPE)
    reid_dim = args.reid_dim or DEFAULT_REID_DIM[arch]
    lr = args.lr if args.lr is not None else recipe["lr"]
    batch_size = args.batch_size or recipe["batch_size"]
    multi_loss = args.multi_loss or recipe["multi_loss"]
    wh_weight = args.wh_weight if args.wh_weight is not None else recipe["wh_weight"]
    steps = [int(s) for s in str(args.lr_step).split(",") if s.strip()]
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    sequences = _open_all(args.data, args.gt)
    labelled, real_ids = label_sequences(sequences, args.single_image_mode)
    if args.keep_every < 1:
        raise ValueError(f"--keep-every {args.keep_every}: must be at least 1")
    if not args.time_limit >= 0:  # also refuses nan
        raise ValueError(f"--time-limit {args.time_limit}: must be >= 0 minutes")
    variants = args.color_identities
    if variants == 1 or variants < 0:
        raise ValueError(f"--color-identities {variants}: use 0 (off) or at least 2 variants")
    if variants and not (args.color_jitter or args.paste > 0):
        raise ValueError("--color-identities needs --color-jitter or --paste (nothing else "
                         "makes the colour variants)")
    num_ids = real_ids * max(variants, 1)  # classifier classes
    scale = {"scale": args.scale_range, "scale_log_uniform": True} if args.scale_range else {}
    augment = AugmentConfig(enabled=not args.no_augment, color_variety=args.color_jitter,
                            degrade=args.degrade, color_identities=variants, **scale)
    scenes, paste_config = None, None
    if args.paste > 0:
        paste_config = CompositeConfig(max_people=args.paste, color_identities=variants)
        scenes = [build_scene_model(entry.frames, entry.boxes, paste_config,
                                    ids_per_frame=entry.ids)
                  for entry in labelled]
        print("composites: " + ", ".join(f"{len(s.cutouts)} cut-outs" for s in scenes),
              flush=True)
    dataset = MotTrainingDataset(labelled, args.input_size, augment, seed=args.seed,
                                 crop_hw=args.crop, scenes=scenes, composite_config=paste_config,
                                 identity_count=real_ids)
    val = None
    if args.val:
        val = _truth_boxes(open_sequence(args.val, args.val_gt))

    model = build_model(arch, reid_dim=reid_dim, head_conv=args.head_conv).to(device)
    loss_fn = FairMOTLoss(reid_dim, max(num_ids, 1), multi_loss, wh_weight).to(device)
    optimizer = torch.optim.Adam(
        [{"params": model.parameters()}, {"params": loss_fn.parameters()}], lr=lr
    )
    start_epoch, global_step, best_f1 = 1, 0, -1.0
    if args.init and not args.resume:
        if args.init.lower().endswith(".onnx"):
            init_from_export(model, args.init, arch, dataset, batch_size)
        else:
            init_weights(model, args.init)
        print(f"initialised the network from {args.init}", flush=True)
    if args.resume:
        container = torch.load(args.resume, map_location="cpu", weights_only=True)
        model.load_state_dict(container["state_dict"], strict=True)
        if "loss_state" in container:
            loss_fn.load_state_dict(container["loss_state"])
        if "optimizer" in container:
            optimizer.load_state_dict(container["optimizer"])
        state = container.get("train_state", {})
        if state.get("num_ids", num_ids) != num_ids:
            raise SystemExit(f"--resume: checkpoint trained {state['num_ids']} identities, "
                             f"the data now has {num_ids}")
        start_epoch = int(container.get("epoch", 0)) + 1
        global_step = int(state.get("global_step", 0))
        best_f1 = float(state.get("best_f1", -1.0))
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        print(f"resumed {args.resume} at epoch {start_epoch}, step {global_step}", flush=True)

    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    if args.resume and use_amp and container.get("train_state", {}).get("amp_scaler"):
        scaler.load_state_dict(container["train_state"]["amp_scaler"])  # loss scale, growth
    config = {
        "arch": arch, "reid_dim": reid_dim, "input_hw": list(args.input_size), "lr": lr,
        "lr_step": steps, "batch_size": batch_size, "multi_loss": multi_loss,
        "wh_weight": wh_weight, "bn_recalibration": args.bn_recalibration,
        "crop_hw": list(args.crop) if args.crop else None,
        "color_jitter": bool(args.color_jitter), "init": args.init,
        "degrade": bool(args.degrade), "paste": args.paste,
        "color_identities": variants, "real_ids": real_ids,
        "num_ids": num_ids, "samples": len(dataset),
        "data": list(args.data), "single_image_mode": bool(args.single_image_mode),
        "seed": args.seed, "device": str(device), "amp": use_amp,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(json.dumps(config), flush=True)
    log = (out / "log.jsonl").open("a")
    last_path = out / "model_last.pth"

    def resume_state() -> dict:
        """What ``--resume`` needs beside the weights, optimiser and loss state."""
        return {"global_step": global_step, "num_ids": num_ids, "best_f1": best_f1,
                "torch_rng": torch.get_rng_state(), "config": json.dumps(config),
                "amp_scaler": scaler.state_dict()}

    run_steps = 0
    run_started, longest_epoch = time.monotonic(), 0.0
    stopped_inside_epoch = False
    model.train()
    for epoch in range(start_epoch, args.epochs + 1):
        epoch_started = time.monotonic()
        epoch_lr = lr_at(epoch, lr, steps)
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr
        dataset.set_epoch(epoch)
        generator = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                            num_workers=args.workers, collate_fn=collate, generator=generator,
                            persistent_workers=False)
        started = time.time()
        bar = _progress(loader, len(loader), f"epoch {epoch}/{args.epochs}")
        sums: dict[str, float] = {}
        for batch in bar:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                outputs = model(batch["input"])
            total, stats = loss_fn(outputs, batch)
            if not math.isfinite(stats["loss"]):
                raise SystemExit(f"loss is {stats['loss']} at step {global_step}; stopping")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
            global_step += 1
            run_steps += 1
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value
            record = {"epoch": epoch, "step": global_step, "lr": epoch_lr,
                      "time": round(time.time() - started, 3), **stats}
            log.write(json.dumps(record) + "\n")
            log.flush()
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{stats['loss']:.3f}", hm=f"{stats['hm_loss']:.3f}",
                                id=f"{stats['id_loss']:.3f}")
            elif global_step % 10 == 0:
                print(json.dumps(record), flush=True)
            if args.max_steps and run_steps >= args.max_steps:
                break
        finished_epoch = not (args.max_steps and run_steps >= args.max_steps)
        if args.bn_recalibration > 0 and finished_epoch:
            recal = DataLoader(dataset, batch_size=batch_size, shuffle=True,
                               num_workers=args.workers, collate_fn=collate,
                               generator=torch.Generator().manual_seed(args.seed + epoch))
            recalibrate_batchnorm(model, recal, args.bn_recalibration)
        count = max(1, run_steps if not finished_epoch else len(loader))
        summary = {"epoch": epoch, "lr": epoch_lr, "seconds": round(time.time() - started, 1),
                   **{k: v / count for k, v in sums.items()}}
        if val is not None and finished_epoch:
            summary["val"] = evaluate_detection(model, val[0], val[1], args.input_size)
            f1 = summary["val"]["f1"]
            if f1 > best_f1:
                best_f1 = f1
                summary["best"] = True
        print(json.dumps({"summary": summary}), flush=True)
        with (out / "epochs.jsonl").open("a") as handle:
            handle.write(json.dumps(summary) + "\n")
        if not finished_epoch:
            stopped_inside_epoch = True
            break
        save_training_checkpoint(last_path, model, loss_fn, optimizer, epoch, resume_state())
        if epoch % args.keep_every == 0 or epoch in steps or epoch == args.epochs:
            _keep_copy(last_path, out / f"model_{epoch}.pth")
        if summary.get("best"):
            _keep_copy(last_path, out / "model_best.pth")
        longest_epoch = max(longest_epoch, time.monotonic() - epoch_started)
        used = time.monotonic() - run_started
        if args.time_limit and epoch < args.epochs and used + longest_epoch > args.time_limit * 60:
            print(f"time limit: {used / 60:.1f} of {args.time_limit:g} min used and an epoch "
                  f"takes up to {longest_epoch / 60:.1f} min; stopping after epoch {epoch}. "
                  f"Continue with the same arguments and --resume {last_path}", flush=True)
            break
    if stopped_inside_epoch:
        # stopped inside an epoch by --max-steps: keep what was learnt, marked as the prior
        # epoch (a resume repeats that epoch's samples on top of it)
        save_training_checkpoint(last_path, model, loss_fn, optimizer, epoch - 1, resume_state())
    log.close()
    return last_path


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = train(args)
    except (SequenceError, ValueError, FileNotFoundError) as exc:
        print(f"fairmot-train: {exc}", file=sys.stderr)
        return 2
    print(f"last checkpoint: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
