"""``fairmot-bench``: every benchmark of the package behind one command, each printing JSON.

    fairmot-bench tracker --tracks 10 50 200 500
    fairmot-bench pipeline --model M.onnx --frames 100
    fairmot-bench node --size 1920x1080 [--rate 30]
    fairmot-bench multi --cameras 1 2 4
    fairmot-bench soak --frames 20000
    fairmot-bench engine --arch dla_34 --precision fp32,fp16
    fairmot-bench gpu --workdir /tmp/fm
    fairmot-bench spatial --mode depth --markers

Each subcommand is a module ``fairmot_ros.bench.<name>`` with ``add_arguments(parser)`` and
``run(args) -> dict``. Only the chosen module is imported, so ``tracker`` can pin BLAS threads
before numpy loads, ``pipeline`` never loads rclpy and a subcommand whose module is not
installed fails with one line. The report goes to stdout (and ``--json PATH``). Bad input is
one line on stderr and exit 2; a benchmark that could not run (a node that did not start) is
exit 1. Timing goals are never asserted here: the figures are the output.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

PROG = "fairmot-bench"

# name -> (module, one-line help). Modules are imported only when their subcommand is chosen.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "tracker": ("fairmot_ros.bench.tracker", "JDETracker.update per frame at 10..500 tracks"),
    "pipeline": ("fairmot_ros.bench.pipeline",
                 "core per-stage times: conversion, letterbox, inference, decode, tracking"),
    "node": ("fairmot_ros.bench.node", "tracker node round trip over DDS at one resolution"),
    "multi": ("fairmot_ros.bench.multi", "one node serving N cameras at a rate; drops counted"),
    "soak": ("fairmot_ros.bench.soak", "long run: memory, track store and id counter"),
    "engine": ("fairmot_ros.bench.engine", "ONNX Runtime latency per feeding path"),
    "gpu": ("fairmot_ros.bench.gpu", "the whole GPU run for a short lease, one JSON"),
    "bag": ("fairmot_ros.bench.bag", "fairmot-bag play and record throughput over DDS"),
    "camera-motion": ("fairmot_ros.bench.camera_motion", "motion estimate and warp cost"),
    "spatial": ("fairmot_ros.bench.spatial",
                "what people in 3D add to the node's image thread per frame, no DDS"),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (no usage dump), exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def _load(name: str):
    module_name = SUBCOMMANDS[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SystemExit(
                f"{PROG}: error: subcommand {name!r} is not available in this installation "
                f"(module {module_name} is missing)"
            ) from None
        raise


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, object | None]:
    """The parser with every subcommand listed and the chosen one's options added."""
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True,
                                       parser_class=_Parser)  # fmt: skip
    chosen = _chosen(argv)
    module = None
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = _load(name)
            module.add_arguments(sub)
            try:
                sub.add_argument("--json", metavar="PATH", help="also write the report here")
            except argparse.ArgumentError:
                pass  # the subcommand has its own --json
    return parser, module


def _fail(message: object, code: int) -> int:
    """One line on stderr whatever the message holds (ONNX Runtime's can span lines)."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, module = build_parser(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        raise
    args = parser.parse_args(argv)
    args.argv = argv
    from fairmot_ros.bench.common import BenchError, set_blas_threads

    if getattr(args, "blas_threads", None) is not None:
        set_blas_threads(args.blas_threads)  # before the subcommand imports numpy
    try:
        report = module.run(args)
    except (BenchError, ValueError, FileNotFoundError) as exc:
        return _fail(exc, 2)
    except (RuntimeError, OSError) as exc:
        return _fail(exc, 1)
    text = json.dumps(report, indent=2)
    if getattr(args, "json", None):
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
