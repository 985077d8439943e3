"""MOTChallenge text files: ``frame, id, left, top, width, height, conf, class, visibility``.

Ground truth and tracker results share the layout; results carry ``-1`` in the last three
columns (spec section 5.6). Frames are 1-based. Reading keeps every column as float so that
one array type flows through training targets and metrics alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

# Column indices of a MOT row.
FRAME, TRACK_ID, LEFT, TOP, WIDTH, HEIGHT, CONF, CLASS, VISIBILITY = range(9)
N_COLUMNS = 9


class MotFormatError(ValueError):
    """A MOT text file does not have the expected comma-separated numeric layout."""


def read_mot(path: str | Path) -> np.ndarray:
    """Rows of a MOT file as a float64 array (N, 9); missing trailing columns become -1.

    Files with only the six geometric columns (some detectors write those) are accepted so a
    caller never has to guess the producer. Empty files give an empty (0, 9) array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MOT file not found: {path}")
    rows: list[list[float]] = []
    with path.open() as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            fields = [f.strip() for f in line.replace(";", ",").split(",")]
            if len(fields) < 6:
                raise MotFormatError(f"{path}:{line_no}: expected at least 6 columns, got {line!r}")
            try:
                values = [float(f) for f in fields[:N_COLUMNS]]
            except ValueError:
                raise MotFormatError(f"{path}:{line_no}: non-numeric field in {line!r}") from None
            values += [-1.0] * (N_COLUMNS - len(values))
            rows.append(values)
    if not rows:
        return np.zeros((0, N_COLUMNS), dtype=np.float64)
    return np.asarray(rows, dtype=np.float64)


def select_frames(rows: np.ndarray, first: int, last: int) -> np.ndarray:
    """Rows whose frame lies in ``[first, last]`` (inclusive, 1-based)."""
    frames = rows[:, FRAME]
    return rows[(frames >= first) & (frames <= last)]


def format_result_line(frame: int, track_id: int, tlwh: Iterable[float]) -> str:
    """One result line as ``track.py`` writes it: ``frame,id,x1,y1,w,h,1,-1,-1,-1``."""
    x, y, w, h = (float(v) for v in tlwh)
    return f"{int(frame)},{int(track_id)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n"


def result_rows(rows: Iterable[tuple[int, int, Iterable[float]]]) -> np.ndarray:
    """``(frame, track_id, tlwh)`` tuples as a (N, 10) float64 array of result rows (conf 1,
    ``-1`` in the last three columns), the layout :func:`evaluation.metrics.evaluate_mot` takes."""
    return np.array([[f, i, *tlwh, 1, -1, -1, -1] for f, i, tlwh in rows],
                    dtype=np.float64).reshape(-1, 10)


def write_mot_results(path: str | Path, rows: Iterable[tuple[int, int, Iterable[float]]]) -> Path:
    """Write ``(frame, track_id, tlwh)`` tuples as a MOT result file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for frame, track_id, tlwh in rows:
            handle.write(format_result_line(frame, track_id, tlwh))
    return path


def write_mot_rows(path: str | Path, rows: np.ndarray) -> Path:
    """Write a (N, >=6) array in MOT layout, e.g. a ground-truth subset for an evaluator."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, rows.shape[-1] if rows.size else 9)
    with path.open("w") as handle:
        for row in rows:
            head = f"{int(row[FRAME])},{int(row[TRACK_ID])}"
            box = ",".join(f"{v:.2f}" for v in row[LEFT : HEIGHT + 1])
            tail = ",".join(_compact(v) for v in row[CONF:N_COLUMNS])
            handle.write(f"{head},{box},{tail}\n")
    return path


def _compact(value: float) -> str:
    """Integers without a decimal point (MOT flags), other values with two decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
