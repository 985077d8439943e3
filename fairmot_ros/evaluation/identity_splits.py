"""Where a person's track id changes, and what re-identifying people who come back would be worth.

IDF1 charges every change of the id that follows one person, but two kinds of change call for
different fixes:

``in_view``
    the person stayed in the view (scored ground truth on the frames between, or a gap no
    longer than the lost-track budget) and the tracker's association let go: a matter of
    embeddings, motion gating or missed detections;
``re_entry``
    the person was out of the view (outside the frame, or a scale view's distractor: less than
    half of the box left in the view) for more than the lost-track budget
    (``TrackerConfig.buffer_size`` frames) and came back. The online tracker forgets lost tracks
    after that budget, as the original does, so no association setting keeps the id; only
    re-identification against remembered people (a gallery) can.

Narrow views, the robot's case, make the second kind common: people walk out of a zoomed view
and back in. :func:`split_report` counts both kinds and re-scores the run with every re-entry
change joined (the later track's id replaced by the earlier one's, for its whole life):
``IDF1_reentries_joined`` is the IDF1 that perfect re-identification of returning people
would give with the same boxes: the ceiling of a gallery, not a result of one.

Matching is per frame, one-to-one, by plain IoU >= 0.5 between the scored ground-truth boxes and
the reported boxes, continuing matches first (as the CLEAR MOT scoring matches); changes are read
from each person's sequence of matched track ids.

``python -m fairmot_ros.evaluation.identity_splits [--model M] [--sequence pets:401-795]
[--scales 1 2 3] [--reid-memory S] [--json out.json]`` tracks each scale view (``scales.py``)
as ``fairmot-eval`` does (with ``--reid-memory``, through the re-identification gallery) and
prints the report as JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairmot_ros.evaluation.mot_io import CLASS, CONF, FRAME, HEIGHT, LEFT, TOP, TRACK_ID, WIDTH

__all__ = ["IN_VIEW", "RE_ENTRY", "IdChange", "id_changes", "join_re_entries", "scored_gt",
           "split_report"]  # fmt: skip

IN_VIEW = "in_view"
RE_ENTRY = "re_entry"
MIN_IOU = 0.5
PEDESTRIAN = 1  # the MOT class scored; other classes (distractors) are out of the view here


@dataclass(frozen=True)
class IdChange:
    """One change of the track id matched to ground-truth person ``person``: ``before`` was last
    matched on ``last_frame``, ``after`` first on ``first_frame``; ``unseen`` is the longest run
    of frames between them on which the person was out of the view; ``kind`` is
    :data:`IN_VIEW` or :data:`RE_ENTRY`."""

    person: int
    before: int
    after: int
    last_frame: int
    first_frame: int
    unseen: int
    kind: str


def scored_gt(gt_rows: np.ndarray) -> np.ndarray:
    """The ground-truth rows that count as a person in the view (conf > 0, pedestrian class)."""
    keep = (gt_rows[:, CONF] > 0) & ((gt_rows[:, CLASS] == PEDESTRIAN) | (gt_rows[:, CLASS] < 0))
    return gt_rows[keep]


def _xyxy(rows: np.ndarray) -> np.ndarray:
    boxes = rows[:, [LEFT, TOP, WIDTH, HEIGHT]].astype(np.float64)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def frame_matches(gt_rows: np.ndarray, result_rows: np.ndarray) -> list[tuple[int, int, int]]:
    """``(frame, person, track id)`` for every one-to-one IoU >= 0.5 match, frames ascending.

    As in the CLEAR MOT matching the scoring does, a pair that continues the person's previous
    match wins over any other pair (then the largest total IoU): two tracks overlapping one
    person do not count as changes frame after frame."""
    from scipy.optimize import linear_sum_assignment

    from fairmot_ros.tracking.matching import iou_matrix

    matches: list[tuple[int, int, int]] = []
    previous: dict[int, int] = {}
    for frame in np.unique(gt_rows[:, FRAME]):
        gt = gt_rows[gt_rows[:, FRAME] == frame]
        res = result_rows[result_rows[:, FRAME] == frame]
        if not len(res):
            continue
        iou = iou_matrix(_xyxy(gt), _xyxy(res))
        usable = iou >= MIN_IOU
        kept = np.array([[previous.get(int(p)) == int(t) for t in res[:, TRACK_ID]]
                         for p in gt[:, TRACK_ID]])  # fmt: skip
        rows, cols = linear_sum_assignment(-np.where(usable, iou + 1000.0 * kept, 0.0))
        for g, r in zip(rows, cols, strict=True):
            if usable[g, r]:
                person, track = int(gt[g, TRACK_ID]), int(res[r, TRACK_ID])
                previous[person] = track
                matches.append((int(frame), person, track))
    return matches


def _longest_unseen(present: set[int], start: int, stop: int) -> int:
    """Longest run of frames in (start, stop) that are not in ``present``."""
    longest = run = 0
    for frame in range(start + 1, stop):
        run = 0 if frame in present else run + 1
        longest = max(longest, run)
    return longest


def id_changes(gt_rows: np.ndarray, result_rows: np.ndarray, buffer_frames: int) -> list[IdChange]:
    """Every change of matched track id along each ground-truth person, classified.

    ``gt_rows`` are the scored rows (:func:`scored_gt`): a frame without a row of the person is a
    frame the person was out of the view. A change is a :data:`RE_ENTRY` when the person was
    out of the view for more than ``buffer_frames`` consecutive frames between the two matches.
    """
    present: dict[int, set[int]] = {}
    for frame, person in gt_rows[:, [FRAME, TRACK_ID]].astype(int):
        present.setdefault(int(person), set()).add(int(frame))
    last: dict[int, tuple[int, int]] = {}
    changes: list[IdChange] = []
    for frame, person, track in frame_matches(gt_rows, result_rows):
        previous = last.get(person)
        if previous is not None and previous[1] != track:
            unseen = _longest_unseen(present[person], previous[0], frame)
            kind = RE_ENTRY if unseen > buffer_frames else IN_VIEW
            changes.append(IdChange(person, previous[1], track, previous[0], frame, unseen, kind))
        last[person] = (frame, track)
    return changes


def join_re_entries(result_rows: np.ndarray, changes: Sequence[IdChange]) -> np.ndarray:
    """``result_rows`` with each re-entry's later track renamed to the earlier track's id.

    Only what a gallery could do is joined: the later track must be first reported at the
    re-entry (a new track for the returning person, not one that followed someone else
    before) and the earlier track must no longer be reported by then (one id, one box a
    frame). Chains (A, then B, then C) end up all A.
    """
    first_seen: dict[int, int] = {}
    last_seen: dict[int, int] = {}
    for frame, track in result_rows[:, [FRAME, TRACK_ID]].astype(int):
        first_seen[int(track)] = min(first_seen.get(int(track), frame), int(frame))
        last_seen[int(track)] = max(last_seen.get(int(track), frame), int(frame))
    rename: dict[int, int] = {}

    def root(track: int) -> int:
        while track in rename:
            track = rename[track]
        return track

    for change in sorted(changes, key=lambda c: c.first_frame):
        if change.kind != RE_ENTRY or change.after in rename:
            continue
        earlier = root(change.before)
        if (first_seen.get(change.after) == change.first_frame and earlier != change.after
                and last_seen[earlier] < change.first_frame):
            rename[change.after] = earlier
            last_seen[earlier] = max(last_seen[earlier], last_seen[change.after])

    joined = result_rows.copy()
    joined[:, TRACK_ID] = [root(int(t)) for t in result_rows[:, TRACK_ID]]
    return joined


def split_report(gt_rows: np.ndarray, result_rows: np.ndarray, first: int, last: int,
                 buffer_frames: int) -> dict[str, object]:
    """Counts of both kinds of id change, the run's metrics and its metrics with re-entries
    joined (see the module docstring)."""
    from fairmot_ros.evaluation.metrics import evaluate_mot

    changes = id_changes(scored_gt(gt_rows), result_rows, buffer_frames)
    joined = join_re_entries(result_rows, changes)
    as_run = evaluate_mot(gt_rows, result_rows, first, last)
    with_joins = evaluate_mot(gt_rows, joined, first, last)
    unseen = sorted(c.unseen for c in changes if c.kind == RE_ENTRY)
    return {
        "buffer_frames": buffer_frames,
        "id_changes": {IN_VIEW: sum(c.kind == IN_VIEW for c in changes),
                       RE_ENTRY: sum(c.kind == RE_ENTRY for c in changes)},
        "re_entry_unseen_frames": unseen,
        "people": int(len(np.unique(scored_gt(gt_rows)[:, TRACK_ID]))),
        "MOTA": as_run["MOTA"], "IDF1": as_run["IDF1"], "IDSW": as_run["IDSW"],
        "IDF1_reentries_joined": with_joins["IDF1"],
        "IDSW_reentries_joined": with_joins["IDSW"],
    }


def build_parser() -> argparse.ArgumentParser:
    from fairmot_ros.evaluation.cli import DEFAULT_SEQUENCE, add_reid_arguments
    from fairmot_ros.evaluation.scales import DEFAULT_SCALES

    parser = argparse.ArgumentParser(
        prog="python -m fairmot_ros.evaluation.identity_splits",
        description="Track scale views of a sequence and count how each person's track id "
        "changes: in view, or on coming back after leaving the view for longer than the "
        "lost-track budget; IDF1 with those re-entries joined is the ceiling of "
        "re-identification. Prints JSON.")  # fmt: skip
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--sequence", default=DEFAULT_SEQUENCE, metavar="SEQ[:FIRST-LAST]")
    parser.add_argument("--scales", nargs="+", type=float, default=list(DEFAULT_SCALES))
    parser.add_argument("--conf-thres", type=float, default=0.4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cpu", action="store_true", help="CPU execution provider only")
    parser.add_argument("--json", default=None, help="also write the report here")
    add_reid_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fairmot_ros.bench.common import load_average, utc_now
    from fairmot_ros.default_model import default_model_path
    from fairmot_ros.evaluation.cli import track_sequence
    from fairmot_ros.evaluation.metrics import METRICS_LIBRARY, emit_report
    from fairmot_ros.evaluation.mot_io import read_mot, result_rows
    from fairmot_ros.evaluation.scales import scale_sequence
    from fairmot_ros.sequences import SequenceError, open_sequence
    from fairmot_ros.tracking import TrackerConfig

    args = build_parser().parse_args(argv)
    model = Path(args.model) if args.model else default_model_path()
    providers = ("CPUExecutionProvider",) if args.cpu else None
    runs = []
    try:
        sequence = open_sequence(args.sequence)
        if sequence.gt_path is None:
            raise SequenceError(f"{args.sequence} has no ground truth")
        last = sequence.last or int(read_mot(sequence.gt_path)[:, FRAME].max())
        fps = sequence.frame_rate if sequence.frame_rate > 0 else 30.0
        buffer_frames = TrackerConfig(frame_rate=fps).buffer_size
        started, load_start = utc_now(), load_average()
        for scale in args.scales:
            view = scale_sequence(sequence, scale)
            print(f"identity_splits: scale {scale:g} ...", file=sys.stderr, flush=True)
            rows, timing = track_sequence(model, view, args.conf_thres, args.threads, providers,
                                          reid_memory_s=args.reid_memory,
                                          reid_max_distance=args.reid_distance)
            runs.append({"scale": scale, "reidentified": timing.get("reidentified"),
                         **split_report(view.ground_truth(), result_rows(rows), sequence.first,
                                        last, buffer_frames)})
    except (SequenceError, FileNotFoundError, ValueError) as exc:
        print(f"identity_splits: {exc}", file=sys.stderr)
        return 2
    report = {"tool": "python -m fairmot_ros.evaluation.identity_splits", "date_utc": started,
              "model": str(model), "sequence": args.sequence, "frame_rate": fps,
              "reid_memory_s": args.reid_memory,
              "reid_max_distance": args.reid_distance if args.reid_memory > 0 else None,
              "metrics_library": METRICS_LIBRARY, "load_average_start": load_start,
              "load_average_end": load_average(), "runs": runs}  # fmt: skip
    emit_report(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
