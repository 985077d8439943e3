"""The original FairMOT code against this package's pipeline: same weights, same minutes.

    python -m fairmot_ros.bench.original --original-src FAIRMOT_CHECKOUT [--model M.onnx ...]
        [--weights FLOAT.onnx] [--sequence pets:401-620] [--frames 200] [--warmup 20]
        [--threads 2] [--rounds 3] [--original-commit SHA] [--json FILE]

Why: "N times the original's speed" is a claim about the same work on the same machine at the
same time. On a shared machine the load moves a figure by 2x from one minute to the next, so
the two sides alternate run by run in one process (each round: the original, then every package
model) and each ratio (original p50 / package p50) is taken within one round.

The original side is the original code's own per-frame path (``src/track.py``'s ``eval_seq``
fed by ``datasets.LoadImages``): its ``letterbox`` and normalisation, ``JDETracker.update``
(network, ``mot_decode``, ``ctdet_post_process``, tracking) and the output filter, with
``conf_thres`` 0.4, K 500, arch ``yolo`` at the weights' input size and the sequence's frame
rate. Its network is built by the original ``create_model`` and filled by the original
``load_model`` from a checkpoint of the weights read back from a float ONNX export
(:mod:`fairmot_ros.model.recover`, BatchNorms as identities). The package side is
``fairmot-bench pipeline`` itself (:func:`fairmot_ros.bench.pipeline.run`), so its figures are
those of that command. An INT8 model is compared with the original running the float weights
it was quantized from: the speed-up a user gets by shipping it.

The original code runs unmodified on this Python: numpy 2's removed ``np.float``/``np.int``
aliases are put back while it runs; modules it imports but the yolov5s path never calls
(DCNv2, torchvision, pandas, PIL, yacs, matplotlib) are stubs, present only while it is
imported (calling one raises); ``cython_bbox``, not installable here, is replaced by
:func:`bbox_overlaps` (the tracker's own +1-pixel IoU). Before any timing,
:func:`compare_detections` checks that both sides find the same detections on the first
frames, so a ratio never compares different work; without agreement nothing is timed and the
exit status is 1. torch is imported by this tool only (the node never needs it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairmot_ros.bench.common import BenchError, load_average, machine, set_blas_threads, utc_now

PROG = "python -m fairmot_ros.bench.original"
ORIGINAL_ARCH = "yolo"  # the original's --arch for its yolov5s network
CONF_THRES = 0.4
TOPK = 500
MATCH_IOU = 0.5
TARGET_RATIO = 3.0  # the target: the whole pipeline >= 3x the original code
# Top-level packages of the original src/lib: they must not clash with modules already loaded.
ORIGINAL_PACKAGES = ("models", "utils", "tracker", "tracking_utils", "datasets", "opts")
# Imported on the original's import chain, never called on the yolov5s path; stubbed if absent.
STUBBED = {
    "dcn_v2": (), "torchvision": ("models", "ops", "transforms"), "pandas": (),
    "PIL": ("Image",), "yacs": ("config",), "matplotlib": ("pyplot",),
}  # fmt: skip
# Agreement tolerance (score, box px) by the package model's precision. FP16/FP32 compute of the
# recovered weights differs from PyTorch's by ~6e-5 in score and ~0.003 px (PETS 401-405); INT8
# quantization of them by ~0.012 and ~0.4 px.
TOLERANCES = {"int8": (0.03, 2.0)}
FLOAT_TOLERANCE = (1e-3, 0.5)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, exit status 2 (as ``fairmot-bench``)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--original-src", required=True, metavar="PATH",
                        help="FairMOT checkout (holding src/lib), e.g. ifzhang/FairMOT@4aa6297")
    parser.add_argument("--original-commit", default=None,
                        help="commit of that source when PATH is not a git checkout")
    parser.add_argument("--model", action="append", default=None, metavar="ONNX",
                        help="package model, repeatable (default: the shipped INT8 and FP16)")
    parser.add_argument("--weights", default=None, metavar="ONNX",
                        help="float yolov5s export the original's weights are read back from "
                        "(default: the shipped FP16 model)")
    parser.add_argument("--sequence", default="pets:401-620")
    parser.add_argument("--frames", type=int, default=200, help="timed frames per run")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames first")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch and ONNX Runtime intra-op threads (0: their defaults)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for both trackers (fairmot-bench's default 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--agree-frames", type=int, default=5,
                        help="first frames whose detections must agree before timing")
    parser.add_argument("--json", metavar="FILE", help="also write the report here")
    return parser  # fmt: skip


def validate(args: argparse.Namespace) -> None:
    if args.frames <= 0 or args.warmup < 0 or args.rounds <= 0 or args.agree_frames <= 0:
        raise BenchError("--frames, --rounds and --agree-frames must be positive, --warmup >= 0")
    if args.threads < 0:
        raise BenchError("--threads must be >= 0")


def original_lib(path: str | Path) -> Path:
    """The original ``src/lib`` under ``path`` (a checkout, or ``src/lib`` itself)."""
    root = Path(path).expanduser()
    for lib in (root / "src" / "lib", root):
        if (lib / "tracker" / "multitracker.py").is_file():
            return lib.resolve()
    raise BenchError(f"{path}: no src/lib/tracker/multitracker.py there; give a checkout of "
                     "github.com/ifzhang/FairMOT (src/lib at commit 4aa6297)")  # fmt: skip


def require_torch() -> str:
    """torch's version; BenchError when it is missing (only this tool needs it)."""
    try:
        import torch
    except ImportError:
        raise BenchError("torch is not installed: the original code needs it "
                         "(pip install torch, CPU build)") from None  # fmt: skip
    return str(torch.__version__)


def source_commit(lib: Path, given: str | None) -> str | None:
    """``--original-commit``, else ``HEAD`` of the checkout whose ``src/lib`` this is (not of
    some other repository the folder happens to sit in), else None."""
    if given:
        return given

    def git(*words: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(lib), *words], capture_output=True,
                                  text=True, timeout=10, check=False)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() not in (lib, lib.parent.parent):
        return None
    return git("rev-parse", "HEAD")


def bbox_overlaps(boxes: Any, query_boxes: Any) -> Any:
    """``cython_bbox.bbox_overlaps``: (N, K) IoU of x1,y1,x2,y2 boxes with its +1-pixel areas,
    as the package's tracker computes it (:func:`fairmot_ros.tracking.matching.iou_plus_one`)."""
    from fairmot_ros.tracking.matching import iou_plus_one

    return iou_plus_one(boxes, query_boxes)


class _Absent:
    """What a stub module hands out; calling it means the yolov5s path needed it after all."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self._name} is a stub here, but the original code called it")

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Absent(f"{self._name}.{attr}")


class _CfgNode(dict):
    """Enough of ``yacs.config.CfgNode`` for the HRNet config module to build at import."""

    def __init__(self, init_dict: dict | None = None, key_list: Any = None,
                 new_allowed: bool = False) -> None:  # fmt: skip
        super().__init__(init_dict or {})

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


def _stub_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)

    def absent(attr: str) -> Any:  # PEP 562 module __getattr__; dunders stay missing
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Absent(f"{name}.{attr}")

    module.__getattr__ = absent  # type: ignore[method-assign]
    return module


def _stubs() -> dict[str, types.ModuleType]:
    """Stub modules for the absent packages of :data:`STUBBED` and for ``cython_bbox``."""
    made: dict[str, types.ModuleType] = {}
    for top, subs in STUBBED.items():
        if importlib.util.find_spec(top) is not None:
            continue
        made[top] = _stub_module(top)
        for sub in subs:
            made[f"{top}.{sub}"] = _stub_module(f"{top}.{sub}")
            setattr(made[top], sub, made[f"{top}.{sub}"])
    if "yacs.config" in made:
        made["yacs.config"].CfgNode = _CfgNode  # type: ignore[attr-defined]
    if importlib.util.find_spec("cython_bbox") is None:
        made["cython_bbox"] = types.ModuleType("cython_bbox")
        made["cython_bbox"].bbox_overlaps = bbox_overlaps  # type: ignore[attr-defined]
    return made


@contextlib.contextmanager
def numpy_aliases() -> Iterator[None]:
    """``np.float``/``np.int`` (removed in numpy 2) while the original code runs."""
    import numpy as np

    missing = [(n, t) for n, t in (("float", float), ("int", int)) if n not in vars(np)]
    for name, value in missing:
        setattr(np, name, value)
    try:
        yield
    finally:
        for name, _ in missing:
            delattr(np, name)


@contextlib.contextmanager
def _original_imports(lib: Path) -> Iterator[dict[str, types.ModuleType]]:
    """``lib`` on sys.path and the stubs in sys.modules, only while the original is imported.

    Its ``tracking_utils.log`` sets the root logger to DEBUG with its own handler (``'root'``
    is the root logger): the root logger's state is restored afterwards, which is what
    ``track.py``'s ``logger.setLevel(INFO)`` does for the per-frame debug lines. No bytecode is
    written into the checkout; its prints and SyntaxWarnings are swallowed.
    """
    for name in ORIGINAL_PACKAGES:
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None) or str(getattr(module, "__path__", ""))
        if module is not None and str(lib) not in where:
            raise BenchError(f"a module {name!r} from {where} is already loaded; the original's "
                             f"{name!r} would clash with it")  # fmt: skip
    stubs = _stubs()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), sys.dont_write_bytecode)
    added = [name for name in stubs if name not in sys.modules]
    sys.modules.update({name: stubs[name] for name in added})
    sys.path.insert(0, str(lib))
    sys.dont_write_bytecode = True
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", SyntaxWarning)
            yield stubs
    finally:
        sys.path.remove(str(lib))
        for name in added:
            sys.modules.pop(name, None)
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        sys.dont_write_bytecode = saved[2]


class _TimedNetwork:
    """Stands in for ``JDETracker.model`` (only ever called): records the network's time."""

    def __init__(self, network: Callable[..., Any]) -> None:
        self.network = network
        self.last_s = 0.0

    def __call__(self, *args: Any) -> Any:
        start = time.perf_counter()
        out = self.network(*args)
        self.last_s = time.perf_counter() - start
        return out


@dataclass
class Original:
    """The imported original code, its options and the checkpoint its trackers load."""

    multitracker: types.ModuleType
    letterbox: Callable[..., Any]
    opt: Any
    state: dict[str, Any]
    input_width: int
    input_height: int
    shims: dict[str, str]


def recovered_weights(weights: Path) -> tuple[dict[str, Any], Any]:
    """(state dict, contract) of a float yolov5s export, read back with BatchNorms as
    identities; the package network's parameter names are the original's."""
    import onnx

    from fairmot_ros.contract import ModelContract
    from fairmot_ros.model import build_model
    from fairmot_ros.model.recover import load_exported_weights

    props = {p.key: p.value for p in onnx.load(str(weights), load_external_data=False)
             .metadata_props}  # fmt: skip
    contract = ModelContract.from_metadata(props, source=str(weights))
    if contract.precision == "int8":
        raise BenchError(f"{weights}: --weights must be a float export (the INT8 model's "
                         "weights are quantized); give the export it was quantized from")
    model = build_model("yolov5s", reid_dim=contract.reid_dim)
    load_exported_weights(model, weights, "yolov5s")
    return model.state_dict(), contract


def load_original(lib: Path, weights: Path, checkpoint: Path) -> Original:
    """Import the original code and write the checkpoint its ``load_model`` will read."""
    import torch

    state, contract = recovered_weights(weights)
    torch.save({"epoch": 0, "state_dict": state}, checkpoint)
    with _original_imports(lib) as stubs:
        # Modules of the checkout (on sys.path now), not dependencies of this package.
        letterbox = importlib.import_module("datasets.dataset.jde").letterbox
        opts = importlib.import_module("opts").opts
        multitracker = importlib.import_module("tracker.multitracker")
        opt = opts().init(["mot", "--arch", ORIGINAL_ARCH, "--gpus", "-1",
                           "--reid_dim", str(contract.reid_dim),
                           "--conf_thres", str(CONF_THRES), "--K", str(TOPK),
                           "--input_w", str(contract.input_width),
                           "--input_h", str(contract.input_height),
                           "--load_model", str(checkpoint)])  # fmt: skip
    shims = {name: "stub" for name in stubs if name != "cython_bbox" and "." not in name}
    shims["cython_bbox"] = "numpy stand-in" if "cython_bbox" in stubs else "installed"
    shims["numpy"] = "np.float/np.int aliases while the original runs"
    return Original(multitracker, letterbox, opt, state, contract.input_width,
                    contract.input_height, shims)  # fmt: skip


def new_tracker(original: Original, frame_rate: int) -> Any:
    """A fresh ``JDETracker`` built by the original code, its weights checked tensor by tensor
    against the recovered ones, its network call timed."""
    import torch

    with numpy_aliases(), contextlib.redirect_stdout(io.StringIO()) as printed:
        tracker = original.multitracker.JDETracker(original.opt, frame_rate=frame_rate)
    loaded = tracker.model.state_dict()
    wrong = [k for k, v in original.state.items()
             if k not in loaded or not torch.equal(loaded[k], v)]  # fmt: skip
    if wrong or len(loaded) != len(original.state):
        raise RuntimeError(f"the original network did not load the recovered weights "
                           f"({len(wrong)} tensors differ, e.g. {wrong[:1]}): "
                           f"{printed.getvalue()[-300:]}")  # fmt: skip
    tracker.model = _TimedNetwork(tracker.model)
    return tracker


def original_frame(original: Original, tracker: Any, frame: Any) -> tuple[float, float, int]:
    """One frame down the original path: seconds (total, before the network), kept tracks."""
    import numpy as np
    import torch

    start = time.perf_counter()
    img, _, _, _ = original.letterbox(frame, height=original.input_height,
                                      width=original.input_width)  # fmt: skip
    img = img[:, :, ::-1].transpose(2, 0, 1)  # LoadImages.__next__'s normalisation
    img = np.ascontiguousarray(img, dtype=np.float32)
    img /= 255.0
    blob = torch.from_numpy(img).unsqueeze(0)  # eval_seq on the CPU
    prepared = time.perf_counter()
    online = []
    for t in tracker.update(blob, frame):  # eval_seq's output filter
        tlwh = t.tlwh
        vertical = tlwh[2] / tlwh[3] > 1.6
        if tlwh[2] * tlwh[3] > original.opt.min_box_area and not vertical:
            online.append((tlwh, t.track_id))
    return time.perf_counter() - start, prepared - start, len(online)


def run_original(original: Original, frames: Sequence[Any], warmup: int,
                 frame_rate: int) -> dict[str, Any]:  # fmt: skip
    """One timed run of the original: ms per frame in total and split around the network."""
    from fairmot_ros.bench.common import summarize_ms

    load_start = load_average()
    tracker = new_tracker(original, frame_rate)
    parts: dict[str, list[float]] = {"total": [], "before_network": [], "network": [],
                                     "after_network": []}  # fmt: skip
    tracks = []
    with numpy_aliases():
        for i, frame in enumerate(frames):
            total, before, kept = original_frame(original, tracker, frame)
            if i < warmup:
                continue
            network = tracker.model.last_s
            parts["total"].append(total * 1e3)
            parts["before_network"].append(before * 1e3)
            parts["network"].append(network * 1e3)
            parts["after_network"].append((total - before - network) * 1e3)
            tracks.append(kept)
    stats = {name: summarize_ms(values) for name, values in parts.items()}
    return {"fps": round(1e3 * len(parts["total"]) / sum(parts["total"]), 2), **stats,
            "mean_tracks": round(statistics.fmean(tracks), 1),
            "load_average_start": load_start, "load_average_end": load_average()}  # fmt: skip


def original_detections(original: Original, frames: Sequence[Any], frame_rate: int) -> list:
    """(N, 5) x1, y1, x2, y2, score per frame: what ``update`` keeps above ``conf_thres``,
    taken from its own ``merge_outputs``."""
    tracker = new_tracker(original, frame_rate)
    merged: list[Any] = []
    merge = tracker.merge_outputs

    def capture(detections: Any) -> Any:
        result = merge(detections)
        merged.append(result[1].copy())
        return result

    tracker.merge_outputs = capture
    with numpy_aliases():
        for frame in frames:
            original_frame(original, tracker, frame)
    return [dets[dets[:, 4] > original.opt.conf_thres] for dets in merged]


def compare_detections(original: Sequence[Any], package: Sequence[Any], conf_thres: float,
                       score_tol: float, box_tol: float) -> dict[str, Any]:  # fmt: skip
    """Do both sides find the same detections? Per frame, (N, 5) x1, y1, x2, y2, score arrays
    are paired greedily by IoU (>= 0.5); they agree when every pair's score and corners are
    within the tolerances and every unpaired detection scores within ``score_tol`` of
    ``conf_thres`` (a borderline one that rounding may put on either side)."""
    import numpy as np

    matched, borderline, unmatched = 0, 0, []
    score_diff, box_diff = 0.0, 0.0
    for frame, (ours, theirs) in enumerate(zip(original, package, strict=True)):
        a = np.asarray(ours, np.float64).reshape(-1, 5)
        b = np.asarray(theirs, np.float64).reshape(-1, 5)
        iou = bbox_overlaps(a[:, :4], b[:, :4])
        free_a, free_b = set(range(len(a))), set(range(len(b)))
        for i, j in sorted(np.ndindex(iou.shape), key=lambda ij: -iou[ij]):
            if iou[i, j] < MATCH_IOU:
                break
            if i in free_a and j in free_b:
                free_a.discard(i)
                free_b.discard(j)
                matched += 1
                score_diff = max(score_diff, float(abs(a[i, 4] - b[j, 4])))
                box_diff = max(box_diff, float(np.abs(a[i, :4] - b[j, :4]).max()))
        for side, rows, free in (("original", a, free_a), ("package", b, free_b)):
            for k in sorted(free):
                if abs(rows[k, 4] - conf_thres) <= score_tol:
                    borderline += 1
                else:
                    unmatched.append({"frame": frame, "side": side,
                                      "score": round(float(rows[k, 4]), 4)})  # fmt: skip
    agree = not unmatched and score_diff <= score_tol and box_diff <= box_tol
    return {"frames": len(original), "original_detections": int(sum(len(d) for d in original)),
            "package_detections": int(sum(len(d) for d in package)), "matched": matched,
            "borderline_unmatched": borderline, "unmatched": unmatched,
            "max_score_diff": round(score_diff, 6), "max_box_diff_px": round(box_diff, 4),
            "score_tolerance": score_tol, "box_tolerance_px": box_tol, "agree": agree}  # fmt: skip


def pipeline_args(model: str, args: argparse.Namespace) -> argparse.Namespace:
    """The options ``fairmot-bench pipeline`` would parse for this model and these settings."""
    from fairmot_ros.bench import pipeline

    parser = argparse.ArgumentParser()
    pipeline.add_arguments(parser)
    return parser.parse_args(["--model", model, "--sequence", args.sequence,
                              "--frames", str(args.frames), "--warmup", str(args.warmup),
                              "--threads", str(args.threads),
                              "--blas-threads", str(args.blas_threads)])  # fmt: skip


def package_agreement(model: str, args: argparse.Namespace, frames: Sequence[Any],
                      original: Sequence[Any]) -> dict[str, Any]:  # fmt: skip
    """:func:`compare_detections` for the detector ``fairmot-bench pipeline`` builds."""
    import numpy as np

    from fairmot_ros.bench.pipeline import make_detector

    detector, _ = make_detector(pipeline_args(model, args))
    found = []
    for frame in frames:
        dets = detector.detect(frame)
        found.append(np.concatenate([dets.boxes, dets.scores[:, None]], axis=1))
    score_tol, box_tol = TOLERANCES.get(detector.contract.precision, FLOAT_TOLERANCE)
    report = compare_detections(original, found, detector.conf_thres, score_tol, box_tol)
    return {"precision": detector.contract.precision, **report}


def run_package(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """One ``fairmot-bench pipeline`` run; the figures this comparison needs from its report."""
    from fairmot_ros.bench import pipeline

    report = pipeline.run(pipeline_args(model, args))
    return {"fps": report["fps"], "total": report["total"],
            "inference": report["stages"]["inference"],
            "without_inference": report["without_inference"],
            "ms_median": report["ms_median"], "mean_detections": report["mean_detections"],
            "load_average_start": report["load_average_start"],
            "load_average_end": report["load_average_end"]}  # fmt: skip


def ratio(original_ms: float, package_ms: float) -> float | None:
    """How many times faster the package is: original / package, None without a package time."""
    if not package_ms or package_ms <= 0:
        return None
    return round(original_ms / package_ms, 3)


def round_ratios(original: dict[str, Any], package: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per model, the round's ratios of the medians and of the means of ms per frame."""
    return {name: {"p50": ratio(original["total"]["p50_ms"], run["total"]["p50_ms"]),
                   "mean": ratio(original["total"]["mean_ms"], run["total"]["mean_ms"])}
            for name, run in package.items()}  # fmt: skip


def summary(rounds: Sequence[dict[str, Any]], target: float = TARGET_RATIO) -> dict[str, Any]:
    """Per model over the rounds: the p50 ratios, their median and range, and the target."""
    out: dict[str, Any] = {}
    for name in rounds[0]["ratio"] if rounds else ():
        p50 = [r["ratio"][name]["p50"] for r in rounds if r["ratio"][name]["p50"] is not None]
        means = [r["ratio"][name]["mean"] for r in rounds if r["ratio"][name]["mean"] is not None]
        median = round(statistics.median(p50), 3) if p50 else None
        out[name] = {"ratio_p50": p50, "ratio_mean": means, "median_ratio_p50": median,
                     "min_ratio_p50": min(p50, default=None),
                     "max_ratio_p50": max(p50, default=None), "target": target,
                     "median_meets_target": median is not None and median >= target}  # fmt: skip
    return out


def default_models() -> list[str]:
    from fairmot_ros.default_model import default_model_path

    fp16 = default_model_path()
    return [str(fp16.with_name(fp16.stem + "_int8.onnx")), str(fp16)]


def run(args: argparse.Namespace, lib: Path, torch_version: str) -> dict[str, Any]:
    """Agreement first, then ``rounds`` x (original, every model); the report."""
    import torch

    from fairmot_ros.bench.common import versions
    from fairmot_ros.bench.pipeline import load_frames
    from fairmot_ros.default_model import default_model_path

    models = args.model or default_models()
    names = [Path(m).name for m in models]
    if len(set(names)) != len(names):
        raise BenchError(f"models must have different file names: {names}")
    for model in models:
        if not Path(model).is_file():
            raise BenchError(f"model {model} not found")
    weights = Path(args.weights) if args.weights else default_model_path()
    if not weights.is_file():
        raise BenchError(f"weights {weights} not found")
    load_start = load_average()
    if args.threads:
        torch.set_num_threads(args.threads)
    frames, frame_rate, source = load_frames(pipeline_args(models[0], args))
    rate = round(frame_rate)
    with tempfile.TemporaryDirectory(prefix="fairmot-original-") as tmp:
        original = load_original(lib, weights, Path(tmp) / "recovered.pth")
        first = frames[: args.agree_frames]
        reference = original_detections(original, first, rate)
        agreement = {name: package_agreement(model, args, first, reference)
                     for name, model in zip(names, models, strict=True)}  # fmt: skip
        rounds = []
        if all(a["agree"] for a in agreement.values()):
            for index in range(args.rounds):
                theirs = run_original(original, frames, args.warmup, rate)
                ours = {name: run_package(model, args)
                        for name, model in zip(names, models, strict=True)}  # fmt: skip
                rounds.append({"round": index + 1, "original": theirs, "package": ours,
                               "ratio": round_ratios(theirs, ours)})  # fmt: skip
    found = versions(extra=("torch",))
    found["torch_imported"] = torch_version
    settings = {"frames": args.frames, "warmup": args.warmup, "threads": args.threads,
                "torch_threads": torch.get_num_threads(), "blas_threads": args.blas_threads,
                "rounds": args.rounds, "agree_frames": len(first), "source": source,
                "image_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
                "models": models}  # fmt: skip
    return {
        "benchmark": "original", "date_utc": utc_now(),
        "command": " ".join([PROG, *args.argv]), "machine": machine(), "versions": found,
        "settings": settings,
        "original": {"src_lib": str(lib), "commit": source_commit(lib, args.original_commit),
                     "weights": str(weights), "arch": ORIGINAL_ARCH,
                     "input": f"{original.input_width}x{original.input_height}",
                     "conf_thres": original.opt.conf_thres, "K": original.opt.K,
                     "frame_rate": rate, "shims": original.shims,
                     # torch's threading (OpenMP, MKL, oneDNN): a 2-thread torch on 2 busy
                     # cores can be several times slower than a 1-thread one.
                     "torch_parallel": [line.strip() for line in
                                        torch.__config__.parallel_info().splitlines()
                                        if line.strip() and not line.startswith("-")]},
        "agreement": agreement,
        "timed": bool(rounds),
        "rounds": rounds, "summary": summary(rounds),
        "load_average_start": load_start, "load_average_end": load_average(),
    }  # fmt: skip


def _fail(message: object, code: int) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when timed, 1 when the two sides disagreed (nothing timed) or a run failed, 2 on
    bad input (missing source, torch or model, bad numbers)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        validate(args)
        lib = original_lib(args.original_src)
        set_blas_threads(args.blas_threads)  # before numpy loads, as fairmot-bench does
        report = run(args, lib, require_torch())
    except (BenchError, ValueError, FileNotFoundError) as exc:
        return _fail(exc, 2)
    except (RuntimeError, OSError) as exc:
        return _fail(exc, 1)
    text = json.dumps(report, indent=2)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    print(text)
    if not report["timed"]:
        return _fail("the original and the package disagree on the first frames' detections "
                     "(see 'agreement'); nothing was timed", 1)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
