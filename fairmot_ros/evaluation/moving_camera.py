"""A synthetic moving camera over real video, and tracking scores with and without compensation.

``make`` crops every frame of a still-camera MOT sequence (PETS09-S2L1 401-795 by default)
with a virtual camera that pans, zooms, sways and shakes along a seeded path, and moves the
ground truth with it. The result is a MOTChallenge sequence folder (``img1/`` JPEGs,
``gt/gt.txt``, ``seqinfo.ini``), plus ``camera_path.txt`` (the true source -> output affine
per frame) and ``moving_camera.json`` (path settings, seed, source), so that any tool that
reads an image folder (the evaluation loop, a bag writer) can use it.

Per frame the virtual camera is the similarity ``out = s R(theta) (src - c) + centre_out``:
zoom ``s`` and roll ``theta`` vary slowly, the window centre ``c`` pans along a sum of
seeded sinusoids over the room the zoom leaves, plus per-frame Gaussian shake. The window
always stays inside the source image. A ground-truth box keeps its identity; its centre goes
through the map and its size scales by ``s`` (roll is small, boxes stay upright). As in
MOTChallenge ground truth a box keeps the whole person, also where it extends beyond the
view, and the visibility column says how much of it is inside; one that is less than
``min_visible`` inside is kept as an ignored region (MOTChallenge class 8, "distractor":
neither a miss nor a false positive when the tracker reports it) and one entirely outside is
dropped, by the same rule in every frame.

``score`` runs the ``fairmot-eval`` loop (Detector + JDETracker, the original output filters)
on the moving sequence and on the still original, once per ``camera_motion`` method, and
prints a JSON report and a markdown table::

    python -m fairmot_ros.evaluation.moving_camera make --out .cache/moving/seed1 --seed 1
    python -m fairmot_ros.evaluation.moving_camera score --sequence .cache/moving/seed1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from fairmot_ros.evaluation.metrics import CAMERA_MOTION_METRICS
from fairmot_ros.evaluation.mot_io import (
    CLASS,
    CONF,
    FRAME,
    HEIGHT,
    LEFT,
    TOP,
    VISIBILITY,
    WIDTH,
    write_mot_rows,
)
from fairmot_ros.sequences import SequenceError, open_sequence
from fairmot_ros.tracking.config import CAMERA_MOTION_METHODS

PEDESTRIAN, DISTRACTOR = 1, 8  # MOTChallenge classes: scored, and ignored region
PATH_FILE = "camera_path.txt"
META_FILE = "moving_camera.json"
DEFAULT_SOURCE = "pets:401-795"


@dataclass(frozen=True)
class CameraPath:
    """Settings of the virtual camera (sizes in output pixels, times in frames)."""

    width: int = 640
    height: int = 480
    # Output pixels per source pixel. Cropping magnifies what the detector sees (a 640 px wide
    # view of a 768 px frame is letterboxed to the same network input: 1.2x at zoom 1), so
    # zoom 1.0-1.6 shows people at 1.2-1.9x their PETS size, the range where the shipped model
    # (trained from 0.5x to 4x) still tracks (MOTA 73-82 at 1-2x, its model card).
    zoom_min: float = 1.0
    zoom_max: float = 1.6
    zoom_period: tuple[float, float] = (90.0, 160.0)
    pan: float = 1.0  # share of the room left by the zoom that the pan sweeps (0..1)
    pan_period: tuple[float, float] = (25.0, 60.0)
    roll_deg: float = 1.0  # amplitude of the slow roll sway
    shake_px: float = 4.0  # per-frame Gaussian jitter of the view, output pixels (sigma)
    shake_roll_deg: float = 0.2  # per-frame roll jitter (sigma)
    min_visible: float = 0.5

    def checked(self, source_size: tuple[int, int]) -> CameraPath:
        """Self, or ValueError when the window cannot stay inside the source."""
        src_w, src_h = source_size
        reasons = []
        if self.width < 32 or self.height < 32:
            reasons.append(f"output size {self.width}x{self.height} is below 32x32")
        if not 0 < self.zoom_min <= self.zoom_max:
            reasons.append(f"zoom range {self.zoom_min}-{self.zoom_max} must be 0 < min <= max")
        if not 0 <= self.pan <= 1:
            reasons.append(f"pan {self.pan} must be in [0, 1]")
        if min(*self.zoom_period, *self.pan_period) <= 0:
            reasons.append("periods must be > 0 frames")
        if self.shake_px < 0 or self.shake_roll_deg < 0 or self.roll_deg < 0:
            reasons.append("shake and roll must be >= 0")
        if not 0 < self.min_visible <= 1:
            reasons.append(f"min_visible {self.min_visible} must be in (0, 1]")
        if not reasons:
            roll = math.radians(self.roll_deg + 4 * self.shake_roll_deg)
            hx, hy = _half_extent(self.width, self.height, self.zoom_min, roll)
            if 2 * hx > src_w or 2 * hy > src_h:
                reasons.append(
                    f"a {self.width}x{self.height} view at zoom {self.zoom_min} does not fit in "
                    f"the {src_w}x{src_h} source; raise zoom_min or shrink the output"
                )
        if reasons:
            raise ValueError("; ".join(reasons))
        return self


def _half_extent(width: int, height: int, zoom: float, roll: float) -> tuple[float, float]:
    """Half width/height, in source pixels, of the box around a rotated output window."""
    c, s = abs(math.cos(roll)), abs(math.sin(roll))
    return (c * width / 2 + s * height / 2) / zoom, (s * width / 2 + c * height / 2) / zoom


def _smooth_signal(rng: np.random.Generator, t: np.ndarray, period: tuple[float, float]):
    """Sum of three sinusoids with seeded periods, phases and weights, in [-1, 1]."""
    total = np.zeros_like(t)
    weights = rng.uniform(0.3, 1.0, size=3)
    for k, weight in enumerate(weights):
        p = rng.uniform(*period) * (1.0 if k == 0 else rng.uniform(0.35, 0.8))
        total += weight * np.sin(2 * np.pi * t / p + rng.uniform(0, 2 * np.pi))
    return total / weights.sum()


def camera_matrices(
    n_frames: int, source_size: tuple[int, int], path: CameraPath, seed: int
) -> np.ndarray:
    """(n_frames, 2, 3) source -> output similarity of each frame, reproducible from seed."""
    path = path.checked(source_size)
    src_w, src_h = source_size
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames, dtype=np.float64)
    zoom_wave = 0.5 + 0.5 * _smooth_signal(rng, t, path.zoom_period)
    zoom = path.zoom_min + (path.zoom_max - path.zoom_min) * zoom_wave
    pan_x = _smooth_signal(rng, t, path.pan_period)
    pan_y = _smooth_signal(rng, t, path.pan_period)
    roll = np.radians(
        path.roll_deg * _smooth_signal(rng, t, path.zoom_period)
        + rng.normal(0.0, path.shake_roll_deg, n_frames)
    )
    shake = rng.normal(0.0, path.shake_px, (n_frames, 2))
    out_centre = np.array([path.width / 2, path.height / 2])
    matrices = np.zeros((n_frames, 2, 3))
    for i in range(n_frames):
        hx, hy = _half_extent(path.width, path.height, zoom[i], roll[i])
        room = np.array([src_w / 2 - hx, src_h / 2 - hy])
        centre = np.array([src_w / 2, src_h / 2]) + path.pan * room * np.array([pan_x[i], pan_y[i]])
        centre = centre + shake[i] / zoom[i]
        centre = np.clip(centre, [hx, hy], [src_w - hx, src_h - hy])
        cos, sin = math.cos(roll[i]), math.sin(roll[i])
        linear = zoom[i] * np.array([[cos, -sin], [sin, cos]])
        matrices[i, :, :2] = linear
        matrices[i, :, 2] = out_centre - linear @ centre
    return matrices


def frame_to_frame(matrices: np.ndarray) -> np.ndarray:
    """(n-1, 2, 3) warps from each output frame to the next (what compensation estimates)."""
    full = np.zeros((len(matrices), 3, 3))
    full[:, :2] = matrices
    full[:, 2, 2] = 1.0
    return (full[1:] @ np.linalg.inv(full[:-1]))[:, :2]


def move_ground_truth(
    rows: np.ndarray, matrix: np.ndarray, size: tuple[int, int], min_visible: float
) -> np.ndarray:
    """One frame's gt rows seen through ``matrix``: moved, scaled and classified by how much
    of the box is inside the view (the visibility column).

    Boxes keep the person's whole extent, also beyond the image border, as MOTChallenge
    ground truth does (and as a detector trained on whole people reports them).
    """
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, rows.shape[-1] if rows.size else 9)
    width, height = size
    zoom = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    centre = np.stack(
        [rows[:, LEFT] + rows[:, WIDTH] / 2, rows[:, TOP] + rows[:, HEIGHT] / 2], axis=1
    )
    centre = centre @ matrix[:, :2].T + matrix[:, 2]
    w, h = rows[:, WIDTH] * zoom, rows[:, HEIGHT] * zoom
    x1, y1 = centre[:, 0] - w / 2, centre[:, 1] - h / 2
    inside_w = np.clip(np.minimum(x1 + w, width) - np.maximum(x1, 0), 0, None)
    inside_h = np.clip(np.minimum(y1 + h, height) - np.maximum(y1, 0), 0, None)
    visible = inside_w * inside_h / np.maximum(w * h, 1e-9)
    out = rows.copy()
    out[:, LEFT], out[:, TOP], out[:, WIDTH], out[:, HEIGHT] = x1, y1, w, h
    out[:, CONF] = 1.0
    out[:, CLASS] = np.where(visible >= min_visible, PEDESTRIAN, DISTRACTOR)
    out[:, VISIBILITY] = np.round(visible, 2)  # as written (MOT files keep 2 decimals)
    return out[visible > 0]


def make_sequence(
    source: str, out: Path, path: CameraPath, seed: int, jpeg_quality: int = 95
) -> dict[str, object]:
    """Write the moving-camera version of ``source`` into ``out``; returns its metadata."""
    sequence = open_sequence(source)
    if sequence.gt_path is None:
        raise SequenceError(f"{source} has no ground truth to move with the camera")
    frames = list(sequence.frames())
    if not frames:
        raise SequenceError(f"{source} has no frames")
    src_h, src_w = frames[0][1].shape[:2]
    matrices = camera_matrices(len(frames), (src_w, src_h), path, seed)
    gt = sequence.ground_truth()
    out = Path(out)
    _prepare_output(out)
    moved = []
    for k, ((index, image), matrix) in enumerate(zip(frames, matrices, strict=True), start=1):
        view = cv2.warpAffine(image, matrix, (path.width, path.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        cv2.imwrite(str(out / "img1" / f"{k:06d}.jpg"), view,
                    [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        rows = move_ground_truth(gt[gt[:, FRAME] == index], matrix, (path.width, path.height),
                                 path.min_visible)
        rows[:, FRAME] = k
        moved.append(rows)
    gt_rows = np.concatenate(moved) if moved else np.zeros((0, 9))
    write_mot_rows(out / "gt" / "gt.txt", gt_rows)
    fps = sequence.frame_rate if sequence.frame_rate > 0 else 30.0
    (out / "seqinfo.ini").write_text(
        f"[Sequence]\nname={out.name}\nimDir=img1\nframeRate={fps:g}\nseqLength={len(frames)}\n"
        f"imWidth={path.width}\nimHeight={path.height}\nimExt=.jpg\n"
    )
    with (out / PATH_FILE).open("w") as handle:
        for k, matrix in enumerate(matrices, start=1):
            handle.write(f"{k}," + ",".join(f"{v:.6f}" for v in matrix.reshape(-1)) + "\n")
    steps = frame_to_frame(matrices)
    meta = {
        "source": source,
        "source_frames": [frames[0][0], frames[-1][0]],
        "seed": seed,
        "path": asdict(path),
        "frames": len(frames),
        "gt_rows": int(len(gt_rows)),
        "gt_ignored_rows": int(np.count_nonzero(gt_rows[:, CLASS] == DISTRACTOR)),
        "motion_per_frame_px": _motion_stats(steps, (path.width, path.height)),
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _prepare_output(out: Path) -> None:
    """An empty ``img1/``: old frames of an earlier run of this tool are removed (a shorter
    run must not leave stale frames behind); a folder this tool did not write is refused."""
    images = out / "img1"
    old = sorted(images.glob("*")) if images.is_dir() else []
    if old and not (out / META_FILE).is_file():
        raise SequenceError(f"{images} already holds files not written by this tool; "
                            "choose an empty --out")
    for path in old:
        if path.suffix == ".jpg":
            path.unlink()
    images.mkdir(parents=True, exist_ok=True)


def _corners(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64)


def _motion_stats(steps: np.ndarray, size: tuple[int, int]) -> dict[str, float]:
    """How far the image corners move from frame to frame (mean, 95th percentile, max)."""
    corners = _corners(size)
    moved = np.einsum("nij,kj->nki", steps[:, :, :2], corners) + steps[:, None, :, 2]
    shift = np.linalg.norm(moved - corners[None], axis=2).mean(axis=1)
    if not len(shift):
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}
    return {"mean": round(float(shift.mean()), 2), "p95": round(float(np.percentile(shift, 95)), 2),
            "max": round(float(shift.max()), 2)}


def read_camera_path(folder: Path) -> np.ndarray:
    """(n, 2, 3) source -> output matrices written by :func:`make_sequence`."""
    rows = np.loadtxt(Path(folder) / PATH_FILE, delimiter=",", ndmin=2)
    return rows[:, 1:7].reshape(-1, 2, 3)


def warp_errors(
    estimated: list[tuple[int, np.ndarray | None]], truth: np.ndarray, size: tuple[int, int]
) -> dict[str, float]:
    """Mean corner error (px) of estimated frame-to-frame warps against the true ones."""
    steps = frame_to_frame(truth)
    corners = _corners(size)
    errors = []
    for frame, warp in estimated:
        if warp is None or not 2 <= frame <= len(truth):
            continue
        true = steps[frame - 2]
        diff = corners @ (warp[:, :2] - true[:, :2]).T + (warp[:, 2] - true[:, 2])
        errors.append(float(np.linalg.norm(diff, axis=1).mean()))
    if not errors:
        return {"frames": 0}
    return {"frames": len(errors), "mean_px": round(float(np.mean(errors)), 3),
            "p95_px": round(float(np.percentile(errors, 95)), 3),
            "max_px": round(float(np.max(errors)), 3)}


TABLE_COLUMNS = CAMERA_MOTION_METRICS


def score_runs(
    model: str | Path,
    moving: str,
    still: str | None,
    methods: list[str],
    threads: int | None = None,
    providers: tuple[str, ...] | None = None,
    progress: bool = False,
) -> list[dict[str, object]]:
    """One entry per (camera, method): metrics, timing and, where known, warp accuracy."""
    from fairmot_ros.evaluation.cli import score_sequence, track_sequence

    runs: list[dict[str, object]] = []
    for camera, spec in (("moving", moving), ("still", still)):
        if spec is None:
            continue
        sequence = open_sequence(spec)
        truth = None
        if camera == "moving" and (Path(spec) / PATH_FILE).is_file():
            truth = read_camera_path(Path(spec))
        for method in methods:
            if progress:
                print(f"moving_camera: {camera} {method} ...", file=sys.stderr, flush=True)
            warps: list[tuple[int, np.ndarray | None]] = []
            rows, timing = track_sequence(model, sequence, threads=threads, providers=providers,
                                          camera_motion=method, warp_log=warps)
            run: dict[str, object] = {
                "camera": camera, "sequence": spec, "camera_motion": method,
                "metrics": score_sequence(sequence, rows)["metrics"], "timing": timing,
            }
            if truth is not None and method != "none":
                run["warp_error"] = warp_errors(warps, truth, (sequence.width, sequence.height))
            runs.append(run)
    return runs


def markdown_table(runs: list[dict[str, object]]) -> str:
    head = ["camera", "camera_motion", *TABLE_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for run in runs:
        m = run["metrics"]
        cells = [str(run["camera"]), f"`{run['camera_motion']}`"]
        cells += [str(m[k]) if isinstance(m[k], int) else f"{m[k]:.1f}" for k in TABLE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.partition("x")
    if not (sep and width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WxH, got {text!r}")
    return int(width), int(height)


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    try:
        return float(low), float(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fairmot_ros.evaluation.moving_camera",
        description="Make a moving-camera version of a MOT sequence; score tracking on it with "
        "and without camera-motion compensation.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="write a moving-camera MOT sequence folder")
    make.add_argument("--source", default=DEFAULT_SOURCE, metavar="SEQ[:FIRST-LAST]",
                      help=f"still sequence with ground truth (default {DEFAULT_SOURCE})")
    make.add_argument("--out", required=True, help="output folder (img1/, gt/gt.txt, ...)")
    make.add_argument("--seed", type=int, default=1)
    defaults = CameraPath()
    make.add_argument("--size", type=_size, default=(defaults.width, defaults.height),
                      metavar="WxH", help=f"view size (default {defaults.width}x{defaults.height})")
    make.add_argument("--zoom", type=_pair, default=(defaults.zoom_min, defaults.zoom_max),
                      metavar="MIN,MAX", help="output pixels per source pixel")
    make.add_argument("--pan", type=float, default=defaults.pan,
                      help="share of the free room the view sweeps, 0..1")
    make.add_argument("--pan-period", type=_pair, default=defaults.pan_period, metavar="LO,HI",
                      help="range of the pan periods in frames (shorter: faster pans)")
    make.add_argument("--shake", type=float, default=defaults.shake_px, metavar="PX",
                      help="per-frame jitter sigma in output pixels")
    make.add_argument("--roll", type=float, default=defaults.roll_deg, metavar="DEG",
                      help="amplitude of the slow roll sway")
    make.add_argument("--shake-roll", type=float, default=defaults.shake_roll_deg, metavar="DEG",
                      help="per-frame roll jitter sigma")
    make.add_argument("--min-visible", type=float, default=defaults.min_visible)
    make.add_argument("--jpeg-quality", type=int, default=95)
    score = sub.add_parser("score", help="track and score with each camera_motion method")
    score.add_argument("--sequence", required=True, help="moving-camera folder from 'make'")
    score.add_argument("--still", default=DEFAULT_SOURCE,
                       help=f"still original to score too (default {DEFAULT_SOURCE}; 'none' skips)")
    score.add_argument("--methods", nargs="+", default=["none", "sparse_flow"],
                       choices=CAMERA_MOTION_METHODS)
    score.add_argument("--model", default=None, help="ONNX model (default: the shipped model)")
    score.add_argument("--threads", type=int, default=2, help="ONNX Runtime CPU threads")
    score.add_argument("--cpu", action="store_true", help="use the CPU provider only")
    score.add_argument("--json", default=None, metavar="FILE")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "make":
            path = CameraPath(
                width=args.size[0], height=args.size[1], zoom_min=args.zoom[0],
                zoom_max=args.zoom[1], pan=args.pan, pan_period=args.pan_period,
                shake_px=args.shake, roll_deg=args.roll, shake_roll_deg=args.shake_roll,
                min_visible=args.min_visible,
            )
            report: dict[str, object] = make_sequence(args.source, Path(args.out), path,
                                                      args.seed, args.jpeg_quality)
            print(json.dumps(report, indent=2))
            return 0
        if args.model is None:
            from fairmot_ros.default_model import default_model_path

            model = default_model_path()
        else:
            model = Path(args.model)
        still = None if args.still == "none" else args.still
        providers = ("CPUExecutionProvider",) if args.cpu else None
        runs = score_runs(model, args.sequence, still, args.methods, args.threads, providers,
                          progress=True)
    except (SequenceError, FileNotFoundError, ValueError) as exc:
        print(f"moving_camera: {exc}", file=sys.stderr)
        return 2
    report = {"model": str(model), "runs": runs}
    text = json.dumps(report, indent=2)
    print(text)
    print()
    print(markdown_table(runs))
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
