"""Letterbox and input tensors, bit-exact with spec section 2."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fairmot_ros.contract import INPUT_FLOAT_RGB_NCHW, INPUT_UINT8_BGR_NHWC
from fairmot_ros.preprocess import letterbox, to_input_tensor


def noise_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("size", "resized", "pads"),
    [
        ((1080, 1920), (1081, 608), (0, 0, 3, 4)),  # spec example: left/right 3/4
        ((480, 640), (811, 608), (0, 0, 138, 139)),  # spec example: upscaling, 138/139
        ((64, 3), (28, 608), (0, 0, 530, 530)),  # 3 * 9.5 = 28.5 rounds half to even
        ((100, 1000), (1088, 109), (249, 250, 0, 0)),  # wide: vertical padding
    ],
)
def test_letterbox_matches_the_original_sizes_and_pixels(size, resized, pads):
    h0, w0 = size
    image = noise_image(h0, w0)
    padded, info = letterbox(image)
    assert padded.shape == (608, 1088, 3) and padded.dtype == np.uint8
    assert (info.resized_width, info.resized_height) == resized
    assert (info.pad_top, info.pad_bottom, info.pad_left, info.pad_right) == pads
    top, _, left, _ = pads
    inner = padded[top : top + resized[1], left : left + resized[0]]
    np.testing.assert_array_equal(inner, cv2.resize(image, resized, interpolation=cv2.INTER_AREA))
    border = np.ones(padded.shape[:2], bool)
    border[top : top + resized[1], left : left + resized[0]] = False
    assert (padded[border] == 128).all()


def test_upscaling_uses_inter_area_not_linear():
    image = noise_image(480, 640, seed=1)
    padded, _ = letterbox(image)
    linear = cv2.resize(image, (811, 608), interpolation=cv2.INTER_LINEAR)
    assert not np.array_equal(padded[:, 138 : 138 + 811], linear)


def test_custom_input_size():
    # r = min(320 / 1080, 576 / 1920): 569 x 320, horizontal padding 3.5 -> 3 left, 4 right.
    padded, info = letterbox(noise_image(1080, 1920), height=320, width=576)
    assert padded.shape == (320, 576, 3)
    assert (info.resized_width, info.resized_height) == (569, 320)
    assert (info.pad_left, info.pad_right, info.pad_top, info.pad_bottom) == (3, 4, 0, 0)
    assert info.ratio == pytest.approx(320 / 1080)


def test_float_tensor_is_rgb_nchw_over_255():
    padded, _ = letterbox(noise_image(120, 200, seed=2), 64, 128)
    blob = to_input_tensor(padded, INPUT_FLOAT_RGB_NCHW)
    assert blob.shape == (1, 3, 64, 128) and blob.dtype == np.float32
    np.testing.assert_array_equal(blob[0, 0], padded[:, :, 2].astype(np.float32) / 255.0)
    np.testing.assert_array_equal(blob[0, 2], padded[:, :, 0].astype(np.float32) / 255.0)
    # 107 x 64 resized, 10 columns of padding on the left: grey 128 / 255.
    np.testing.assert_array_equal(blob[0, :, :, :10], np.float32(128) / np.float32(255))
    assert blob[0, :, :, 10].max() != blob[0, :, :, 10].min()


def test_uint8_tensor_and_batches():
    a, _ = letterbox(noise_image(120, 200, seed=3), 64, 128)
    b, _ = letterbox(noise_image(300, 100, seed=4), 64, 128)
    blob = to_input_tensor([a, b], INPUT_UINT8_BGR_NHWC)
    assert blob.shape == (2, 64, 128, 3) and blob.dtype == np.uint8
    np.testing.assert_array_equal(blob[1], b)
    assert to_input_tensor([a, b]).shape == (2, 3, 64, 128)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
        [[1, 2, 3]],
    ],
)
def test_bad_images_raise_value_error(bad):
    with pytest.raises(ValueError):
        letterbox(bad)
    with pytest.raises(ValueError):
        to_input_tensor([letterbox(np.zeros((8, 8, 3), np.uint8), 32, 32)[0], np.zeros((4, 4, 3))])
