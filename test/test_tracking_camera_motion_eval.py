"""The moving-camera generator keeps ground truth on the people, and the estimator follows it.

A small synthetic still sequence (coloured 'people' on a textured background, with exact gt)
is filmed by the virtual camera; in every output frame the gt boxes must still sit on their
people. On real PETS09-S2L1 frames (skipped without the video and ground truth) the image
estimate must match the generator's true motion and compensation must beat the original
tracker on ID switches.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fairmot_ros.evaluation.mot_io import (
    CLASS,
    FRAME,
    TRACK_ID,
    VISIBILITY,
    read_mot,
    write_mot_rows,
)
from fairmot_ros.evaluation.moving_camera import (
    DISTRACTOR,
    PEDESTRIAN,
    CameraPath,
    camera_matrices,
    frame_to_frame,
    make_sequence,
    move_ground_truth,
    read_camera_path,
    warp_errors,
)
from fairmot_ros.tracking.camera_motion import CameraMotionEstimator

SRC_W, SRC_H = 400, 300
COLOURS = {1: (0, 0, 255), 2: (0, 255, 0), 3: (255, 0, 0)}


def _person_box(person: int, frame: int) -> tuple[float, float, float, float]:
    """(left, top, w, h): three people walking; person 3 walks out of the picture."""
    if person == 1:
        return 60.0 + 2 * frame, 120.0, 30.0, 70.0
    if person == 2:
        return 250.0, 60.0 + frame, 26.0, 60.0
    return 330.0 + 4 * frame, 180.0, 30.0, 70.0


def _still_sequence(folder, n_frames: int = 20):
    rng = np.random.default_rng(0)
    coarse = (rng.random((SRC_H // 6, SRC_W // 6, 3)) * 120 + 60).astype(np.uint8)
    background = cv2.resize(coarse, (SRC_W, SRC_H), interpolation=cv2.INTER_CUBIC)
    (folder / "img1").mkdir(parents=True)
    rows = []
    for frame in range(1, n_frames + 1):
        image = background.copy()
        for person, colour in COLOURS.items():
            left, top, w, h = _person_box(person, frame)
            if left + w <= SRC_W:
                cv2.rectangle(image, (round(left), round(top)),
                              (round(left + w) - 1, round(top + h) - 1), colour, -1)
                rows.append([frame, person, left, top, w, h, 1, 1, 1])
        cv2.imwrite(str(folder / "img1" / f"{frame:06d}.png"), image)
    write_mot_rows(folder / "gt" / "gt.txt", np.array(rows))
    (folder / "seqinfo.ini").write_text(
        f"[Sequence]\nname=still\nframeRate=10\nseqLength={n_frames}\nimWidth={SRC_W}\n"
        f"imHeight={SRC_H}\n"
    )
    return folder


PATH = CameraPath(width=240, height=180, zoom_min=1.0, zoom_max=1.3, zoom_period=(15, 25),
                  pan_period=(20, 40), shake_px=3.0, roll_deg=1.0)


def test_gt_boxes_stay_on_their_people(tmp_path):
    source = _still_sequence(tmp_path / "still")
    meta = make_sequence(str(source), tmp_path / "moving", PATH, seed=3, jpeg_quality=100)
    out = tmp_path / "moving"
    gt = read_mot(out / "gt" / "gt.txt")
    assert meta["frames"] == 20 and len(sorted((out / "img1").glob("*.jpg"))) == 20
    assert meta["motion_per_frame_px"]["mean"] > 2.0  # the camera does move
    checked: set[tuple[int, int]] = set()
    for row in gt:
        if row[CLASS] != PEDESTRIAN:
            continue
        image = cv2.imread(str(out / "img1" / f"{int(row[FRAME]):06d}.jpg"))
        x, y, w, h = row[2:6]
        inside = (min(x + w, PATH.width) - max(x, 0)) * (min(y + h, PATH.height) - max(y, 0))
        assert row[VISIBILITY] == pytest.approx(inside / (w * h), abs=0.006)  # 2 decimals
        assert row[VISIBILITY] >= PATH.min_visible
        # The inner half of the box, where in view, is the person's colour (edges may blend).
        x1, x2 = max(round(x + w / 4), 0), min(round(x + 3 * w / 4), PATH.width)
        y1, y2 = max(round(y + h / 4), 0), min(round(y + 3 * h / 4), PATH.height)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        mean = image[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(mean, COLOURS[int(row[TRACK_ID])], atol=40)
        checked.add((int(row[FRAME]), int(row[TRACK_ID])))
    assert len(checked) > 15 and len({person for _, person in checked}) >= 2
    assert set(np.unique(gt[:, TRACK_ID])) <= set(COLOURS)
    info = (out / "seqinfo.ini").read_text()
    assert "imWidth=240" in info and "seqLength=20" in info and "frameRate=10" in info
    assert json.loads((out / "moving_camera.json").read_text())["seed"] == 3


def test_boxes_leaving_the_view_are_ignored_then_dropped():
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    rows = np.array([[1, 1, 10, 10, 20, 40, 1, 1, 1],     # inside
                     [1, 2, 90, 10, 20, 40, 1, 1, 1],     # 50% visible
                     [1, 3, 95, 10, 20, 40, 1, 1, 1],     # 25% visible
                     [1, 4, 130, 10, 20, 40, 1, 1, 1]])   # outside
    moved = move_ground_truth(rows, identity, (100, 100), min_visible=0.5)
    assert moved[:, TRACK_ID].tolist() == [1, 2, 3]
    assert moved[:, CLASS].tolist() == [PEDESTRIAN, PEDESTRIAN, DISTRACTOR]
    assert moved[:, VISIBILITY].tolist() == [1.0, 0.5, 0.25]
    np.testing.assert_allclose(moved[1, 2:6], [90, 10, 20, 40])  # the whole person
    zoom = np.array([[2.0, 0.0, -10.0], [0.0, 2.0, 5.0]])
    (row,) = move_ground_truth(rows[:1], zoom, (200, 200), 0.5)
    np.testing.assert_allclose(row[2:6], [10, 25, 40, 80])  # centre (20,30)->(30,65), size x2


def test_path_is_seeded_and_stays_inside_the_source():
    a = camera_matrices(200, (768, 576), CameraPath(), seed=4)
    b = camera_matrices(200, (768, 576), CameraPath(), seed=4)
    c = camera_matrices(200, (768, 576), CameraPath(), seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    corners = np.array([[0, 0], [640, 0], [0, 480], [640, 480]], dtype=float)
    for m in a:
        full = np.vstack([m, [0, 0, 1]])
        src = (np.linalg.inv(full)[:2, :2] @ corners.T).T + np.linalg.inv(full)[:2, 2]
        assert src.min() >= -1e-6 and src[:, 0].max() <= 768 + 1e-6
        assert src[:, 1].max() <= 576 + 1e-6
    steps = frame_to_frame(a)
    p = np.array([100.0, 50.0])
    src = np.linalg.solve(a[10][:, :2], p - a[10][:, 2])
    np.testing.assert_allclose(steps[10] @ np.append(p, 1), a[11] @ np.append(src, 1))


def test_a_view_that_cannot_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        camera_matrices(10, (320, 240), CameraPath(zoom_min=1.0), seed=0)


def test_estimator_recovers_the_generated_motion(tmp_path):
    source = _still_sequence(tmp_path / "still")
    out = tmp_path / "moving"
    make_sequence(str(source), out, PATH, seed=3, jpeg_quality=100)
    gt = read_mot(out / "gt" / "gt.txt")
    estimator = CameraMotionEstimator()
    estimates = []
    for frame, file in enumerate(sorted((out / "img1").glob("*.jpg")), start=1):
        rows = gt[gt[:, FRAME] == frame]
        boxes = rows[:, 2:6].copy()
        boxes[:, 2:] += boxes[:, :2]
        estimates.append((frame, estimator.estimate(cv2.imread(str(file)), boxes)))
    errors = warp_errors(estimates, read_camera_path(out), (PATH.width, PATH.height))
    assert errors["frames"] == 19
    assert errors["mean_px"] < 0.5 and errors["max_px"] < 1.5, errors


# ----- real people (PETS09-S2L1) -----------------------------------------------------------------
def _pets_or_skip():
    from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video

    if locate_pets_video() is None or not PETS_GT_PATH.is_file():
        pytest.skip("PETS09-S2L1 video or ground truth not available")


def test_compensation_on_a_moving_view_of_real_people(tmp_path):
    """60 frames of PETS09-S2L1 (the shipped model's test range) seen by a panning, shaking
    camera: the estimate follows the true motion and compensation cuts the ID switches."""
    _pets_or_skip()
    from fairmot_ros.default_model import default_model_path
    from fairmot_ros.evaluation.cli import score_sequence, track_sequence
    from fairmot_ros.sequences import open_sequence

    out = tmp_path / "moving"
    path = CameraPath(zoom_min=1.0, zoom_max=1.0, pan_period=(20, 30))
    make_sequence("pets:401-460", out, path, seed=11)
    sequence = open_sequence(out)
    results = {}
    for method in ("none", "sparse_flow"):
        warps: list = []
        rows, _ = track_sequence(default_model_path(), sequence, threads=1,
                                 providers=("CPUExecutionProvider",), camera_motion=method,
                                 warp_log=warps)
        results[method] = score_sequence(sequence, rows)["metrics"]
        if method == "sparse_flow":
            errors = warp_errors(warps, read_camera_path(out), (path.width, path.height))
            assert errors["mean_px"] < 1.0, errors
    assert results["sparse_flow"]["IDSW"] < results["none"]["IDSW"] / 2, results
    assert results["sparse_flow"]["IDF1"] > results["none"]["IDF1"] + 20, results
