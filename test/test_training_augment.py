"""Augmentation moves boxes with the pixels; the letterbox matches the inference geometry."""

from __future__ import annotations

import numpy as np

from fairmot_ros.training.augment import (
    AugmentConfig,
    augment_sample,
    draw_scale,
    random_affine,
    random_color_identity,
    random_color_variety,
    rotate_hue,
    shift_identity_variants,
    to_grayscale,
    variant_shift,
)


def _frame_with_block(box):
    image = np.zeros((120, 160, 3), np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    return image


def test_plain_letterbox_maps_boxes_onto_the_same_pixels():
    box = (40, 20, 60, 80)
    image, boxes, ids = augment_sample(
        _frame_with_block(box), np.array([box], float), np.array([7]), (96, 160),
        np.random.default_rng(0), AugmentConfig(enabled=False),
    )
    assert image.shape == (96, 160, 3) and ids.tolist() == [7]
    x1, y1, x2, y2 = np.round(boxes[0]).astype(int)
    assert image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].min() > 200
    assert image[y1 - 3, x1 - 3].max() < 130


def test_affine_identity_settings_keep_boxes():
    config = AugmentConfig(degrees=0, translate=0, scale=(1.0, 1.0), shear=0)
    image = _frame_with_block((40, 20, 60, 80))
    rng = np.random.default_rng(1)
    warped, boxes, keep = random_affine(image, np.array([[40, 20, 60, 80.0]]), rng, config)
    assert keep.tolist() == [True]
    np.testing.assert_allclose(boxes, [[40, 20, 60, 80]], atol=1e-6)
    np.testing.assert_array_equal(warped, image)


def test_random_augmentation_keeps_box_on_the_bright_block():
    box = (60, 30, 84, 90)
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(10):
        image, boxes, _ = augment_sample(
            _frame_with_block(box), np.array([box], float), np.array([1]), (128, 160), rng,
            AugmentConfig(),
        )
        for x1, y1, x2, y2 in boxes:
            cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
            if 0 <= cx < 160 and 0 <= cy < 128:
                hits += int(image[cy, cx].mean() > 100)
    assert hits >= 8


def test_flip_mirrors_boxes():
    config = AugmentConfig(degrees=0, translate=0, scale=(1.0, 1.0), shear=0, hsv_fraction=0,
                           flip_probability=1.0)
    box = (10, 20, 30, 60)
    image, boxes, _ = augment_sample(
        _frame_with_block(box), np.array([box], float), np.array([1]), (120, 160),
        np.random.default_rng(0), config,
    )
    np.testing.assert_allclose(boxes, [[130, 20, 150, 60]], atol=1e-6)
    assert image[40, 140].min() == 255 and image[40, 20].max() == 0


def _colour_patches():
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, :2] = (0, 0, 255)  # red (BGR)
    image[:, 2:4] = (128, 128, 128)  # gray
    image[:, 4:] = (30, 90, 200)  # an orange-ish skin/clothing tone
    return image


def test_hue_rotation_by_zero_or_full_circle_is_identity():
    image = _colour_patches()
    for shift in (0, 180, -180):
        out = rotate_hue(image, shift)
        assert out.dtype == np.uint8 and out.shape == image.shape
        np.testing.assert_array_equal(out, image)
        assert out is not image


def test_hue_rotation_moves_colours_round_the_circle_and_keeps_gray():
    image = _colour_patches()
    green = rotate_hue(image, 60)  # 120 degrees: red -> green
    blue = rotate_hue(image, 120)  # 240 degrees: red -> blue
    assert green.dtype == np.uint8 and green.shape == image.shape
    assert green[0, 0].tolist() == [0, 255, 0] and blue[0, 0].tolist() == [255, 0, 0]
    np.testing.assert_array_equal(green[:, 2:4], image[:, 2:4])
    back = rotate_hue(rotate_hue(image, 45), 135)
    assert np.abs(back.astype(int) - image.astype(int)).max() <= 6


def test_grayscale_has_equal_channels_with_the_luma():
    gray = to_grayscale(_colour_patches())
    assert gray.dtype == np.uint8 and gray.shape == (4, 6, 3)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert gray[0, 0, 0] == 76  # 0.299 * 255


def test_colour_variety_changes_colours_only_and_keeps_boxes():
    box = (40, 20, 60, 80)
    still = dict(degrees=0, translate=0, scale=(1.0, 1.0), shear=0, flip_probability=0)
    frame = _frame_with_block(box)
    frame[20:80, 40:60] = (0, 0, 255)
    plain = augment_sample(frame, np.array([box], float), np.array([3]), (96, 160),
                           np.random.default_rng(5), AugmentConfig(enabled=False))
    always = AugmentConfig(color_variety=True, hue_probability=1.0, grayscale_probability=0,
                           hsv_fraction=0, **still)
    image, boxes, ids = augment_sample(frame, np.array([box], float), np.array([3]), (96, 160),
                                       np.random.default_rng(5), always)
    assert image.dtype == np.uint8 and image.shape == plain[0].shape
    np.testing.assert_allclose(boxes, plain[1], atol=1e-6)
    assert ids.tolist() == [3]
    # the block is still a saturated blob at the same place, in another colour (seed 5)
    assert not np.array_equal(image, plain[0])
    x1, y1, x2, y2 = np.round(boxes[0]).astype(int)
    inside = image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].reshape(-1, 3)
    assert (inside.max(1) > 200).all()


def test_colour_variety_probabilities_are_respected():
    image = _colour_patches()
    never = AugmentConfig(color_variety=True, hue_probability=0, grayscale_probability=0)
    np.testing.assert_array_equal(random_color_variety(image, np.random.default_rng(0), never),
                                  image)
    gray = AugmentConfig(color_variety=True, hue_probability=0, grayscale_probability=1)
    out = random_color_variety(image, np.random.default_rng(0), gray)
    np.testing.assert_array_equal(out, to_grayscale(image))


def test_colour_variety_is_off_by_default():
    assert AugmentConfig().color_variety is False


def test_identity_variants_compose_modulo_the_variant_count():
    ids = np.array([0, 3, 4, 9, 14, -1])  # n = 5 real identities, variants 0, 0, 0, 1, 2
    once = shift_identity_variants(ids, 2, identity_count=5, variants=3)
    assert once.tolist() == [10, 13, 14, 4, 9, -1]  # variant 2 + 2 wraps round to 1
    twice = shift_identity_variants(once, 1, identity_count=5, variants=3)
    np.testing.assert_array_equal(twice, ids)  # three steps of one variant each: back home
    assert (once % 5 == np.where(ids >= 0, ids % 5, once % 5)).all()  # the person is kept
    assert [variant_shift(k, 6) for k in range(6)] == [0, 30, 60, 90, 120, 150]


def test_colour_identity_follows_the_hue_and_grayscale_forgets_it():
    image = _colour_patches()
    ids = np.array([0, 2, -1])
    hue = AugmentConfig(color_variety=True, color_identities=3, hue_probability=1.0,
                        grayscale_probability=0.0)
    out, out_ids = random_color_identity(image, ids, np.random.default_rng(1), hue, 4)
    variant = int(out_ids[0] // 4)
    assert variant in (1, 2) and out_ids.tolist() == [4 * variant, 2 + 4 * variant, -1]
    np.testing.assert_array_equal(out, rotate_hue(image, variant_shift(variant, 3)))
    gray = AugmentConfig(color_variety=True, color_identities=3, hue_probability=0.0,
                         grayscale_probability=1.0)
    out, out_ids = random_color_identity(image, ids, np.random.default_rng(1), gray, 4)
    np.testing.assert_array_equal(out, to_grayscale(image))
    assert out_ids.tolist() == [-1, -1, -1]


def test_augment_sample_applies_colour_identities_only_when_asked():
    box = (40, 20, 60, 80)
    frame = _frame_with_block(box)
    frame[20:80, 40:60] = (0, 0, 255)
    still = dict(degrees=0, translate=0, scale=(1.0, 1.0), shear=0, flip_probability=0,
                 hsv_fraction=0, color_variety=True, hue_probability=1.0,
                 grayscale_probability=0)
    args = (frame, np.array([box], float), np.array([3]), (96, 160))
    _, _, plain_ids = augment_sample(*args, np.random.default_rng(2), AugmentConfig(**still), 5)
    assert plain_ids.tolist() == [3]  # colour variety alone keeps the labels
    image, _, ids = augment_sample(*args, np.random.default_rng(2),
                                   AugmentConfig(color_identities=6, **still), 5)
    assert ids[0] % 5 == 3 and 1 <= ids[0] // 5 <= 5
    assert not (image[40:60, 105:115] == (0, 0, 255)).all()  # the red block changed colour


def test_scale_is_uniform_by_default_and_log_uniform_when_asked():
    uniform = AugmentConfig(scale=(0.5, 4.0))
    draws = [draw_scale(np.random.default_rng(seed), uniform) for seed in range(3)]
    assert draws == [np.random.default_rng(seed).uniform(0.5, 4.0) for seed in range(3)]
    wide = AugmentConfig(scale=(0.5, 4.0), scale_log_uniform=True)
    rng = np.random.default_rng(0)
    scales = np.array([draw_scale(rng, wide) for _ in range(6000)])
    assert scales.min() >= 0.5 and scales.max() <= 4.0
    # log-uniform on [0.5, 4]: a third of the draws below 1 and a third above 2 (uniform
    # would give 1/7 and 4/7), median at the geometric mean sqrt(2)
    assert abs(np.mean(scales < 1.0) - 1 / 3) < 0.03
    assert abs(np.mean(scales > 2.0) - 1 / 3) < 0.03
    assert abs(np.median(scales) - 2 ** 0.5) < 0.06


def test_zoomed_affine_makes_people_larger_by_the_drawn_scale():
    config = AugmentConfig(degrees=0, translate=0, scale=(3.0, 3.0), shear=0,
                           scale_log_uniform=True)
    image = np.zeros((120, 160, 3), np.uint8)
    box = np.array([[70, 50, 90, 70.0]])
    _, boxes, keep = random_affine(image, box, np.random.default_rng(0), config)
    assert keep.all()
    np.testing.assert_allclose(boxes[0, 2] - boxes[0, 0], 60.0, atol=1e-6)
    np.testing.assert_allclose(boxes[0, 3] - boxes[0, 1], 60.0, atol=1e-6)
