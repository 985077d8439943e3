"""The scale sweep: the fixed view per scale, the ground truth moved with the pixels, the CLI.

The geometry runs on synthetic frames; the end-to-end case runs the shipped model on a few
PETS09-S2L1 training frames (1-400; 401-795 are not touched here) and skips when the video or
../shared ground truth is absent.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fairmot_ros.evaluation.mot_io import CLASS, write_mot_rows
from fairmot_ros.evaluation.scales import (
    CANVAS_GREY,
    DISTRACTOR_CLASS,
    ScaleError,
    ScaleView,
    main,
    scale_sequence,
)
from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video, open_sequence

W, H = 768, 576


@pytest.mark.parametrize(("scale", "inner"), [(1.5, (512, 384)), (2.0, (384, 288)),
                                              (3.0, (256, 192)), (0.5, (384, 288))])
def test_views_of_the_pets_frame_are_exact(scale, inner):
    view = ScaleView.make(scale, W, H)
    assert (view.inner_w, view.inner_h) == inner
    assert view.factors == (scale, scale)
    if scale > 1:
        assert (view.x0, view.y0) == ((W - inner[0]) // 2, (H - inner[1]) // 2)
    else:
        assert (view.ox, view.oy) == ((W - inner[0]) // 2, (H - inner[1]) // 2)
    assert ScaleView.make(1.0, W, H).identity


def test_window_stays_inside_the_frame():
    view = ScaleView.make(3.0, W, H, center=(1.0, 0.0))
    assert (view.x0, view.y0) == (W - 256, 0)


@pytest.mark.parametrize("bad", [0.0, -1.0, 50.0, float("nan")])
def test_bad_scales_are_refused(bad):
    with pytest.raises(ScaleError):
        ScaleView.make(bad, W, H)


def test_pixels_and_boxes_move_together():
    image = np.zeros((H, W, 3), np.uint8)
    image[300:340, 400:420] = 255  # a 20x40 block in the window of scale 2
    zoom = ScaleView.make(2.0, W, H)
    out = zoom.apply(image)
    rows = np.array([[1, 7, 400, 300, 20, 40, 1, 1, 1]], float)
    (row,) = zoom.map_ground_truth(rows)
    x, y, w, h = row[2:6]
    assert (w, h) == (40, 80) and row[CLASS] == 1
    assert out[int(y) + 2 : int(y + h) - 2, int(x) + 2 : int(x + w) - 2].min() == 255
    assert out[int(y + h) + 3 :, :].max() == 0

    shrink = ScaleView.make(0.5, W, H)
    small = shrink.apply(image)
    assert small[:shrink.oy].max() == CANVAS_GREY == small[:shrink.oy].min()
    (row,) = shrink.map_ground_truth(rows)
    assert tuple(row[2:6]) == (392.0, 294.0, 10.0, 20.0)
    assert small[296:312, 393:401].min() == 255


def test_people_leaving_the_view_are_clipped_distractors_or_dropped():
    view = ScaleView.make(2.0, W, H)  # window x 192-576, y 144-432
    rows = np.array([
        [1, 1, 160, 200, 40, 80, 1, 1, 1],  # 8 of 40 px wide in the window: distractor
        [1, 2, 170, 200, 40, 80, 1, 1, 1],  # 18 of 40: distractor
        [1, 3, 176, 200, 40, 80, 1, 1, 1],  # 24 of 40: kept, clipped
        [1, 4, 10, 10, 40, 80, 1, 1, 1],  # outside: dropped
    ], float)  # fmt: skip
    out = view.map_ground_truth(rows)
    assert list(out[:, 1]) == [1, 2, 3]
    assert list(out[:, CLASS]) == [DISTRACTOR_CLASS] * 2 + [1]
    np.testing.assert_allclose(out[2, 2:6], [0, 112, 48, 160])  # left edge clipped
    assert np.all(out[:, 2:4] >= 0)
    identity = ScaleView.make(1.0, W, H)
    inside = np.array([[1, 1, 10, 20, 30, 60, 1, 1, 1]], float)
    np.testing.assert_array_equal(identity.map_ground_truth(inside), inside)


def test_scaled_sequence_moves_frames_and_ground_truth(tmp_path):
    folder = tmp_path / "seq"
    (folder / "img1").mkdir(parents=True)
    for index in range(1, 4):
        frame = np.full((96, 128, 3), 40 * index, np.uint8)
        cv2.imwrite(str(folder / "img1" / f"{index:06d}.png"), frame)
    write_mot_rows(folder / "gt" / "gt.txt",
                   np.array([[i, 1, 48, 32, 16, 32, 1, 1, 1] for i in range(1, 4)], float))
    sequence = open_sequence(folder)
    assert sequence.width == 0  # no seqinfo.ini: the size comes from the first frame
    scaled = scale_sequence(sequence, 2.0)
    assert (scaled.width, scaled.height) == (128, 96)
    frames = list(scaled.frames())
    assert [i for i, _ in frames] == [1, 2, 3] and frames[0][1].shape == (96, 128, 3)
    gt = scaled.ground_truth()
    np.testing.assert_allclose(gt[:, 2:6], [[32, 16, 32, 64]] * 3)
    np.testing.assert_array_equal(sequence.ground_truth()[:, 2:6], [[48, 32, 16, 32]] * 3)


def test_the_view_lives_in_the_core_and_the_sweep_adds_the_ground_truth_rules(repo_root):
    import subprocess
    import sys

    from fairmot_ros import scale_view

    assert issubclass(ScaleView, scale_view.ScaleView)
    assert ScaleError is scale_view.ScaleError and CANVAS_GREY == scale_view.CANVAS_GREY
    core = scale_view.ScaleView.make(2.0, W, H)
    assert isinstance(ScaleView.make(2.0, W, H), ScaleView)
    assert core.describe() == ScaleView.make(2.0, W, H).describe()
    image = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    np.testing.assert_array_equal(core.apply(image), ScaleView.make(2.0, W, H).apply(image))
    boxes, visible = core.map_boxes(np.array([[400, 300, 20, 40], [170, 200, 40, 80]], float))
    np.testing.assert_allclose(boxes, [[416, 312, 40, 80], [0, 112, 36, 160]])
    np.testing.assert_allclose(visible, [1.0, 18 / 40])
    # Importing the view (or the quantizer that uses it) loads no evaluation module.
    script = ("import sys, fairmot_ros.scale_view, fairmot_ros.quantize; "
              "print(sorted(m for m in sys.modules if m.startswith('fairmot_ros.evaluation')))")
    result = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize(("argv", "words"), [
    (["--scales", "0"], "outside"),
    (["--scales", "two"], "not a number"),
    (["--center", "2,0.5"], "fractions"),
    (["--perturbations", "fog:3"], "unknown perturbation"),
    (["--model", "/nonexistent.onnx"], "not found"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err


@pytest.mark.skipif(locate_pets_video() is None or not PETS_GT_PATH.is_file(),
                    reason="PETS09-S2L1 video or ground truth not present")  # fmt: skip
def test_sweep_on_training_frames(tmp_path, capsys):
    from fairmot_ros.default_model import default_model_path
    from fairmot_ros.evaluation.cli import score_sequence, track_sequence

    out = tmp_path / "scales.json"
    code = main(["--sequence", "pets:1-12", "--scales", "1", "2", "--perturbations", "none",
                 "--cpu", "--json", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    (entry,) = report["models"]
    runs = {run["label"]: run for run in entry["runs"]}
    assert list(runs) == ["scale:1", "scale:2"]
    assert runs["scale:2"]["view"]["crop_xywh"] == [192, 144, 384, 288]
    # Scale 1 is fairmot-eval's own run.
    sequence = open_sequence("pets:1-12")
    rows, _ = track_sequence(default_model_path(), sequence, 0.4, 2, ("CPUExecutionProvider",))
    assert runs["scale:1"]["metrics"] == score_sequence(sequence, rows)["metrics"]
    assert runs["scale:2"]["metrics"]["frames"] == 12
