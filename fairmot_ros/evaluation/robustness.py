"""Robustness sweep: ``fairmot-eval``'s loop on a sequence, clean and under each perturbation.

``python -m fairmot_ros.evaluation.robustness [--model M] [--sequence pets:401-795]
[--perturbations SPEC ...] [--json out.json] [--threads 2]`` tracks the clean frames and then
every perturbed version with ``track_sequence`` and scores each with ``score_sequence``, so a
row differs from the clean one only by what the perturbation did to the images. It prints the
JSON report and a markdown table (MOTA, IDF1, HOTA, precision, recall, ID switches, and the
change in MOTA and IDF1 from the clean run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fairmot_ros.evaluation.cli import DEFAULT_SEQUENCE, score_sequence, track_sequence
from fairmot_ros.evaluation.metrics import CHANGE_METRICS, HEADLINE_METRICS, METRICS_LIBRARY
from fairmot_ros.evaluation.perturb import (
    PerturbationChain,
    parse_perturbations,
    perturb_sequence,
)
from fairmot_ros.sequences import MotSequence, SequenceError, open_sequence

# Moderate versions of what a deployed camera does to images: sensor noise, defocus and motion,
# compression, exposure (offset, contrast, gamma), a lower-resolution camera, white balance.
# downscale is 0.35, not 0.5: the demonstration model sees 768x576 frames at 384x288 anyway, so
# halving the resolution first leaves it almost nothing less to see.
DEFAULT_PERTURBATIONS = (
    "noise:8",
    "blur:1.5",
    "motion_blur:7",
    "jpeg:30",
    "brightness:-40",
    "brightness:+40",
    "contrast:0.6",
    "gamma:1.8",
    "downscale:0.35",
    "color:1.25",
)
CLEAN = "clean"
TABLE_COLUMNS = HEADLINE_METRICS


def run_sweep(
    model: str | Path,
    sequence: MotSequence,
    chains: list[PerturbationChain],
    conf_thres: float = 0.4,
    threads: int | None = None,
    providers: tuple[str, ...] | None = None,
    progress: bool = False,
) -> list[dict[str, object]]:
    """One entry per run, the clean sequence first: label, perturbation, metrics, timing."""
    if sequence.gt_path is None:
        raise SequenceError(f"{sequence.name or sequence.source} has no ground truth to score")
    runs: list[dict[str, object]] = []
    for chain in [None, *chains]:
        label = CLEAN if chain is None else chain.spec
        if progress:
            print(f"robustness: {label} ...", file=sys.stderr, flush=True)
        source = sequence if chain is None else perturb_sequence(sequence, chain)
        rows, timing = track_sequence(model, source, conf_thres, threads, providers)
        scores = score_sequence(source, rows)
        runs.append({"label": label, "perturbation": chain.describe() if chain else None,
                     "metrics": scores["metrics"], "timing": timing})
    return runs


def markdown_table(runs: list[dict[str, object]]) -> str:
    """Rows of ``run_sweep`` as a markdown table, with MOTA/IDF1 changes from the first run."""
    base = runs[0]["metrics"]
    head = ["perturbation", *TABLE_COLUMNS, *(f"Δ{k}" for k in CHANGE_METRICS)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for run in runs:
        m = run["metrics"]
        cells = [f"`{run['label']}`"]
        cells += [str(m[k]) if isinstance(m[k], int) else f"{m[k]:.1f}" for k in TABLE_COLUMNS]
        cells += [f"{m[k] - base[k]:+.1f}" for k in CHANGE_METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fairmot_ros.evaluation.robustness",
        description="Score a model on a sequence, clean and under each image perturbation.",
    )
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped model)")
    parser.add_argument("--sequence", default=DEFAULT_SEQUENCE, metavar="SEQ[:FIRST-LAST]",
                        help=f"sequence with ground truth (default {DEFAULT_SEQUENCE})")
    parser.add_argument("--gt", default=None, help="ground truth file (default: the sequence's)")
    parser.add_argument("--perturbations", nargs="+", default=list(DEFAULT_PERTURBATIONS),
                        metavar="SPEC", help="specs to run after the clean pass (default: "
                        f"{' '.join(DEFAULT_PERTURBATIONS)}); 'default' expands to that list")
    parser.add_argument("--perturb-seed", type=int, default=0, metavar="N")
    parser.add_argument("--conf-thres", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime CPU threads")
    parser.add_argument("--cpu", action="store_true", help="use the CPU provider only")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the report here")
    parser.add_argument("--markdown", default=None, metavar="FILE", help="also write the table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    specs: list[str] = []
    for spec in args.perturbations:
        specs.extend(DEFAULT_PERTURBATIONS if spec == "default" else [spec])
    try:
        # Every spec is checked before the first (long) run starts.
        chains = [parse_perturbations(spec, args.perturb_seed) for spec in specs]
        if args.model is None:
            from fairmot_ros.default_model import default_model_path

            model = default_model_path()
        else:
            model = Path(args.model)
        sequence = open_sequence(args.sequence, args.gt)
        providers = ("CPUExecutionProvider",) if args.cpu else None
        runs = run_sweep(model, sequence, chains, args.conf_thres, args.threads, providers,
                         progress=True)
    except (SequenceError, FileNotFoundError, ValueError) as exc:
        print(f"robustness: {exc}", file=sys.stderr)
        return 2
    report = {
        "model": str(model),
        "sequence": sequence.name or str(sequence.source),
        "first_frame": sequence.first,
        "last_frame": sequence.first + runs[0]["metrics"]["frames"] - 1,
        "conf_thres": args.conf_thres,
        "perturb_seed": args.perturb_seed,
        "metrics_library": METRICS_LIBRARY,
        "runs": runs,
    }
    text = json.dumps(report, indent=2)
    table = markdown_table(runs)
    print(text)
    print()
    print(table)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
