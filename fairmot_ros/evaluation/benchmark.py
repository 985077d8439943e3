"""CPU/GPU speed of an exported model on real frames, printed as JSON.

``python -m fairmot_ros.evaluation.benchmark [--model M] [--threads 2] [--frames 100]``
times the detector (letterbox + ONNX Runtime + decoding) and the tracker per frame on
PETS09-S2L1 frames 401-..., after a warm-up, and reports frames per second. Timing goals
live here rather than in tests because they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fairmot_ros.evaluation.benchmark")
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--sequence", default="pets:401-795")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpu", action="store_true", help="CPU provider only")
    args = parser.parse_args(argv)

    from fairmot_ros.default_model import default_model_path
    from fairmot_ros.detector import Detector
    from fairmot_ros.sequences import open_sequence
    from fairmot_ros.tracking import JDETracker, TrackerConfig

    model = args.model or default_model_path()
    sequence = open_sequence(args.sequence)
    frames = []
    for _, image in sequence.frames():
        frames.append(image)
        if len(frames) >= args.frames:
            break
    providers = {"providers": ("CPUExecutionProvider",)} if args.cpu else {}
    detector = Detector(model, threads=args.threads, **providers)
    for image in frames[:5]:
        detector.detect(image)
    tracker = JDETracker(TrackerConfig(frame_rate=sequence.frame_rate or 30.0))
    parts = {"preprocess": [], "inference": [], "decode": [], "track": []}
    total = []
    for i, image in enumerate(frames):
        start = time.perf_counter()
        dets = detector.detect(image)
        mid = time.perf_counter()
        tracker.update(dets.boxes, dets.scores, dets.embeddings, i / (sequence.frame_rate or 30))
        end = time.perf_counter()
        for key, value in detector.last_timings.items():
            parts[key].append(value)
        parts["track"].append(end - mid)
        total.append(end - start)
    report = {
        "model": str(model),
        "input": f"{detector.contract.input_width}x{detector.contract.input_height}",
        "precision": detector.contract.precision,
        "provider": detector.engine.active_provider,
        "threads": args.threads,
        "frames": len(frames),
        "fps": round(len(total) / sum(total), 2),
        "ms_median": {k: round(1000 * float(np.median(v)), 2) for k, v in parts.items()},
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_avg_1min": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
