"""Augmentation moves boxes with the pixels; the letterbox matches the inference geometry."""

from __future__ import annotations

import numpy as np

from fairmot_ros.training.augment import (
    AugmentConfig,
    augment_sample,
    random_affine,
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
