"""Image bytes to BGR: every supported encoding, row padding, byte order and bad input."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from fairmot_ros.image_bytes import (
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    compressed_to_bgr,
    raw_to_bgr,
)
from fairmot_ros.ros.image_codec import ImageDecoder

RNG = np.random.default_rng(7)
H, W = 6, 10


def _pad_rows(pixels: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Serialise rows of ``pixels`` with ``pad`` garbage bytes after each; returns (data, step)."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    garbage = RNG.integers(0, 256, size=(rows.shape[0], pad), dtype=np.uint8)
    padded = np.concatenate([rows, garbage], axis=1)
    return padded.tobytes(), padded.shape[1]


@pytest.fixture
def bgr() -> np.ndarray:
    return RNG.integers(0, 256, size=(H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize("pad", [0, 3, 16])
@pytest.mark.parametrize("encoding", ["bgr8", "8UC3", "rgb8", "bgra8", "rgba8"])
def test_colour_encodings_are_exact(bgr: np.ndarray, encoding: str, pad: int) -> None:
    alpha = RNG.integers(0, 256, size=(H, W, 1), dtype=np.uint8)
    stored = {
        "bgr8": bgr,
        "8UC3": bgr,
        "rgb8": bgr[:, :, ::-1],
        "bgra8": np.concatenate([bgr, alpha], axis=2),
        "rgba8": np.concatenate([bgr[:, :, ::-1], alpha], axis=2),
    }[encoding]
    data, step = _pad_rows(np.ascontiguousarray(stored), pad)
    out = raw_to_bgr(encoding, H, W, step, False, data)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, bgr)
    assert out.flags.c_contiguous


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
@pytest.mark.parametrize("pad", [0, 5])
def test_mono8_is_replicated_to_three_channels(encoding: str, pad: int) -> None:
    grey = RNG.integers(0, 256, size=(H, W), dtype=np.uint8)
    data, step = _pad_rows(grey, pad)
    out = raw_to_bgr(encoding, H, W, step, 0, data)
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize("pad", [0, 4])
def test_mono16_both_byte_orders_scale_like_cv_bridge(pad: int) -> None:
    values = RNG.integers(0, 65536, size=(H, W), dtype=np.uint32)
    values[0, :4] = [0, 128, 129, 65535]  # rounding edges: 0, 0, 1, 255
    expected = np.floor(values / 257 + 0.5).astype(np.uint8)
    little, step = _pad_rows(values.astype("<u2"), pad)
    big, step_big = _pad_rows(values.astype(">u2"), pad)
    assert step == step_big
    out_little = raw_to_bgr("mono16", H, W, step, False, little)
    out_big = raw_to_bgr("mono16", H, W, step, True, big)
    np.testing.assert_array_equal(out_little[:, :, 0], expected)
    np.testing.assert_array_equal(out_big, out_little)
    assert list(out_little[0, :4, 1]) == [0, 0, 1, 255]


@pytest.mark.parametrize(
    ("encoding", "pattern"),
    [("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"), ("bayer_gbrg8", "GBRG"),
     ("bayer_grbg8", "GRBG")],
)
def test_bayer_mosaic_of_a_flat_colour_gives_that_colour(encoding: str, pattern: str) -> None:
    colour_bgr = {"B": 40, "G": 120, "R": 220}
    mosaic = np.empty((8, 12), dtype=np.uint8)
    for i, letter in enumerate(pattern):
        mosaic[i // 2 :: 2, i % 2 :: 2] = colour_bgr[letter]
    out = raw_to_bgr(encoding, 8, 12, 12, False, mosaic.tobytes())
    # Away from the border every demosaicing method reproduces a flat field exactly.
    np.testing.assert_array_equal(out[2:-2, 2:-2].reshape(-1, 3)[0], [40, 120, 220])
    assert (out[2:-2, 2:-2] == [40, 120, 220]).all()


def test_packed_yuv_byte_orders() -> None:
    y = RNG.integers(16, 236, size=(H, W), dtype=np.uint8)
    u = RNG.integers(16, 240, size=(H, W // 2), dtype=np.uint8)
    v = RNG.integers(16, 240, size=(H, W // 2), dtype=np.uint8)
    uyvy = np.stack([u, y[:, 0::2], v, y[:, 1::2]], axis=2).reshape(H, W * 2)
    yuyv = np.stack([y[:, 0::2], u, y[:, 1::2], v], axis=2).reshape(H, W * 2)
    out_uyvy = raw_to_bgr("yuv422", H, W, W * 2, False, uyvy.tobytes())
    out_yuyv = raw_to_bgr("yuv422_yuy2", H, W, W * 2, False, yuyv.tobytes())
    np.testing.assert_array_equal(out_uyvy, out_yuyv)
    # Neutral chroma is grey: every channel equals the luma byte (full-range conversion).
    neutral = np.full((H, W // 2), 128, dtype=np.uint8)
    grey = np.stack([neutral, y[:, 0::2], neutral, y[:, 1::2]], axis=2).reshape(H, W * 2)
    out_grey = raw_to_bgr("uyvy", H, W, W * 2, False, grey.tobytes())
    assert out_grey.shape == (H, W, 3)
    assert np.abs(out_grey.astype(int) - y[:, :, None].astype(int)).max() <= 20
    assert (out_grey[:, :, 0] == out_grey[:, :, 2]).all()


def test_unpadded_bgr8_is_a_view_not_a_copy(bgr: np.ndarray) -> None:
    data = bgr.tobytes()
    out = raw_to_bgr("bgr8", H, W, W * 3, False, data)
    assert np.shares_memory(out, np.frombuffer(data, dtype=np.uint8))


def test_every_supported_encoding_decodes() -> None:
    for encoding in SUPPORTED_ENCODINGS:
        width = 4
        data = bytes(range(256)) * 4
        step = {"bgra8": 16, "rgba8": 16, "mono16": 8}.get(encoding, 12)
        out = raw_to_bgr(encoding, 4, width, step, False, data)
        assert out.shape == (4, width, 3) and out.dtype == np.uint8, encoding


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("bgr16", 2, 2, 12, False, bytes(24)), "unsupported_encoding"),
        (("32FC1", 2, 2, 8, False, bytes(16)), "unsupported_encoding"),
        (("rgb8", 0, 2, 6, False, b""), "bad_size"),
        (("rgb8", 2, -1, 6, False, bytes(12)), "bad_size"),
        (("rgb8", 2, 2, 5, False, bytes(12)), "bad_step"),
        (("mono16", 2, 2, 5, False, bytes(12)), "bad_step"),
        (("mono16", 2, 2, 3, False, bytes(12)), "bad_step"),
        (("rgb8", 2, 2, 6, False, bytes(11)), "truncated"),
        (("yuv422", 2, 3, 6, False, bytes(12)), "bad_size"),
        (("rgb8", 2, 2, 6, False, None), "bad_data"),
    ],
)
def test_bad_images_raise_decode_error_with_reason(args: tuple, reason: str) -> None:
    with pytest.raises(ImageDecodeError) as info:
        raw_to_bgr(*args)
    assert info.value.reason == reason
    assert reason in str(info.value)


def test_png_round_trip_is_exact(bgr: np.ndarray) -> None:
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    np.testing.assert_array_equal(compressed_to_bgr("png", png.tobytes()), bgr)


def test_jpeg_decodes_close_to_source() -> None:
    smooth = np.zeros((64, 96, 3), dtype=np.uint8)
    smooth[:, :, 0] = np.linspace(0, 255, 96, dtype=np.uint8)[None, :]
    smooth[:, :, 2] = np.linspace(0, 255, 64, dtype=np.uint8)[:, None]
    ok, jpeg = cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    out = compressed_to_bgr("rgb8; jpeg compressed bgr8", jpeg.tobytes())
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 3.0


def test_grey_and_16_bit_png_come_out_as_bgr8() -> None:
    grey = RNG.integers(0, 256, size=(H, W), dtype=np.uint8)
    out = compressed_to_bgr("png", cv2.imencode(".png", grey)[1].tobytes())
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))
    deep = (grey.astype(np.uint16) * 257).astype(np.uint16)
    out16 = compressed_to_bgr("mono16; png compressed", cv2.imencode(".png", deep)[1].tobytes())
    assert out16.dtype == np.uint8 and out16.shape == (H, W, 3)
    np.testing.assert_array_equal(out16[:, :, 1], grey)


@pytest.mark.parametrize(
    ("fmt", "data", "reason"),
    [
        ("jpeg", b"", "decode_failed"),
        ("jpeg", b"not an image at all", "decode_failed"),
        ("16UC1; compressedDepth png", b"\x89PNG", "unsupported_format"),
    ],
)
def test_bad_compressed_payloads(fmt: str, data: bytes, reason: str) -> None:
    with pytest.raises(ImageDecodeError) as info:
        compressed_to_bgr(fmt, data)
    assert info.value.reason == reason


def test_decoder_reads_real_sensor_msgs(bgr: np.ndarray) -> None:
    sensor_msgs = pytest.importorskip("sensor_msgs.msg")
    msg = sensor_msgs.Image()
    msg.height, msg.width, msg.encoding, msg.is_bigendian = H, W, "rgb8", 0
    padded, msg.step = _pad_rows(np.ascontiguousarray(bgr[:, :, ::-1]), 2)
    msg.data = padded
    decoder = ImageDecoder(use_cv_bridge=False)
    assert decoder.backend == "builtin"
    np.testing.assert_array_equal(decoder.image(msg), bgr)
    compressed = sensor_msgs.CompressedImage()
    compressed.format = "png"
    compressed.data = cv2.imencode(".png", bgr)[1].tobytes()
    np.testing.assert_array_equal(decoder.compressed(compressed), bgr)


def test_byte_array_and_debug_image_round_trip(bgr: np.ndarray) -> None:
    pytest.importorskip("sensor_msgs.msg")
    from std_msgs.msg import Header

    from fairmot_ros.image_bytes import byte_array
    from fairmot_ros.ros.image_codec import bgr_to_imgmsg

    strided = bgr[:, ::2]  # not contiguous
    data = byte_array(strided)
    assert data.typecode == "B" and data.tobytes() == np.ascontiguousarray(strided).tobytes()
    header = Header(frame_id="cam")
    msg = bgr_to_imgmsg(bgr, header)
    assert msg.header == header and (msg.encoding, msg.step) == ("bgr8", W * 3)
    np.testing.assert_array_equal(ImageDecoder(use_cv_bridge=False).image(msg), bgr)


def test_message_fields_of_a_bgr_array_decode_back(bgr: np.ndarray) -> None:
    from fairmot_ros.image_bytes import bgr8_fields, encode_compressed

    fields = bgr8_fields(bgr[:, ::2])  # not contiguous: the fields hold compact rows
    assert (fields["height"], fields["width"], fields["encoding"]) == (H, W // 2, "bgr8")
    assert fields["step"] == W // 2 * 3 and fields["is_bigendian"] == 0
    np.testing.assert_array_equal(raw_to_bgr(**fields), bgr[:, ::2])
    np.testing.assert_array_equal(compressed_to_bgr("png", encode_compressed(bgr, "png")), bgr)
    assert compressed_to_bgr("jpeg", encode_compressed(bgr, "jpeg")).shape == bgr.shape
    with pytest.raises(ValueError, match="not one of"):
        encode_compressed(bgr, "bmp")


def test_image_bytes_decode_with_ros_blocked(repo_root) -> None:
    """The ROS-free part works where no ROS package can be imported."""
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        import numpy as np

        BLOCKED = ("rclpy", "sensor_msgs", "std_msgs", "builtin_interfaces", "cv_bridge")

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(name + " is blocked in this test")

        sys.meta_path.insert(0, Blocker())
        from fairmot_ros.image_bytes import (bgr8_fields, compressed_to_bgr, encode_compressed,
                                             raw_to_bgr)

        bgr = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
        assert (raw_to_bgr(**bgr8_fields(bgr)) == bgr).all()
        padded = np.concatenate([bgr[:, :, ::-1].reshape(4, 18), np.zeros((4, 2), np.uint8)], 1)
        assert (raw_to_bgr("rgb8", 4, 6, 20, 0, padded.tobytes()) == bgr).all()
        assert (compressed_to_bgr("png", encode_compressed(bgr, "png")) == bgr).all()
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded and "fairmot_ros.ros" not in sys.modules, loaded
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
