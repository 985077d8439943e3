"""TrackEval scoring on a tiny hand-made case whose MOTA / IDSW / IDF1 are known."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("trackeval")

from fairmot_ros.evaluation.metrics import evaluate_mot  # noqa: E402


def _row(frame, tid, x, y=10.0, w=20.0, h=40.0, tail=(1, 1, 1)):
    return [frame, tid, x, y, w, h, *tail]


def _case():
    # Two people, four frames: A at x=10, B at x=100.
    gt = np.array([_row(f, 1, 10) for f in range(1, 5)] + [_row(f, 2, 100) for f in range(1, 5)])
    res = [_row(f, 11, 10, tail=(1, -1, -1)) for f in range(1, 5)]
    # B: tracked as 21 in frames 1-2, switches to 22 in frame 3, missed in frame 4.
    res += [_row(1, 21, 100, tail=(1, -1, -1)), _row(2, 21, 101, tail=(1, -1, -1)),
            _row(3, 22, 100, tail=(1, -1, -1))]
    # One false positive far from everyone in frame 4.
    res += [_row(4, 30, 300, tail=(1, -1, -1))]
    return gt, np.array(res, float)


def test_known_mota_idsw_counts():
    gt, res = _case()
    m = evaluate_mot(gt, res, 1, 4)
    # 8 gt boxes; FN 1 (B in frame 4), FP 1, IDSW 1 -> MOTA = 1 - 3/8.
    assert (m["FN"], m["FP"], m["IDSW"], m["TP"]) == (1, 1, 1, 7)
    assert m["MOTA"] == pytest.approx(62.5)
    assert m["recall"] == pytest.approx(700 / 8)
    assert m["precision"] == pytest.approx(700 / 8)
    # IDF1: IDTP = 4 (A) + 2 (B as 21) = 6; 2 * 6 / (8 + 8) = 75 %.
    assert m["IDF1"] == pytest.approx(75.0)
    assert 0 < m["HOTA"] < 100
    assert m["MT"] == 1 and m["gt_ids"] == 2


def test_perfect_result_and_sub_range():
    gt, _ = _case()
    res = gt.copy()
    res[:, 7:] = -1
    m = evaluate_mot(gt, res, 2, 3)
    assert m["MOTA"] == pytest.approx(100) and m["IDF1"] == pytest.approx(100)
    assert m["frames"] == 2 and m["TP"] == 4
    with pytest.raises(ValueError):
        evaluate_mot(gt, res, 3, 2)


def test_result_keys_and_the_reports_columns_are_named_once():
    from fairmot_ros.evaluation import metrics
    from fairmot_ros.evaluation.mot_io import result_rows

    gt, res = _case()
    m = evaluate_mot(gt, res, 1, 4)
    assert tuple(m) == metrics.METRIC_KEYS
    for columns in (metrics.HEADLINE_METRICS, metrics.CHANGE_METRICS,
                    metrics.CAMERA_MOTION_METRICS, metrics.SUMMARY_METRICS,
                    metrics.REPORT_METRICS):
        assert set(columns) <= set(m) and len(set(columns)) == len(columns)
    # (frame, id, tlwh) tuples pack into the result layout evaluate_mot scores
    rows = [(int(r[0]), int(r[1]), r[2:6]) for r in res]
    np.testing.assert_array_equal(result_rows(rows)[:, :7], np.hstack([res[:, :6],
                                                                       np.ones((len(res), 1))]))
    assert result_rows([]).shape == (0, 10)
