"""Scale sweep: the same loop as ``fairmot-eval`` with the people shown larger or smaller.

A camera closer to the people (or a longer lens) shows them larger; one further away shows
them smaller. Both are simulated on the recorded frames with one fixed view per scale, the
same for every frame (:class:`fairmot_ros.scale_view.ScaleView`: above 1 a window of
``1/scale`` of the frame, centred on ``--center``, resized back to the frame size; below 1
the frame shrunk onto a grey canvas; at 1 the clean ``fairmot-eval`` run), and the ground
truth moves with the pixels.

Ground-truth boxes go through the same mapping and are clipped to the frame. A person of whom
less than half of the box (by area) is left in the view is marked as a distractor, so that
neither finding nor missing that remnant counts (TrackEval's MOT17 rules drop results matched
to it); a person wholly outside is dropped. The tracker, its settings and the scoring are
``fairmot-eval``'s (``track_sequence``, ``score_sequence``), so a row differs from the clean
one only by what the view did to the images.

``python -m fairmot_ros.evaluation.scales [--model M ...] [--scales 0.5 1 1.5 2 3]
[--perturbations default] [--json out.json]`` runs every scale and, after them, the
robustness list of perturbations at scale 1 (``robustness.py``'s default list; ``none``
skips them), for each model given; with several models every row also carries its change
from the first model's same row. It prints the JSON report and a markdown table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from fairmot_ros import scale_view
from fairmot_ros.evaluation.metrics import CHANGE_METRICS, HEADLINE_METRICS, METRICS_LIBRARY
from fairmot_ros.evaluation.mot_io import CLASS, HEIGHT, LEFT, TOP, WIDTH
from fairmot_ros.scale_view import CANVAS_GREY, MAX_SCALE, MIN_SCALE, ScaleError, check_scale
from fairmot_ros.sequences import MotSequence, SequenceError

__all__ = ["CANVAS_GREY", "DEFAULT_SCALES", "DISTRACTOR_CLASS", "MAX_SCALE", "MIN_SCALE",
           "MIN_VISIBLE", "ScaleError", "ScaleView", "ScaledSequence", "add_changes",
           "build_parser", "frame_size", "main", "markdown_table", "run_scales", "scale_label",
           "scale_sequence"]  # fmt: skip

DEFAULT_SCALES = (0.5, 1.0, 1.5, 2.0, 3.0)
MIN_VISIBLE = 0.5  # fraction of a box's area that must stay in the view to be scored
DISTRACTOR_CLASS = 8  # MOT17 "distractor": results matched to it are dropped, not counted
CLEAN = "clean"


class ScaleView(scale_view.ScaleView):
    """:class:`fairmot_ros.scale_view.ScaleView` with the sweep's ground-truth rules."""

    def map_ground_truth(self, rows: np.ndarray) -> np.ndarray:
        """MOT ground-truth rows in the view: boxes mapped and clipped to the frame; boxes
        with less than :data:`MIN_VISIBLE` of their area in the view become distractors,
        boxes wholly outside are dropped."""
        rows = np.array(rows, dtype=np.float64, copy=True)
        if not len(rows):
            return rows
        boxes, visible = self.map_boxes(rows[:, [LEFT, TOP, WIDTH, HEIGHT]])
        rows[:, LEFT], rows[:, TOP], rows[:, WIDTH], rows[:, HEIGHT] = boxes.T
        rows[visible < MIN_VISIBLE, CLASS] = DISTRACTOR_CLASS
        return rows[visible > 0]


@dataclass(frozen=True)
class ScaledSequence(MotSequence):
    """A :class:`MotSequence` seen through a :class:`ScaleView`: frames and ground truth."""

    view: ScaleView | None = None

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        for index, image in super().frames():
            yield index, image if self.view is None else self.view.apply(image)

    def ground_truth(self, min_conf: float | None = None) -> np.ndarray:
        rows = super().ground_truth(min_conf)
        return rows if self.view is None else self.view.map_ground_truth(rows)


def frame_size(sequence: MotSequence) -> tuple[int, int]:
    """(width, height) of the sequence's frames: its own record, else its first frame."""
    if sequence.width > 0 and sequence.height > 0:
        return sequence.width, sequence.height
    for _, image in sequence.frames():
        return image.shape[1], image.shape[0]
    raise SequenceError(f"{sequence.name or sequence.source} has no frames in its range")


def scale_sequence(sequence: MotSequence, scale: float,
                   center: tuple[float, float] = (0.5, 0.5)) -> ScaledSequence:  # fmt: skip
    """``sequence`` at ``scale`` through one fixed view (see the module docstring)."""
    width, height = frame_size(sequence)
    values = {f.name: getattr(sequence, f.name) for f in fields(MotSequence)}
    values.update(width=width, height=height)
    return ScaledSequence(**values, view=ScaleView.make(scale, width, height, center))


def scale_label(scale: float) -> str:
    return f"scale:{scale:g}"


def run_scales(
    model: str | Path,
    sequence: MotSequence,
    scales: Sequence[float],
    perturbations: Sequence[object] = (),
    center: tuple[float, float] = (0.5, 0.5),
    conf_thres: float = 0.4,
    threads: int | None = None,
    providers: tuple[str, ...] | None = None,
    progress: bool = False,
) -> list[dict[str, object]]:
    """One entry per run: each scale, then each perturbation chain at scale 1."""
    from fairmot_ros.evaluation.perturb import perturb_sequence
    from fairmot_ros.evaluation.robustness import score_runs

    jobs: list[tuple[str, MotSequence, dict[str, object]]] = []
    for scale in scales:
        scaled = scale_sequence(sequence, scale, center)
        jobs.append((scale_label(scale), scaled, {"scale": scale, "view": scaled.view.describe(),
                                                  "perturbation": None}))  # fmt: skip
    for chain in perturbations:
        jobs.append((chain.spec, perturb_sequence(sequence, chain),
                     {"scale": 1.0, "view": None, "perturbation": chain.describe()}))
    return score_runs(model, jobs, conf_thres, threads, providers,
                      "scales" if progress else None)


def add_changes(reference: list[dict], runs: list[dict]) -> None:
    """Give every run of ``runs`` its change from ``reference``'s run of the same label."""
    base = {run["label"]: run["metrics"] for run in reference}
    for run in runs:
        if run["label"] in base:
            run["change_from_first_model"] = {
                key: round(run["metrics"][key] - base[run["label"]][key], 3)
                for key in (*CHANGE_METRICS, "HOTA", "precision", "recall")
            }


def markdown_table(models: list[dict]) -> str:
    """One row per (model, run): headline metrics, and the change from the first model."""
    several = len(models) > 1
    head = ["model", "run", *HEADLINE_METRICS]
    if several:
        head += [f"Δ{k} vs first" for k in CHANGE_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for entry in models:
        for run in entry["runs"]:
            m = run["metrics"]
            cells = [f"`{Path(entry['model']).name}`", f"`{run['label']}`"]
            cells += [str(m[k]) if isinstance(m[k], int) else f"{m[k]:.1f}"
                      for k in HEADLINE_METRICS]  # fmt: skip
            if several:
                change = run.get("change_from_first_model")
                cells += [f"{change[k]:+.1f}" if change else "" for k in CHANGE_METRICS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale {text!r} is not a number") from None
    try:
        return check_scale(value)
    except ScaleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _center(text: str) -> tuple[float, float]:
    try:
        cx, cy = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"centre {text!r} is not X,Y") from None
    if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0):
        raise argparse.ArgumentTypeError(f"centre {text!r}: X and Y are fractions 0-1")
    return cx, cy


def build_parser() -> argparse.ArgumentParser:
    from fairmot_ros.evaluation.robustness import add_sweep_arguments
    from fairmot_ros.export import OneLineParser

    parser = OneLineParser(
        prog="python -m fairmot_ros.evaluation.scales",
        description="Score models with people shown at other scales (a fixed crop or shrink "
        "of every frame, ground truth mapped alike), then under the robustness perturbations.",
    )
    parser.add_argument("--model", action="append", default=[], metavar="ONNX",
                        help="model to score (repeatable; default: the shipped model); rows "
                        "of later models carry their change from the first")  # fmt: skip
    parser.add_argument("--scales", nargs="+", type=_scale, default=list(DEFAULT_SCALES),
                        metavar="S", help="people's size relative to the recording (default "
                        f"{' '.join(f'{s:g}' for s in DEFAULT_SCALES)})")  # fmt: skip
    parser.add_argument("--center", type=_center, default=(0.5, 0.5), metavar="X,Y",
                        help="centre of the zoomed-in window, fractions of the frame "
                        "(default 0.5,0.5)")  # fmt: skip
    parser.add_argument("--perturbations", nargs="+", default=["default"], metavar="SPEC",
                        help="perturbations run at scale 1 after the scales: 'default' (the "
                        "robustness list), 'none', or specs such as noise:8")  # fmt: skip
    add_sweep_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fairmot_ros.bench.common import load_average, utc_now
    from fairmot_ros.evaluation.robustness import sweep_inputs, write_outputs

    args = build_parser().parse_args(argv)
    try:
        chains, models, sequence, providers = sweep_inputs(args, args.model)
        for scale in args.scales:  # every view is checked before the first (long) run
            scale_sequence(sequence, scale, args.center)
        started = utc_now()
        load_start = load_average()
        entries = []
        for model in models:
            runs = run_scales(model, sequence, args.scales, chains, args.center,
                              args.conf_thres, args.threads, providers, progress=True)
            if entries:
                add_changes(entries[0]["runs"], runs)
            entries.append({"model": str(model), "runs": runs})
    except (SequenceError, FileNotFoundError, ValueError) as exc:
        print(f"scales: {exc}", file=sys.stderr)
        return 2
    report = {
        "tool": "python -m fairmot_ros.evaluation.scales",
        "date_utc": started,
        "argv": sys.argv[1:] if argv is None else list(argv),
        "sequence": sequence.name or str(sequence.source),
        "first_frame": sequence.first,
        "last_frame": sequence.last,
        "conf_thres": args.conf_thres,
        "threads": args.threads,
        "center": list(args.center),
        "min_visible": MIN_VISIBLE,
        "perturb_seed": args.perturb_seed,
        "metrics_library": METRICS_LIBRARY,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "models": entries,
    }
    write_outputs(report, markdown_table(entries), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
