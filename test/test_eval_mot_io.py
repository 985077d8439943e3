"""MOT text files: results written the way track.py writes them read back unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.evaluation.mot_io import (
    MotFormatError,
    format_result_line,
    read_mot,
    select_frames,
    write_mot_results,
    write_mot_rows,
)


def test_result_round_trip(tmp_path):
    rows = [(1, 3, [10.0, 20.5, 30.25, 60.0]), (2, 3, [11.0, 21.0, 30.0, 60.0]),
            (2, 7, [-5.0, 0.0, 12.0, 40.0])]
    path = write_mot_results(tmp_path / "res.txt", rows)
    assert path.read_text().splitlines()[0] == "1,3,10.00,20.50,30.25,60.00,1,-1,-1,-1"
    back = read_mot(path)
    assert back.shape == (3, 9)
    for (frame, tid, tlwh), row in zip(rows, back, strict=True):
        assert row[0] == frame and row[1] == tid
        np.testing.assert_allclose(row[2:6], tlwh, atol=5e-3)
        assert row[6] == 1 and row[7] == -1 and row[8] == -1


def test_gt_rows_round_trip_and_frame_selection(tmp_path):
    gt = np.array([[1, 1, 5, 6, 7, 8, 1, 1, 0.5], [3, 2, 1, 2, 3, 4, 0, 7, 1]], float)
    back = read_mot(write_mot_rows(tmp_path / "gt.txt", gt))
    np.testing.assert_allclose(back, gt)
    assert select_frames(back, 2, 3)[:, 1].tolist() == [2]


def test_short_rows_padded_and_bad_rows_rejected(tmp_path):
    (tmp_path / "six.txt").write_text("1,1,0,0,10,20\n\n")
    assert read_mot(tmp_path / "six.txt").tolist() == [[1, 1, 0, 0, 10, 20, -1, -1, -1]]
    (tmp_path / "bad.txt").write_text("1,1,zero,0,10,20\n")
    with pytest.raises(MotFormatError, match="bad.txt:1"):
        read_mot(tmp_path / "bad.txt")
    (tmp_path / "empty.txt").write_text("")
    assert read_mot(tmp_path / "empty.txt").shape == (0, 9)
    with pytest.raises(FileNotFoundError):
        read_mot(tmp_path / "missing.txt")
    assert format_result_line(4, 2, (1, 2, 3, 4)).startswith("4,2,1.00,2.00,3.00,4.00")
