"""Synthetic composites: clean cut-outs against the background, plausible placement, id -1;
camera-like degradations keep geometry and stay off unless asked for."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.training.augment import AugmentConfig, augment_sample, random_degradation
from fairmot_ros.training.composite import (
    CompositeConfig,
    build_scene_model,
    composite,
    cut_out,
    median_background,
    plausible_place,
)
from fairmot_ros.training.dataset import MotTrainingDataset, SequenceLabels

HEIGHT, WIDTH = 120, 160
GROUND = (60, 120, 60)  # a flat green scene
SHIRT = (20, 20, 200)


def _scene(frames: int = 12):
    """A static background with one red 'person' walking to the right; its height follows a
    perspective line h = 0.5 * foot row + 10 so that the fit can be checked."""
    images, boxes = [], []
    for i in range(frames):
        image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        image[:] = GROUND
        foot = 60 + 4 * i
        h = int(0.5 * foot + 10)
        w = max(8, h // 3)
        x1 = 10 + 10 * i
        image[foot - h : foot, x1 : x1 + w] = SHIRT
        images.append(image)
        boxes.append(np.array([[x1, foot - h, x1 + w, foot]], float))
    return np.stack(images), boxes


def test_median_background_removes_moving_people():
    frames, _ = _scene()
    background = median_background(frames)
    assert (background == np.array(GROUND, np.uint8)).all()


def test_cut_out_masks_the_person_and_rejects_boxes_outside_or_empty():
    frames, boxes = _scene()
    background = median_background(frames)
    cutout = cut_out(frames[3], background, boxes[3][0], threshold=30)
    assert cutout is not None
    assert cutout.pixels.shape[:2] == cutout.mask.shape
    assert cutout.mask[2:-2, 2:-2].min() > 0.9  # the whole box is the red person
    assert cut_out(frames[3], background, np.array([-5, 0, 20, 40.0]), 30) is None
    assert cut_out(background, background, boxes[3][0], 30) is None  # nobody there


def test_scene_model_fits_the_perspective_and_collects_cut_outs():
    frames, boxes = _scene()
    scene = build_scene_model(frames, boxes, frame_step=1)
    slope, intercept = scene.height_fit
    assert slope == pytest.approx(0.5, abs=0.03) and intercept == pytest.approx(10, abs=2)
    assert len(scene.cutouts) == len(frames)
    assert scene.foot_rows == (60.0, float(HEIGHT))


def test_scene_model_refuses_a_scene_without_people():
    frames, _ = _scene()
    with pytest.raises(ValueError, match="no annotated people"):
        build_scene_model(frames, [np.zeros((0, 4))] * len(frames))


def test_composite_adds_unknown_identity_boxes_over_person_pixels():
    frames, boxes = _scene()
    scene = build_scene_model(frames, boxes, frame_step=1)
    config = CompositeConfig(max_people=3, probability=1.0, hue_probability=0.0)
    original = frames[0].copy()
    image, out_boxes, ids = composite(frames[0], boxes[0], np.array([4]), scene,
                                      np.random.default_rng(5), config)
    assert (frames[0] == original).all()  # the cached frame is untouched
    assert ids[0] == 4 and len(ids) > 1 and (ids[1:] == -1).all()
    for box in out_boxes[1:]:
        slope, intercept = scene.height_fit
        expected = slope * box[3] + intercept
        assert 0.85 * expected <= box[3] - box[1] <= 1.15 * expected
        x1, y1, x2, y2 = np.round(box).astype(int)
        inner = image[max(y1 + 3, 0) : min(y2 - 3, HEIGHT), max(x1 + 3, 0) : min(x2 - 3, WIDTH)]
        if inner.size:
            red = (inner[..., 2] > 150) & (inner[..., 1] < 80)
            assert red.mean() > 0.5


def test_colour_identities_keep_the_pasted_person_in_its_variant_range():
    frames, boxes = _scene()
    ids = [np.array([i % 2]) for i in range(len(frames))]  # two people, alternating frames
    scene = build_scene_model(frames, boxes, frame_step=1, ids_per_frame=ids)
    assert [c.identity for c in scene.cutouts] == [i % 2 for i in range(len(frames))]
    config = CompositeConfig(max_people=3, probability=1.0, hue_probability=1.0,
                             flip_probability=0.0, color_identities=4)
    seen = set()
    for seed in range(20):
        _, out_boxes, out_ids = composite(frames[0], boxes[0], np.array([0]), scene,
                                          np.random.default_rng(seed), config, identity_count=2)
        assert out_ids[0] == 0 and len(out_ids) == len(out_boxes)
        pasted = out_ids[1:]
        assert (pasted >= 2).all() and (pasted < 8).all()  # variants 1..3 of person 0 or 1
        seen.update(pasted.tolist())
    assert len(seen) == 6  # every person in every non-zero variant turned up
    plain = CompositeConfig(max_people=3, probability=1.0, hue_probability=0.0,
                            color_identities=4)
    for seed in range(10):
        _, _, out_ids = composite(frames[0], boxes[0], np.array([0]), scene,
                                  np.random.default_rng(seed), plain, identity_count=2)
        # unrotated: person 1 keeps its id, person 0 is in the frame already -> unknown
        assert set(out_ids[1:].tolist()) <= {1, -1}
        assert out_ids[1:].tolist().count(1) <= 1


def test_composite_respects_its_probability():
    frames, boxes = _scene()
    scene = build_scene_model(frames, boxes, frame_step=1)
    image, out_boxes, ids = composite(frames[0], boxes[0], np.array([0]), scene,
                                      np.random.default_rng(0), CompositeConfig(probability=0.0))
    assert np.shares_memory(image, frames) and len(out_boxes) == 1 and ids.tolist() == [0]


def test_placement_never_covers_people_in_front_or_most_of_anyone():
    behind = np.array([[50, 20, 70, 60.0]])  # foot row 60
    in_front = np.array([[50, 40, 70, 100.0]])  # foot row 100
    candidate = np.array([60, 30, 80, 80.0])  # foot row 80
    assert plausible_place(candidate, behind, max_overlap=0.5)
    assert not plausible_place(candidate, in_front, max_overlap=0.5)
    assert not plausible_place(np.array([50, 20, 70, 61.0]), behind, max_overlap=0.3)
    assert plausible_place(candidate, np.zeros((0, 4)), max_overlap=0.3)


def test_dataset_with_scenes_is_reproducible_and_checks_its_arguments():
    frames, boxes = _scene()
    labelled = SequenceLabels(sequence=None, frames=frames, boxes=boxes,
                              ids=[np.array([0])] * len(frames))
    scene = build_scene_model(frames, boxes, frame_step=1)
    config = CompositeConfig(max_people=2, probability=1.0)
    dataset = MotTrainingDataset([labelled], (96, 128), AugmentConfig(enabled=False),
                                 scenes=[scene], composite_config=config)
    first, again = dataset[2], dataset[2]
    assert all(np.array_equal(first[k].numpy(), again[k].numpy()) for k in first)
    plain = MotTrainingDataset([labelled], (96, 128), AugmentConfig(enabled=False))[2]
    assert first["reg_mask"].sum() > plain["reg_mask"].sum()  # pasted people became targets
    with pytest.raises(ValueError, match="scene models"):
        MotTrainingDataset([labelled], (96, 128), scenes=[scene, scene])
    with pytest.raises(ValueError, match="colour identities need identity_count"):
        MotTrainingDataset([labelled], (96, 128), AugmentConfig(color_identities=3))


def test_degradations_keep_shape_and_change_pixels_only_when_drawn():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    assert random_degradation(image, np.random.default_rng(1), 0.0) is image
    degraded = random_degradation(image, np.random.default_rng(1), 1.0)
    assert degraded.shape == image.shape and degraded.dtype == np.uint8
    assert np.abs(degraded.astype(int) - image).mean() > 5
    # blur and downscaling (always drawn at probability 1) remove pixel-level detail
    assert np.abs(np.diff(degraded.astype(float), axis=1)).mean() < np.abs(
        np.diff(image.astype(float), axis=1)).mean()


def test_degradation_keeps_boxes_and_is_off_by_default():
    frames, boxes = _scene()
    assert AugmentConfig().degrade is False
    plain = AugmentConfig(degrees=0, translate=0, scale=(1.0, 1.0), shear=0, flip_probability=0,
                          hsv_fraction=0.0)
    degraded = AugmentConfig(degrees=0, translate=0, scale=(1.0, 1.0), shear=0,
                             flip_probability=0, hsv_fraction=0.0, degrade=True,
                             degrade_probability=1.0)
    a = augment_sample(frames[4], boxes[4], np.array([1]), (96, 128),
                       np.random.default_rng(3), plain)
    b = augment_sample(frames[4], boxes[4], np.array([1]), (96, 128),
                       np.random.default_rng(3), degraded)
    assert np.allclose(a[1], b[1]) and a[2].tolist() == b[2].tolist()
    assert not np.array_equal(a[0], b[0])
