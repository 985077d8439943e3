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
import sys
from pathlib import Path

from fairmot_ros.evaluation.cli import DEFAULT_SEQUENCE, score_sequence, track_sequence
from fairmot_ros.evaluation.metrics import (
    CHANGE_METRICS,
    HEADLINE_METRICS,
    METRICS_LIBRARY,
    emit_report,
)
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
    jobs = [(CLEAN if chain is None else chain.spec,
             sequence if chain is None else perturb_sequence(sequence, chain),
             {"perturbation": chain.describe() if chain else None})
            for chain in [None, *chains]]  # fmt: skip
    return score_runs(model, jobs, conf_thres, threads, providers,
                      "robustness" if progress else None)


def score_runs(
    model: str | Path,
    jobs: list[tuple[str, MotSequence, dict[str, object]]],
    conf_thres: float,
    threads: int | None,
    providers: tuple[str, ...] | None,
    progress: str | None = None,
) -> list[dict[str, object]]:
    """``fairmot-eval``'s loop and scoring on each ``(label, sequence, facts)``: one entry
    per job with its label, facts, metrics and timing (``progress``: the prefix of a line
    on stderr per job)."""
    for _, source, _ in jobs:
        if source.gt_path is None:
            raise SequenceError(f"{source.name or source.source} has no ground truth to score")
    runs: list[dict[str, object]] = []
    for label, source, facts in jobs:
        if progress:
            print(f"{progress}: {Path(model).name} {label} ...", file=sys.stderr, flush=True)
        rows, timing = track_sequence(model, source, conf_thres, threads, providers)
        scores = score_sequence(source, rows)
        runs.append({"label": label, **facts, "metrics": scores["metrics"], "timing": timing})
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


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every sweep over a sequence shares (this one and ``scales.py``)."""
    parser.add_argument("--sequence", default=DEFAULT_SEQUENCE, metavar="SEQ[:FIRST-LAST]",
                        help=f"sequence with ground truth (default {DEFAULT_SEQUENCE})")
    parser.add_argument("--gt", default=None, help="ground truth file (default: the sequence's)")
    parser.add_argument("--perturb-seed", type=int, default=0, metavar="N")
    parser.add_argument("--conf-thres", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime CPU threads")
    parser.add_argument("--cpu", action="store_true", help="use the CPU provider only")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the report here")
    parser.add_argument("--markdown", default=None, metavar="FILE", help="also write the table")


def expand_specs(specs: list[str]) -> list[str]:
    """'default' becomes :data:`DEFAULT_PERTURBATIONS`, 'none' nothing, the rest stays."""
    expanded: list[str] = []
    for spec in specs:
        if spec != "none":
            expanded.extend(DEFAULT_PERTURBATIONS if spec == "default" else [spec])
    return expanded


def sweep_inputs(args: argparse.Namespace, model_args: list[str]):
    """(perturbation chains, model paths, sequence, providers) of a sweep's options, every
    spec and model checked before the first (long) run starts; ``model_args`` empty means
    the shipped model."""
    chains = [parse_perturbations(spec, args.perturb_seed)
              for spec in expand_specs(args.perturbations)]  # fmt: skip
    if model_args:
        models = [Path(m) for m in model_args]
    else:
        from fairmot_ros.default_model import default_model_path

        models = [default_model_path()]
    for model in models:
        if not model.is_file():
            raise FileNotFoundError(f"model not found: {model}")
    sequence = open_sequence(args.sequence, args.gt)
    providers = ("CPUExecutionProvider",) if args.cpu else None
    return chains, models, sequence, providers


def write_outputs(report: dict, table: str, args: argparse.Namespace) -> None:
    """Print the JSON report and the table; also write them where ``--json``/``--markdown``
    say."""
    emit_report(report, args.json)
    print()
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fairmot_ros.evaluation.robustness",
        description="Score a model on a sequence, clean and under each image perturbation.",
    )
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped model)")
    parser.add_argument("--perturbations", nargs="+", default=list(DEFAULT_PERTURBATIONS),
                        metavar="SPEC", help="specs to run after the clean pass (default: "
                        f"{' '.join(DEFAULT_PERTURBATIONS)}); 'default' expands to that list")
    add_sweep_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        chains, (model,), sequence, providers = sweep_inputs(
            args, [args.model] if args.model else [])
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
    write_outputs(report, markdown_table(runs), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
