"""Id changes split into in-view ones and re-entries, and the re-scoring with re-entries joined.

Hand-made ground truth and results check the classification, the CLEAR-style continuation
preference and the renaming; the scoring is TrackEval's. The command runs on a few PETS09-S2L1
training frames and skips without the video."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fairmot_ros.evaluation.identity_splits import (
    IN_VIEW,
    RE_ENTRY,
    id_changes,
    join_re_entries,
    main,
    scored_gt,
    split_report,
)
from fairmot_ros.evaluation.mot_io import TRACK_ID
from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video


def gt_row(frame: int, person: int, x: float = 100.0, cls: int = 1) -> list[float]:
    return [frame, person, x, 50.0, 40.0, 100.0, 1.0, cls, 1.0]


def res_row(frame: int, track: int, x: float = 100.0) -> list[float]:
    return [frame, track, x, 50.0, 40.0, 100.0, 1.0, -1.0, -1.0]


def rows(items: list[list[float]]) -> np.ndarray:
    return np.asarray(items, dtype=np.float64)


def leave_and_return(gap: int, second_track: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Person 1 seen on frames 1-10 and again after ``gap`` frames out of the view; track 5
    follows the first part, ``second_track`` the second."""
    back = range(11 + gap, 21 + gap)
    gt = rows([gt_row(f, 1) for f in range(1, 11)] + [gt_row(f, 1) for f in back])
    res = rows([res_row(f, 5) for f in range(1, 11)] + [res_row(f, second_track) for f in back])
    return gt, res


def assert_not_joined(gt: np.ndarray, res: np.ndarray, track: int, frames: range) -> None:
    """With person 2 (far from person 1) followed by ``track`` on ``frames``, person 1's
    return is still one re-entry, and joining leaves every id as it is."""
    gt2 = np.vstack([gt, rows([gt_row(f, 2, x=400.0) for f in frames])])
    res2 = np.vstack([res, rows([res_row(f, track, x=400.0) for f in frames])])
    changes = id_changes(gt2, res2, 10)
    assert [(c.person, c.kind) for c in changes] == [(1, RE_ENTRY)]
    assert np.array_equal(join_re_entries(res2, changes), res2)


def test_a_return_after_more_than_the_buffer_is_a_re_entry():
    gt, res = leave_and_return(gap=20)
    (change,) = id_changes(gt, res, buffer_frames=10)
    assert (change.kind, change.before, change.after) == (RE_ENTRY, 5, 7)
    assert (change.last_frame, change.first_frame, change.unseen) == (10, 31, 20)


def test_a_short_absence_or_a_change_in_plain_view_is_in_view():
    gt, res = leave_and_return(gap=10)  # exactly the buffer: the tracker could still hold it
    assert [c.kind for c in id_changes(gt, res, buffer_frames=10)] == [IN_VIEW]
    gt = rows([gt_row(f, 1) for f in range(1, 21)])
    res = rows([res_row(f, 1 if f <= 10 else 2) for f in range(1, 21)])
    (change,) = id_changes(gt, res, buffer_frames=10)
    assert change.kind == IN_VIEW and change.unseen == 0


def test_distractor_frames_count_as_out_of_the_view():
    # Frames 11-30 are present only as a distractor (less than half in a scale view).
    gt = rows([gt_row(f, 1, cls=1 if f <= 10 or f > 30 else 8) for f in range(1, 41)])
    res = rows([res_row(f, 5 if f <= 10 else 7) for f in range(1, 41) if f <= 10 or f > 30])
    assert len(scored_gt(gt)) == 20
    (change,) = id_changes(scored_gt(gt), res, buffer_frames=10)
    assert change.kind == RE_ENTRY and change.unseen == 20


def test_a_continuing_match_wins_over_a_better_overlap():
    # Track 2 overlaps the person better from frame 6 on, but track 1 still matches at
    # IoU >= 0.5: no change (as CLEAR MOT matches).
    gt = rows([gt_row(f, 1) for f in range(1, 11)])
    res = rows([res_row(f, 1, x=108.0) for f in range(1, 11)]
               + [res_row(f, 2, x=101.0) for f in range(6, 11)])  # fmt: skip
    assert id_changes(gt, res, buffer_frames=10) == []


def test_joining_renames_only_tracks_born_at_the_re_entry():
    gt, res = leave_and_return(gap=20)
    joined = join_re_entries(res, id_changes(gt, res, 10))
    assert set(joined[:, TRACK_ID]) == {5}
    # Track 7 followed someone else (person 2, far away) before taking over person 1: a
    # gallery relabels new tracks only, so it is left alone.
    assert_not_joined(gt, res, track=7, frames=range(1, 11))


def test_report_scores_the_run_and_the_joined_run():
    gt, res = leave_and_return(gap=20)
    report = split_report(gt, res, 1, 40, buffer_frames=10)
    assert report["id_changes"] == {IN_VIEW: 0, RE_ENTRY: 1}
    assert report["re_entry_unseen_frames"] == [20] and report["people"] == 1
    assert report["IDF1"] == pytest.approx(50.0)  # half the frames under each id
    assert report["IDF1_reentries_joined"] == pytest.approx(100.0)
    # CLEAR MOT counts the return under a new id as a switch; joined, it is gone.
    assert report["MOTA"] == pytest.approx(95.0) and report["IDSW"] == 1
    assert report["IDSW_reentries_joined"] == 0


@pytest.mark.skipif(locate_pets_video() is None or not PETS_GT_PATH.is_file(),
                    reason="PETS09-S2L1 video or ground truth not present")  # fmt: skip
def test_command_on_training_frames(tmp_path, capsys):
    from fairmot_ros.evaluation.scales import main as scales_main

    out = tmp_path / "splits.json"
    code = main(["--sequence", "pets:1-30", "--scales", "2", "--cpu", "--threads", "2",
                 "--json", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    (run,) = report["runs"]
    assert report["frame_rate"] > 0 and run["buffer_frames"] == int(report["frame_rate"])
    # The run's own metrics are those of the scale sweep on the same view.
    assert scales_main(["--sequence", "pets:1-30", "--scales", "2", "--perturbations", "none",
                        "--cpu", "--threads", "2", "--json", str(tmp_path / "s.json")]) == 0
    sweep = json.loads((tmp_path / "s.json").read_text())["models"][0]["runs"][0]["metrics"]
    assert (run["MOTA"], run["IDF1"], run["IDSW"]) == (sweep["MOTA"], sweep["IDF1"], sweep["IDSW"])
    assert run["IDF1_reentries_joined"] >= run["IDF1"] - 1e-9


def test_bad_sequence_is_one_line_and_exit_2(capsys):
    assert main(["--sequence", "/no/such/sequence", "--scales", "2"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "identity_splits:" in err


def test_joining_never_gives_one_id_two_boxes_in_a_frame():
    # Track 5 lets person 1 go but stays reported (on person 2) when person 1 comes back
    # under track 7: renaming 7 to 5 would put two boxes under id 5 in one frame.
    gt, res = leave_and_return(gap=20)
    assert_not_joined(gt, res, track=5, frames=range(11, 41))
