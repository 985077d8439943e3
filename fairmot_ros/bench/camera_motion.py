"""``fairmot-bench camera-motion``: cost and accuracy of the camera-motion estimate per frame.

Frames are a textured scene seen by a camera moving along a seeded random path (a known
similarity per frame, like a robot head panning and shaking), at each requested resolution
(1080p by default), with a few 'people' boxes masked as the tracker would pass them. The
document reports the per-frame estimate time (median, p90, max), the corner error of the
recovered warp against the true one, and the cost of warping N Kalman states (what
``JDETracker.update(..., warp=W)`` adds). ``--sequence`` times real frames instead (e.g. a
moving-camera folder from ``python -m fairmot_ros.evaluation.moving_camera make``), whose
accuracy is then read from its ``camera_path.txt`` when present.

Wall times depend on the machine's load; the document records the load average beside them
and, for synthetic frames, the CPU time of the calling thread (``--threads 1``), which a busy
machine inflates much less.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from fairmot_ros.bench.common import load_average, machine, summarize_ms
from fairmot_ros.tracking.camera_motion import CameraMotionEstimator, warp_kalman_states
from fairmot_ros.tracking.config import CAMERA_MOTION_METHODS
from fairmot_ros.tracking.kalman import KalmanFilter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", nargs="+", default=["1920x1080"], metavar="WxH",
                        help="synthetic frame sizes (default 1920x1080)")
    parser.add_argument("--frames", type=int, default=100, help="frames per size (default 100)")
    parser.add_argument("--method", default="sparse_flow",
                        choices=[m for m in CAMERA_MOTION_METHODS if m != "none"])
    parser.add_argument("--max-width", type=int, default=320,
                        help="width the estimator works at (default 320)")
    parser.add_argument("--tracks", type=int, default=50,
                        help="Kalman states warped per frame in the warp timing (default 50)")
    parser.add_argument("--sequence", default=None, metavar="SEQ[:FIRST-LAST]",
                        help="time real frames of this sequence instead of synthetic ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenCV threads (default 1, so that the CPU time of the calling "
                        "thread is the whole cost; 0 lets OpenCV choose)")


def _estimator(args: argparse.Namespace) -> CameraMotionEstimator:
    model = "affine" if args.method == "sparse_flow_affine" else "similarity"
    return CameraMotionEstimator(max_width=args.max_width, model=model)


def _ms(seconds: list[float]) -> dict[str, float | int]:
    return summarize_ms(1000.0 * np.asarray(seconds))


def _corner_error(estimated: np.ndarray, true: np.ndarray, width: int, height: int) -> float:
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=np.float64)
    diff = corners @ (estimated[:, :2] - true[:, :2]).T + (estimated[:, 2] - true[:, 2])
    return float(np.linalg.norm(diff, axis=1).mean())


def _synthetic(width: int, height: int, frames: int, seed: int):
    """Yield (frame, true warp from the previous frame, people boxes) for a moving camera."""
    rng = np.random.default_rng(seed)
    margin = 0.25
    world_w, world_h = int(width * (1 + 2 * margin)), int(height * (1 + 2 * margin))
    coarse = (rng.random((world_h // 12, world_w // 12, 3)) * 255).astype(np.uint8)
    world = cv2.GaussianBlur(
        cv2.resize(coarse, (world_w, world_h), interpolation=cv2.INTER_CUBIC), (0, 0), 2
    )
    # Camera pose: offset of the view in the world, zoom and roll, random-walking.
    offset = np.array([margin * width, margin * height])
    zoom, roll = 1.0, 0.0
    previous = None
    people = rng.uniform([0, 0], [width - width / 20, height - height / 5], (6, 2))
    for _ in range(frames):
        offset = offset + rng.normal(0, width / 200, 2)
        offset = np.clip(offset, [0.05 * width, 0.05 * height],
                         [2 * margin * width - 0.05 * width, 2 * margin * height - 0.05 * height])
        zoom = float(np.clip(zoom * math.exp(rng.normal(0, 0.01)), 0.95, 1.1))
        roll = float(np.clip(roll + rng.normal(0, 0.003), -0.05, 0.05))
        c, s = zoom * math.cos(roll), zoom * math.sin(roll)
        view = np.array([[c, -s, 0.0], [s, c, 0.0]])
        view[:, 2] = np.array([width / 2, height / 2]) - view[:, :2] @ (
            offset + np.array([width / 2, height / 2])
        )
        image = cv2.warpAffine(world, view, (width, height), flags=cv2.INTER_LINEAR)
        boxes = np.column_stack([people, people + [width / 20, height / 5]])
        for x1, y1, x2, y2 in boxes.astype(int):  # people: flat patches that move on their own
            image[y1:y2, x1:x2] = rng.integers(0, 255, 3, dtype=np.uint8)
        people = np.clip(people + rng.normal(0, width / 300, people.shape), 0,
                         [width - width / 20, height - height / 5])
        true = None
        if previous is not None:
            full_now = np.vstack([view, [0, 0, 1]])
            full_prev = np.vstack([previous, [0, 0, 1]])
            true = (full_now @ np.linalg.inv(full_prev))[:2]
        previous = view
        yield image, true, boxes


def _time_synthetic(args: argparse.Namespace, width: int, height: int) -> dict[str, object]:
    estimator = _estimator(args)
    seconds, cpu, errors = [], [], []
    for image, true, boxes in _synthetic(width, height, args.frames + 1, args.seed):
        started = time.thread_time()
        estimate = estimator.estimate_detailed(image, boxes)
        used = time.thread_time() - started
        if true is None:
            continue
        seconds.append(estimate.seconds)
        cpu.append(used)
        errors.append(_corner_error(estimate.warp, true, width, height))
    return {
        "size": f"{width}x{height}",
        "frames": len(seconds),
        "estimate_ms": _ms(seconds),
        "estimate_cpu_ms": _ms(cpu),
        "failures": estimator.failures,
        "corner_error_px": {"mean": round(float(np.mean(errors)), 3),
                            "p95": round(float(np.percentile(errors, 95)), 3)},
    }


def _time_sequence(args: argparse.Namespace) -> dict[str, object]:
    from fairmot_ros.evaluation.moving_camera import PATH_FILE, read_camera_path, warp_errors
    from fairmot_ros.sequences import open_sequence

    sequence = open_sequence(args.sequence)
    estimator = _estimator(args)
    seconds: list[float] = []
    warps: list[tuple[int, np.ndarray | None]] = []
    size = (0, 0)
    for index, image in sequence.frames():
        if len(warps) > args.frames:
            break
        size = (image.shape[1], image.shape[0])
        estimate = estimator.estimate_detailed(image)
        warps.append((index - sequence.first + 1, estimate.warp))
        if estimate.warp is not None:
            seconds.append(estimate.seconds)
    if not seconds:
        raise ValueError(f"{args.sequence} has fewer than two frames")
    report: dict[str, object] = {"sequence": args.sequence, "size": f"{size[0]}x{size[1]}",
                                 "frames": len(seconds), "estimate_ms": _ms(seconds),
                                 "failures": estimator.failures,
                                 "note": "unmasked (no detector in this benchmark)"}
    folder = Path(str(args.sequence).rsplit(":", 1)[0])
    if (folder / PATH_FILE).is_file() and sequence.first == 1:
        report["warp_error"] = warp_errors(warps, read_camera_path(folder), size)
    return report


def _time_state_warp(tracks: int, repeats: int = 200) -> dict[str, float]:
    rng = np.random.default_rng(0)
    xyah = np.column_stack([rng.uniform(0, 1920, tracks), rng.uniform(0, 1080, tracks),
                            rng.uniform(0.3, 0.6, tracks), rng.uniform(50, 300, tracks)])
    means, covs = KalmanFilter().initiate(xyah)
    warp = np.array([[1.01, -0.01, 12.0], [0.01, 1.01, -4.0]])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        warp_kalman_states(means, covs, warp)
        seconds.append(time.perf_counter() - start)
    return {"tracks": tracks, **_ms(seconds)}


def run(args: argparse.Namespace) -> dict:
    if args.frames < 1:
        raise ValueError("--frames must be at least 1")
    if args.threads:
        cv2.setNumThreads(int(args.threads))
    load_before = load_average()
    if args.sequence:
        results = [_time_sequence(args)]
    else:
        results = []
        for size in args.sizes:
            width, sep, height = size.partition("x")
            if not sep or not width.isdigit() or not height.isdigit():
                raise ValueError(f"size {size!r} is not WxH")
            results.append(_time_synthetic(args, int(width), int(height)))
    return {
        "benchmark": "camera-motion",
        "method": args.method,
        "max_width": args.max_width,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": load_average(),
        "results": results,
        "kalman_warp_ms": _time_state_warp(args.tracks),
    }


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``fairmot-bench camera-motion`` prints the same document)."""
    parser = argparse.ArgumentParser(prog="python -m fairmot_ros.bench.camera_motion",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        print(json.dumps(run(parser.parse_args(argv)), indent=2))
    except (ValueError, FileNotFoundError) as exc:
        print(f"camera-motion: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
