"""Property-based fuzzing of every boundary that takes outside bytes: raw image conversion,
compressed decoding (and the header sizes read before it) and model metadata parsing.

The properties: nothing but the boundary's own error type ever escapes (no IndexError,
OverflowError, cv2.error, MemoryError), a returned image has exactly the declared size and
never needed more bytes than the message carried, and images declaring more pixels than the
limit are refused before any decoder runs. Example counts are bounded so the suite stays fast.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from node_support import jpeg_declaring, png_declaring

from fairmot_ros import contract as contract_module
from fairmot_ros import image_bytes
from fairmot_ros.contract import KEY_PREFIX, ContractError, ModelContract
from fairmot_ros.image_bytes import (
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    check_scalable,
    compressed_to_bgr,
    declared_size,
    raw_to_bgr,
)
from fairmot_ros.preprocess import letterbox

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
U32 = 2**32 - 1

encodings = st.one_of(st.sampled_from(SUPPORTED_ENCODINGS), st.text(max_size=12))
dimensions = st.one_of(st.integers(-3, 40), st.sampled_from([0, 2**16, 2**31 - 1, U32]))
steps = st.one_of(st.integers(-8, 400), st.sampled_from([0, 2**31 - 1, U32, 2**40]))


@FUZZ
@given(encodings, dimensions, dimensions, steps, st.booleans(), st.binary(max_size=6000))
def test_raw_conversion_never_fails_uncontrolled(
    encoding: str, height: int, width: int, step: int, big: bool, data: bytes
) -> None:
    try:
        image = raw_to_bgr(encoding, height, width, step, big, data)
    except ImageDecodeError as exc:
        assert exc.reason
        return
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    assert step * height <= len(data)  # every byte read was inside the message


@FUZZ
@given(
    st.sampled_from(SUPPORTED_ENCODINGS), st.integers(1, 24), st.integers(1, 24),
    st.integers(0, 9), st.booleans(), st.data(),
)
def test_raw_conversion_of_well_formed_messages_succeeds(
    encoding: str, height: int, width: int, pad: int, big: bool, data
) -> None:
    layout = image_bytes._LAYOUTS[encoding]
    if layout.packed_yuv:
        width += width % 2
    step = width * layout.channels * layout.itemsize + pad * layout.itemsize
    payload = data.draw(st.binary(min_size=step * height, max_size=step * height + 8))
    image = raw_to_bgr(encoding, height, width, step, big, payload)
    assert image.shape == (height, width, 3)


def _encoded(image: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


small_images = st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**32 - 1)).map(
    lambda a: np.random.default_rng(a[2]).integers(0, 256, (a[0], a[1], 3), dtype=np.uint8)
)


def _mutate(data: bytes, draw) -> bytes:
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


@FUZZ
@given(small_images, st.sampled_from([".png", ".jpg"]), st.data())
def test_compressed_decoding_of_damaged_payloads_never_fails_uncontrolled(
    image: np.ndarray, ext: str, data
) -> None:
    payload = _mutate(_encoded(image, ext), data.draw)
    try:
        codec, width, height = declared_size(payload)
    except ImageDecodeError:
        codec = None
    try:
        out = compressed_to_bgr("png" if ext == ".png" else "jpeg", payload)
    except ImageDecodeError as exc:
        assert exc.reason in {"decode_failed", "bad_size", "image_too_large", "bad_data"}
        return
    assert codec is not None and out.shape == (height, width, 3) and out.dtype == np.uint8


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8"]))
def test_arbitrary_bytes_are_refused_or_decoded_never_raised(data: bytes, prefix: bytes) -> None:
    payload = prefix + data
    try:
        codec, width, height = declared_size(payload)
        assert 0 <= width <= U32 and 0 <= height <= U32 and codec in ("png", "jpeg")
    except ImageDecodeError:
        pass
    try:
        out = compressed_to_bgr("jpeg", payload)
    except ImageDecodeError:
        return
    assert out.ndim == 3 and out.shape[2] == 3


@FUZZ
@given(st.integers(0, U32), st.integers(0, U32), st.integers(1, 10**9))
def test_declared_png_sizes_over_the_limit_are_refused_before_decoding(
    width: int, height: int, limit: int
) -> None:
    payload = png_declaring(width, height, b"\x00" * 64)
    assert declared_size(payload) == ("png", width, height)
    assume(width * height > limit and width and height)
    with pytest.raises(ImageDecodeError) as info:
        _without_decoder(lambda: compressed_to_bgr("png", payload, max_pixels=limit))
    assert info.value.reason == "image_too_large"


@FUZZ
@given(st.integers(1, 2**16 - 1), st.integers(1, 2**16 - 1))
def test_declared_jpeg_sizes_are_read_exactly(width: int, height: int) -> None:
    assert declared_size(jpeg_declaring(width, height)) == ("jpeg", width, height)


def _without_decoder(action):
    """Run ``action`` with OpenCV's decoder replaced by one that fails the test if called."""

    def forbidden(*args, **kwargs):
        raise AssertionError("cv2.imdecode was called for a payload over the pixel limit")

    original = image_bytes.cv2.imdecode
    image_bytes.cv2.imdecode = forbidden
    try:
        return action()
    finally:
        image_bytes.cv2.imdecode = original


@pytest.mark.parametrize(
    "payload",
    [png_declaring(30000, 30000, b"\x00" * (1 << 20)), jpeg_declaring(30000, 30000)],
    ids=["png", "jpeg"],
)
def test_a_small_bomb_declaring_30000x30000_is_refused_before_it_is_decoded(payload) -> None:
    assert len(payload) < 5000
    with pytest.raises(ImageDecodeError) as info:
        _without_decoder(lambda: compressed_to_bgr("png", payload))
    assert info.value.reason == "image_too_large" and "30000x30000" in str(info.value)


@FUZZ
@given(st.integers(1, 6), st.integers(1, 6000), st.booleans())
def test_check_scalable_refuses_exactly_what_the_letterbox_cannot_resize(
    short: int, long: int, wide: bool
) -> None:
    height, width = (short, long) if wide else (long, short)
    image = np.zeros((height, width, 3), np.uint8)
    try:
        check_scalable(height, width, 128, 192)
    except ImageDecodeError as exc:
        assert exc.reason == "too_thin"
        with pytest.raises(cv2.error):
            letterbox(image, 128, 192)
        return
    padded, _ = letterbox(image, 128, 192)
    assert padded.shape == (128, 192, 3)


_KEYS = [
    "contract_version", "arch", "input_name", "input_height", "input_width", "input_format",
    "reid_dim", "down_ratio", "topk", "precision", "batch", "outputs", "model_name",
    "exporter_version",
]
_VALID = ModelContract(arch="yolov5s", input_height=128, input_width=192, reid_dim=64)


@FUZZ
@given(st.dictionaries(
    st.one_of(st.sampled_from([KEY_PREFIX + k for k in _KEYS]), st.text(max_size=20)),
    st.one_of(st.text(max_size=30), st.integers(-(10**30), 10**30).map(str)),
    max_size=16,
))
def test_model_metadata_parsing_raises_only_contract_errors(props: dict) -> None:
    try:
        contract = ModelContract.from_metadata(props, "fuzzed.onnx")
    except ContractError as exc:
        assert str(exc)
        return
    assert contract.input_height > 0 and contract.input_width > 0 and contract.reid_dim > 0


@FUZZ
@given(st.sampled_from(_KEYS), st.one_of(st.text(max_size=5000), st.binary(max_size=50)))
def test_one_damaged_field_of_real_metadata_is_refused_or_harmless(key: str, value) -> None:
    props = _VALID.to_metadata()
    props[KEY_PREFIX + key] = value
    try:
        contract = ModelContract.from_metadata(props, "damaged.onnx")
    except ContractError:
        return
    assert contract.input_height % 32 == 0 and contract.input_width % 32 == 0
    assert contract_module.CONTRACT_VERSION == 1
