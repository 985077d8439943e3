"""MOT metrics with TrackEval (MOTA, IDF1, HOTA, ID switches, precision, recall, MT/ML).

TrackEval reads MOTChallenge folders, so the rows are written into a temporary folder with
the layout it expects (``gt/<seq>/gt/gt.txt``, ``trackers/<name>/data/<seq>.txt``) and frames
renumbered from 1 when a sub-range is scored (TrackEval counts timesteps from 1). Results are
percentages like the MOTChallenge tables; counts stay integers.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fairmot_ros.evaluation.mot_io import FRAME, write_mot_rows

SEQ_NAME = "SEQ"
TRACKER_NAME = "fairmot"
METRICS_LIBRARY = "trackeval (MotChallenge2DBox, IoU 0.5)"  # what every report names

# The keys of :func:`evaluate_mot`'s result, in its order, and the selections the reports
# print (column order as printed): the one place for these names.
METRIC_KEYS = ("MOTA", "IDF1", "HOTA", "DetA", "AssA", "MOTP", "precision", "recall", "IDSW",
               "FP", "FN", "TP", "MT", "PT", "ML", "Frag", "gt_ids", "frames")
HEADLINE_METRICS = ("MOTA", "IDF1", "HOTA", "precision", "recall", "IDSW")  # robustness table
CHANGE_METRICS = ("MOTA", "IDF1")  # robustness table: change from the clean run
CAMERA_MOTION_METRICS = ("MOTA", "IDF1", "HOTA", "IDSW", "precision", "recall")  # moving camera
SUMMARY_METRICS = (*HEADLINE_METRICS, "MT", "ML", "gt_ids")  # fairmot-demo's summary
REPORT_METRICS = ("MOTA", "IDF1", "HOTA", "DetA", "AssA", "precision", "recall", "IDSW", "FP",
                  "FN", "MT", "PT", "ML", "gt_ids", "frames")  # fairmot-bag eval


def _renumber(rows: np.ndarray, first: int, last: int) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 9 if not len(rows) else rows.shape[1])
    keep = (rows[:, FRAME] >= first) & (rows[:, FRAME] <= last)
    rows = rows[keep].copy()
    rows[:, FRAME] -= first - 1
    return rows


def _as_result_rows(rows: np.ndarray) -> np.ndarray:
    """Tracker rows with conf 1 and class/visibility -1 whatever the producer wrote."""
    out = np.full((len(rows), 10), -1.0)
    out[:, :6] = rows[:, :6]
    out[:, 6] = 1.0
    return out


def evaluate_mot(
    gt_rows: np.ndarray,
    result_rows: np.ndarray,
    first_frame: int,
    last_frame: int,
    preprocess: bool = True,
) -> dict[str, float]:
    """Score tracker rows against ground-truth rows over frames ``[first, last]`` (1-based).

    ``preprocess`` applies MOT17's rules (gt rows with conf 0 ignored, results matched to
    distractor classes dropped); with PETS-style gt (conf 1, class 1) it changes nothing.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        # trackeval prints a note about its optional mask datasets (pycocotools) on import.
        import trackeval

    if last_frame < first_frame:
        raise ValueError(f"empty frame range {first_frame}-{last_frame}")
    length = last_frame - first_frame + 1
    gt = _renumber(gt_rows, first_frame, last_frame)
    results = _as_result_rows(_renumber(result_rows, first_frame, last_frame))
    with tempfile.TemporaryDirectory(prefix="fairmot-eval-") as tmp:
        root = Path(tmp)
        write_mot_rows(root / "gt" / SEQ_NAME / "gt" / "gt.txt", gt)
        (root / "gt" / SEQ_NAME / "seqinfo.ini").write_text(
            f"[Sequence]\nname={SEQ_NAME}\nseqLength={length}\n"
        )
        tracker_file = root / "trackers" / TRACKER_NAME / "data" / f"{SEQ_NAME}.txt"
        write_mot_rows(tracker_file, results)
        eval_config = trackeval.Evaluator.get_default_eval_config()
        eval_config.update(
            PRINT_RESULTS=False, PRINT_CONFIG=False, TIME_PROGRESS=False, OUTPUT_SUMMARY=False,
            OUTPUT_DETAILED=False, PLOT_CURVES=False, DISPLAY_LESS_PROGRESS=True,
            USE_PARALLEL=False, LOG_ON_ERROR=str(root / "error_log.txt"),
        )
        dataset_config = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
        dataset_config.update(
            GT_FOLDER=str(root / "gt"), TRACKERS_FOLDER=str(root / "trackers"),
            OUTPUT_FOLDER=str(root / "out"), TRACKERS_TO_EVAL=[TRACKER_NAME],
            SEQ_INFO={SEQ_NAME: length}, SKIP_SPLIT_FOL=True, PRINT_CONFIG=False,
            DO_PREPROC=preprocess, BENCHMARK="MOT17",
        )
        metric_config = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
        metrics = [
            trackeval.metrics.HOTA(metric_config),
            trackeval.metrics.CLEAR(metric_config),
            trackeval.metrics.Identity(metric_config),
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator = trackeval.Evaluator(eval_config)
            output, messages = evaluator.evaluate(
                [trackeval.datasets.MotChallenge2DBox(dataset_config)], metrics
            )
    status = messages["MotChallenge2DBox"][TRACKER_NAME]
    if status != "Success":
        raise RuntimeError(f"TrackEval failed: {status}")
    res = output["MotChallenge2DBox"][TRACKER_NAME][SEQ_NAME]["pedestrian"]
    clear, identity, hota = res["CLEAR"], res["Identity"], res["HOTA"]
    result = {
        **clear_identity_metrics(clear, identity),
        "HOTA": 100 * float(np.mean(hota["HOTA"])),
        "DetA": 100 * float(np.mean(hota["DetA"])),
        "AssA": 100 * float(np.mean(hota["AssA"])),
        "gt_ids": len(np.unique(gt[:, 1])),
        "frames": length,
    }
    return {key: result[key] for key in METRIC_KEYS}


def clear_identity_metrics(clear: dict, identity: dict) -> dict[str, float]:
    """MOTA, IDF1, MOTP, precision and recall (percentages) and the counts of TrackEval's
    ``CLEAR`` and ``Identity`` results of one sequence."""
    return {
        "MOTA": 100 * float(clear["MOTA"]),
        "IDF1": 100 * float(identity["IDF1"]),
        "MOTP": 100 * float(clear["MOTP"]),
        "precision": 100 * float(clear["CLR_Pr"]),
        "recall": 100 * float(clear["CLR_Re"]),
        "IDSW": int(clear["IDSW"]),
        "FP": int(clear["CLR_FP"]),
        "FN": int(clear["CLR_FN"]),
        "TP": int(clear["CLR_TP"]),
        "MT": int(clear["MT"]),
        "PT": int(clear["PT"]),
        "ML": int(clear["ML"]),
        "Frag": int(clear["Frag"]),
    }


def emit_report(report: dict[str, Any], path: str | Path | None = None) -> str:
    """Print a report as indented JSON (and write it to ``path`` when given); returns it."""
    text = json.dumps(report, indent=2)
    print(text)
    if path:
        Path(path).write_text(text + "\n")
    return text
