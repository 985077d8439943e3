"""Letterbox and input tensors, bit-exact with spec section 2."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fairmot_ros.contract import INPUT_FLOAT_RGB_NCHW, INPUT_UINT8_BGR_NHWC
from fairmot_ros.preprocess import letterbox, letterbox_batch, to_input_tensor


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


@pytest.mark.parametrize(
    ("h0", "w0", "height", "width"),
    [(1080, 1920, 608, 1088), (576, 768, 288, 384), (480, 640, 608, 1088), (2160, 3840, 608, 1088),
     (601, 1087, 608, 1088), (100, 37, 320, 576), (608, 1088, 608, 1088)],
)
def test_letterbox_into_the_batch_equals_resize_then_copymakeborder(h0, w0, height, width):
    # The letterbox resizes straight into its output and pads only the strips; the pixels
    # must be those of the original's cv2.resize(INTER_AREA) + copyMakeBorder(127.5).
    image = np.random.default_rng(h0 + w0).integers(0, 256, (h0, w0, 3), dtype=np.uint8)
    padded, info = letterbox(image, height, width)
    resized = cv2.resize(image, (info.resized_width, info.resized_height),
                         interpolation=cv2.INTER_AREA)  # fmt: skip
    expected = cv2.copyMakeBorder(resized, info.pad_top, info.pad_bottom, info.pad_left,
                                  info.pad_right, cv2.BORDER_CONSTANT,
                                  value=(127.5, 127.5, 127.5))  # fmt: skip
    np.testing.assert_array_equal(padded, expected)
    other = np.random.default_rng(1).integers(0, 256, (h0 // 2 + 1, w0, 3), dtype=np.uint8)
    batch, infos = letterbox_batch([image, other], height, width)
    np.testing.assert_array_equal(batch[0], expected)
    np.testing.assert_array_equal(batch[1], letterbox(other, height, width)[0])
    assert infos[0] == info
    # The one-pass float conversion gives the values of "convert, then divide in place".
    blob = to_input_tensor(batch, INPUT_FLOAT_RGB_NCHW)
    reference = np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
    reference /= 255.0
    np.testing.assert_array_equal(blob, reference)
    assert blob.flags.c_contiguous and blob.dtype == np.float32
    assert to_input_tensor(batch, INPUT_UINT8_BGR_NHWC) is batch  # no stacking copy


def test_letterbox_refuses_a_wrong_output_buffer():
    image = np.zeros((50, 60, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8 array"):
        letterbox(image, 64, 96, out=np.zeros((64, 96, 3), np.float32))


def test_row_padded_views_are_letterboxed_as_they_are():
    # A raw image whose rows carry padding arrives as a strided view; OpenCV reads it in
    # place and the result is that of the compact image.
    rows = np.random.default_rng(0).integers(0, 256, (120, 160 * 3 + 16), dtype=np.uint8)
    view = rows[:, : 160 * 3].reshape(120, 160, 3)
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(letterbox(view, 96, 128)[0],
                                  letterbox(np.ascontiguousarray(view), 96, 128)[0])  # fmt: skip
