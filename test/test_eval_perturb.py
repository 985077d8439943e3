"""Image perturbations for robustness evaluation, ``fairmot-eval --perturb`` and the sweep.

The image tests run on a small synthetic scene (gradients, blocks, fine texture) so that every
perturbation has something to act on. The end-to-end tests use the shipped model on a few
PETS09-S2L1 training frames (1-400 are the training range; 401-795 are not touched here) and
skip when the video or ../shared ground truth is absent.
"""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from fairmot_ros.evaluation.perturb import (
    KINDS,
    PerturbationChain,
    PerturbationError,
    parse_perturbations,
    perturb_sequence,
)
from fairmot_ros.sequences import PETS_GT_PATH, locate_pets_video, open_sequence


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:96, 0:128]
    image = np.stack([40 + x, 60 + y, 100 + (x + y) // 3], axis=2).astype(np.float64)
    image[20:50, 30:60] = (200, 60, 40)
    image[60:90, 80:120] = (30, 180, 220)
    image += cv2.GaussianBlur(rng.normal(0, 12, image.shape), (0, 0), 0.7)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _apply(spec: str, image: np.ndarray, frame: int = 1, seed: int = 0) -> np.ndarray:
    return parse_perturbations(spec, seed)(image, frame)


def _high_frequency(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _horizontal_gradient(image: np.ndarray) -> float:
    return float(np.abs(np.diff(image.astype(np.float64), axis=1)).mean())


STRONG = ["noise:8", "blur:1.5", "motion_blur:7", "jpeg:30", "brightness:-40", "brightness:+40",
          "contrast:0.6", "gamma:1.8", "downscale:0.5", "color:1.25", "color:0.8,1,1.2",
          "noise:8+jpeg:40"]


@pytest.mark.parametrize("spec", STRONG)
def test_shape_dtype_kept_and_image_changed(scene, spec):
    out = _apply(spec, scene)
    assert out.shape == scene.shape and out.dtype == np.uint8
    assert not np.array_equal(out, scene)
    assert out is not scene


@pytest.mark.parametrize("name", [n for n, k in KINDS.items() if k.neutral is not None])
def test_neutral_level_is_identity(scene, name):
    level = ",".join(f"{v:g}" for v in KINDS[name].neutral)
    np.testing.assert_array_equal(_apply(f"{name}:{level}", scene, frame=3, seed=5), scene)


def test_neutral_color_gains_are_identity(scene):
    np.testing.assert_array_equal(_apply("color:1,1,1", scene), scene)


def test_exposure_changes_move_the_mean_the_right_way(scene):
    mean = scene.mean()
    assert _apply("brightness:+40", scene).mean() > mean + 30
    assert _apply("brightness:-40", scene).mean() < mean - 30
    assert _apply("gamma:1.8", scene).mean() < mean - 20
    assert _apply("gamma:0.5", scene).mean() > mean + 20
    flat = _apply("contrast:0.6", scene)
    assert flat.std() == pytest.approx(0.6 * scene.std(), rel=0.05)
    assert flat.mean() == pytest.approx(mean, abs=1.0)
    assert _apply("contrast:1.5", scene).std() > scene.std()


def test_brightness_adds_the_offset_where_nothing_clips(scene):
    mid = (scene > 50) & (scene < 200)
    diff = _apply("brightness:+40", scene).astype(int) - scene
    assert np.all(diff[mid] == 40)


def test_color_cast_gains_per_channel(scene):
    warm = _apply("color:1.25", scene).reshape(-1, 3).mean(0)
    base = scene.reshape(-1, 3).mean(0)
    blue, green, red = warm - base
    assert red > 10 and blue < -10 and green == pytest.approx(0)
    # R,G,B order in the spec, BGR in the image.
    explicit = _apply("color:1,1,0.5", scene).astype(float)
    np.testing.assert_allclose(explicit[..., 0], np.rint(scene[..., 0] * 0.5), atol=0)
    np.testing.assert_array_equal(explicit[..., 1:], scene[..., 1:])


@pytest.mark.parametrize("spec", ["blur:1.5", "downscale:0.5", "motion_blur:7"])
def test_smoothing_lowers_high_frequency_energy(scene, spec):
    assert _high_frequency(_apply(spec, scene)) < 0.6 * _high_frequency(scene)


def test_stronger_blur_removes_more(scene):
    energies = [_high_frequency(_apply(f"blur:{s}", scene)) for s in (0.5, 1.0, 2.0, 4.0)]
    assert energies == sorted(energies, reverse=True)


def test_motion_blur_is_horizontal():
    # Rows of constant colour (horizontal stripes) are untouched; vertical stripes are smeared.
    stripes = np.zeros((40, 60, 3), np.uint8)
    stripes[::4] = 255
    np.testing.assert_array_equal(_apply("motion_blur:9", stripes), stripes)
    columns = np.ascontiguousarray(stripes.transpose(1, 0, 2))
    smeared = _apply("motion_blur:9", columns)
    assert _horizontal_gradient(smeared) < 0.3 * _horizontal_gradient(columns)


def test_jpeg_differs_but_stays_close(scene):
    out = _apply("jpeg:30", scene)
    error = np.abs(out.astype(int) - scene)
    assert error.mean() > 0.5 and error.mean() < 8
    worse = np.abs(_apply("jpeg:5", scene).astype(int) - scene).mean()
    better = np.abs(_apply("jpeg:95", scene).astype(int) - scene).mean()
    assert better < error.mean() < worse


def test_noise_has_the_requested_sigma_and_no_bias(scene):
    grey = np.full((200, 200, 3), 128, np.uint8)
    diff = _apply("noise:8", grey).astype(float) - 128
    assert diff.std() == pytest.approx(8, rel=0.03)
    assert abs(diff.mean()) < 0.2


def test_noise_is_deterministic_per_seed_and_frame(scene):
    first = _apply("noise:8", scene, frame=10, seed=3)
    np.testing.assert_array_equal(first, _apply("noise:8", scene, frame=10, seed=3))
    assert not np.array_equal(first, _apply("noise:8", scene, frame=11, seed=3))
    assert not np.array_equal(first, _apply("noise:8", scene, frame=10, seed=4))
    # The noise of a step does not depend on the steps before it.
    chained = _apply("brightness:0+noise:8", scene, frame=10, seed=3)
    assert not np.array_equal(chained, first)  # step position 1, another draw
    np.testing.assert_array_equal(
        _apply("noise:8+jpeg:40", scene, frame=2, seed=1),
        _apply("noise:8+jpeg:40", scene, frame=2, seed=1),
    )


@pytest.mark.parametrize("spec", [s for s in STRONG if not any(
    KINDS[p.name].random for p in parse_perturbations(s).steps)])
def test_deterministic_steps_ignore_seed_and_frame(scene, spec):
    np.testing.assert_array_equal(_apply(spec, scene, 1, 0), _apply(spec, scene, 99, 7))


def test_chain_applies_steps_in_order(scene):
    expected = _apply("jpeg:40", _apply("blur:2", scene))
    np.testing.assert_array_equal(_apply("blur:2+jpeg:40", scene), expected)
    assert not np.array_equal(_apply("jpeg:40+blur:2", scene), expected)


def test_spec_round_trip_and_description():
    chain = parse_perturbations(" noise:8 + brightness:+40+color:0.8,1,1.2+Jpeg:30", seed=4)
    assert chain.spec == "noise:8+brightness:+40+color:0.8,1,1.2+jpeg:30"
    assert parse_perturbations(chain.spec).spec == chain.spec
    assert parse_perturbations("brightness:-40").spec == "brightness:-40"
    described = chain.describe()
    assert described["seed"] == 4 and described["spec"] == chain.spec
    assert "grey levels" in described["units"]["noise"]


@pytest.mark.parametrize(("spec", "message"), [
    ("sharpen:2", "unknown perturbation 'sharpen'"),
    ("noise", "needs a level"),
    ("noise:", "needs a level"),
    ("noise:lots", "not a number"),
    ("noise:-1", "outside"),
    ("blur:nan", "outside"),
    ("jpeg:0", "outside [1, 100]"),
    ("jpeg:101", "outside"),
    ("jpeg:30.5", "integer"),
    ("motion_blur:2.5", "integer"),
    ("downscale:0", "outside (0, 1]"),
    ("downscale:2", "outside"),
    ("gamma:0", "outside"),
    ("color:1,2", "1 or 3 value(s)"),
    ("color:1,0,1", "outside"),
    ("", "empty perturbation spec"),
    ("noise:8+", "empty step"),
    ("+noise:8", "empty step"),
])
def test_parser_errors_are_clear(spec, message):
    with pytest.raises(PerturbationError, match=re.escape(message)):
        parse_perturbations(spec)
    assert issubclass(PerturbationError, ValueError)


def test_bad_images_and_seed_are_refused(scene):
    chain = parse_perturbations("blur:1")
    with pytest.raises(PerturbationError, match="uint8 HxWx3"):
        chain(scene.astype(np.float32), 1)
    with pytest.raises(PerturbationError, match="uint8 HxWx3"):
        chain(scene[..., 0], 1)
    with pytest.raises(PerturbationError, match="seed"):
        PerturbationChain(chain.steps, seed=-1)


def test_perturbed_sequence_wraps_the_frame_source(tmp_path, scene):
    folder = tmp_path / "img1"
    folder.mkdir()
    for i in range(1, 5):
        cv2.imwrite(str(folder / f"{i:06d}.png"), np.roll(scene, 7 * i, axis=1))
    clean = open_sequence(f"{tmp_path}:2-3")
    chain = parse_perturbations("noise:10+blur:1", seed=2)
    perturbed = perturb_sequence(clean, chain)
    assert (perturbed.first, perturbed.last, perturbed.source) == (2, 3, clean.source)
    got = list(perturbed.frames())
    assert [i for i, _ in got] == [2, 3]
    for (index, image), (_, original) in zip(got, clean.frames(), strict=True):
        np.testing.assert_array_equal(image, chain(original, index))
    # Sub-ranges keep the perturbation.
    assert [i for i, _ in perturbed.with_range(4, 4).frames()] == [4]
    assert not np.array_equal(next(perturbed.with_range(4, 4).frames())[1],
                              next(clean.with_range(4, 4).frames())[1])


# ----- end to end on the shipped model, PETS09-S2L1 training frames -----

PETS_FRAMES = "pets:1-6"
STRONG_DEGRADATION = "brightness:-90+blur:4+noise:30"


@pytest.fixture(scope="module")
def pets():
    pytest.importorskip("trackeval")
    if locate_pets_video() is None or not PETS_GT_PATH.is_file():
        pytest.skip("PETS09-S2L1 video or ../shared ground truth not available")
    return PETS_FRAMES


def _eval(tmp_path, name: str, *extra: str) -> dict:
    from fairmot_ros.evaluation.cli import main

    out = tmp_path / f"{name}.json"
    assert main(["--sequence", PETS_FRAMES, "--cpu", "--threads", "1", "--json", str(out),
                 *extra]) == 0
    return json.loads(out.read_text())


def test_eval_cli_records_and_applies_the_perturbation(pets, tmp_path):
    clean = _eval(tmp_path, "clean")
    assert clean["perturbation"] is None
    assert clean["metrics"]["recall"] > 50  # the model finds people on its training frames
    dark = _eval(tmp_path, "dark", "--perturb", STRONG_DEGRADATION, "--perturb-seed", "3")
    assert dark["perturbation"]["spec"] == STRONG_DEGRADATION
    assert dark["perturbation"]["seed"] == 3
    assert dark["timing"]["frames"] == clean["timing"]["frames"] == 6
    assert dark["metrics"]["recall"] < clean["metrics"]["recall"] - 20
    neutral = _eval(tmp_path, "neutral", "--perturb", "noise:0+contrast:1")
    assert neutral["metrics"] == clean["metrics"]


def test_eval_cli_bad_spec_is_one_line_exit_2(capsys):
    from fairmot_ros.evaluation.cli import main

    assert main(["--perturb", "noise:8+fog:3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fairmot-eval: unknown perturbation 'fog'") and "\n" not in err


def test_robustness_sweep_rows_and_table(pets, tmp_path, capsys):
    from fairmot_ros.evaluation.robustness import main

    out = tmp_path / "sweep.json"
    assert main(["--sequence", PETS_FRAMES, "--cpu", "--threads", "1", "--json", str(out),
                 "--perturbations", "noise:0", STRONG_DEGRADATION]) == 0
    report = json.loads(out.read_text())
    labels = [run["label"] for run in report["runs"]]
    assert labels == ["clean", "noise:0", STRONG_DEGRADATION]
    clean, neutral, degraded = (run["metrics"] for run in report["runs"])
    assert neutral == clean
    assert degraded["recall"] < clean["recall"] - 20
    assert (report["first_frame"], report["last_frame"]) == (1, 6)
    stdout = capsys.readouterr().out
    table = stdout[stdout.index("| perturbation"):].strip().splitlines()
    assert len(table) == 2 + 3
    assert table[0].split("|")[1:-1] == [
        " perturbation ", " MOTA ", " IDF1 ", " HOTA ", " precision ", " recall ", " IDSW ",
        " ΔMOTA ", " ΔIDF1 "]
    assert table[2].startswith("| `clean` |") and table[3].startswith("| `noise:0` |")
    assert table[3].endswith("| +0.0 | +0.0 |")


def test_robustness_refuses_bad_specs_before_running(capsys):
    from fairmot_ros.evaluation.robustness import main

    assert main(["--perturbations", "noise:8", "jpeg:300"]) == 2
    assert "robustness: level 300 of 'jpeg' is outside" in capsys.readouterr().err


def test_robustness_needs_ground_truth(tmp_path, scene, capsys):
    from fairmot_ros.evaluation.robustness import main

    cv2.imwrite(str(tmp_path / "000001.png"), scene)
    assert main(["--sequence", str(tmp_path), "--perturbations", "noise:1"]) == 2
    assert "has no ground truth" in capsys.readouterr().err
