"""Image bytes <-> BGR uint8 arrays: the one place where the bytes of an image message are read
or written. ROS-free (no rclpy, no message package): the node's ``ros.image_codec`` wraps it
for messages, and bags (``replay.frames``), benchmarks and tests use it directly.

The detector wants a contiguous ``H x W x 3`` BGR uint8 image. Cameras, drivers and bag players
send many layouts: several channel orders, rows padded to an alignment (``step`` larger than
``width * bytes per pixel``), 16-bit data in either byte order, Bayer mosaics, packed YUV and
JPEG/PNG payloads. Getting any of these slightly wrong gives a silently wrong picture (swapped
colours, sheared rows), so the conversion here is exact, rejects what it cannot read with a
reason the node logs and counts, and never lets a malformed message raise anything else.

Sizes are checked before any pixel is touched: a compressed payload's width and height are
read from its PNG IHDR or JPEG frame header, so a few hundred bytes declaring 30000x30000
(a decompression bomb: gigabytes once decoded) are refused without being decoded, as is a raw
image whose fields declare more than the pixel limit. Only PNG and JPEG are accepted: OpenCV
would decode other formats too, each a header format of its own to guard.

The other way, :func:`bgr8_fields` and :func:`encode_compressed` give what a ``bgr8`` ``Image``
or a JPEG/PNG ``CompressedImage`` of a BGR array carries, and :func:`byte_array` the fast form
of a ``uint8[]`` field.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "COMPRESSED_FORMATS",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "SUPPORTED_ENCODINGS",
    "ImageDecodeError",
    "bgr8_fields",
    "byte_array",
    "check_pixels",
    "check_scalable",
    "compressed_to_bgr",
    "declared_size",
    "encode_compressed",
    "raw_fields",
    "raw_to_bgr",
]

# Three times 8K UHD (7680 x 4320 = 33.2 million pixels), about 300 MB as BGR.
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
# Start-of-frame markers (baseline, extended, progressive, lossless, arithmetic); C4 (DHT),
# C8 (JPG) and CC (DAC) share the range but are not frame headers.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM and RST0-7 (SOI is consumed before the loop).
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


_MAX_DETAIL = 300


class ImageDecodeError(ValueError):
    """A message cannot be turned into a BGR image; ``reason`` is a short, stable category."""

    def __init__(self, reason: str, detail: str) -> None:
        # Details quote message fields (an encoding, a format): keep a hostile 1 MB string
        # out of the log and of every diagnostics message.
        if len(detail) > _MAX_DETAIL:
            detail = detail[:_MAX_DETAIL] + "..."
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class _Layout:
    """How one ROS encoding is stored and how it becomes BGR."""

    channels: int
    itemsize: int  # bytes per channel value
    cvt: int | None  # cv2.cvtColor code, None when the stored pixels are already BGR
    packed_yuv: bool = False  # 4:2:2 packed: 2 bytes per pixel stored as one 2-channel image


_LAYOUTS: dict[str, _Layout] = {
    "bgr8": _Layout(3, 1, None),
    "rgb8": _Layout(3, 1, cv2.COLOR_RGB2BGR),
    "bgra8": _Layout(4, 1, cv2.COLOR_BGRA2BGR),
    "rgba8": _Layout(4, 1, cv2.COLOR_RGBA2BGR),
    "mono8": _Layout(1, 1, cv2.COLOR_GRAY2BGR),
    "8UC1": _Layout(1, 1, cv2.COLOR_GRAY2BGR),
    "8UC3": _Layout(3, 1, None),
    "mono16": _Layout(1, 2, cv2.COLOR_GRAY2BGR),
    "bayer_rggb8": _Layout(1, 1, cv2.COLOR_BayerRGGB2BGR),
    "bayer_bggr8": _Layout(1, 1, cv2.COLOR_BayerBGGR2BGR),
    "bayer_gbrg8": _Layout(1, 1, cv2.COLOR_BayerGBRG2BGR),
    "bayer_grbg8": _Layout(1, 1, cv2.COLOR_BayerGRBG2BGR),
    # ROS "yuv422" is UYVY byte order; "yuv422_yuy2" is YUYV.
    "yuv422": _Layout(2, 1, cv2.COLOR_YUV2BGR_UYVY, packed_yuv=True),
    "uyvy": _Layout(2, 1, cv2.COLOR_YUV2BGR_UYVY, packed_yuv=True),
    "yuv422_yuy2": _Layout(2, 1, cv2.COLOR_YUV2BGR_YUYV, packed_yuv=True),
    "yuyv": _Layout(2, 1, cv2.COLOR_YUV2BGR_YUYV, packed_yuv=True),
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_LAYOUTS)

# Depth payloads carry distances, not a picture a pedestrian detector can use.
_DEPTH_FORMAT_MARK = "compresseddepth"


def check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    """Refuse (``image_too_large``) a ``what`` whose declared size exceeds ``max_pixels``."""
    if width * height > max_pixels:
        raise ImageDecodeError(
            "image_too_large",
            f"{what} declares {width}x{height} = {width * height} pixels, more than "
            f"max_image_pixels {max_pixels}",
        )


def raw_to_bgr(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool | int,
    data: Any,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Convert the fields of a ``sensor_msgs/Image`` to an ``H x W x 3`` BGR uint8 array.

    ``data`` is anything exposing the buffer protocol (``bytes``, ``array.array``, numpy).
    For ``bgr8`` without row padding the result is a read-only view of ``data`` (no copy);
    every other case returns a new array. 16-bit mono is scaled by 255/65535 and rounded, as
    cv_bridge does, so both paths give the same picture and the full range maps onto 0..255.
    """
    layout = _LAYOUTS.get(encoding)
    if layout is None:
        raise ImageDecodeError(
            "unsupported_encoding",
            f"encoding {encoding!r} is not one of {', '.join(SUPPORTED_ENCODINGS)}",
        )
    if height <= 0 or width <= 0:
        raise ImageDecodeError("bad_size", f"image is {width}x{height}")
    check_pixels(width, height, max_pixels, "image")
    if layout.packed_yuv and width % 2:
        raise ImageDecodeError("bad_size", f"{encoding} needs an even width, got {width}")
    row_bytes = width * layout.channels * layout.itemsize
    if step < row_bytes:
        raise ImageDecodeError(
            "bad_step", f"step {step} < width {width} x {layout.channels * layout.itemsize} bytes"
        )
    if layout.itemsize > 1 and step % layout.itemsize:
        raise ImageDecodeError("bad_step", f"step {step} is not a multiple of {layout.itemsize}")
    try:
        buffer = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise ImageDecodeError("bad_data", f"data is not a byte buffer: {exc}") from None
    needed = step * height
    if buffer.size < needed:
        raise ImageDecodeError(
            "truncated", f"{buffer.size} bytes for {height} rows of step {step} ({needed} needed)"
        )
    # Rows of ``step`` bytes, padding cut off: a strided view, nothing copied yet.
    rows = buffer[:needed].reshape(height, step)[:, :row_bytes]
    if layout.itemsize == 2:
        dtype = np.dtype(">u2" if is_bigendian else "<u2")
        values = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
        # round(v * 255 / 65535) == round(v / 257): cv_bridge's scaling, exact in integers.
        pixels = ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)
    else:
        pixels = rows.reshape(height, width, layout.channels)
        if layout.channels == 1:
            pixels = pixels[:, :, 0]
    if layout.cvt is None:
        # Already BGR: a view when the rows are contiguous, otherwise one compacting copy.
        return pixels if step == row_bytes else np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), layout.cvt)


def _png_size(buffer: np.ndarray) -> tuple[int, int] | None:
    """(width, height) of the IHDR chunk, which the PNG specification puts first."""
    if buffer.size < 24 or bytes(buffer[12:16]) != b"IHDR":
        return None
    return int.from_bytes(bytes(buffer[16:20]), "big"), int.from_bytes(bytes(buffer[20:24]), "big")


def _jpeg_size(buffer: np.ndarray) -> tuple[int, int] | None:
    """(width, height) of the first start-of-frame segment, walking the marker segments from
    SOI; None when the data ends, breaks the segment structure or reaches the scan first."""
    data = memoryview(buffer)  # ints by index, nothing copied
    i, n = 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        i += 2
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # SOI again, EOI or SOS before any frame header
            return None
        if i + 2 > n:
            return None
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if length < 7 or i + 7 > n:
                return None
            height = (data[i + 3] << 8) | data[i + 4]
            width = (data[i + 5] << 8) | data[i + 6]
            return width, height
        i += length
    return None


def declared_size(data: Any) -> tuple[str, int, int]:
    """``(codec, width, height)`` that a PNG or JPEG payload declares in its header, read
    without decoding anything. Raises ``ImageDecodeError`` for other payloads and headers
    that do not say."""
    try:
        buffer = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise ImageDecodeError("bad_data", f"data is not a byte buffer: {exc}") from None
    head = bytes(buffer[:8])
    if head == _PNG_SIGNATURE:
        codec, size = "png", _png_size(buffer)
    elif head[:2] == _JPEG_SOI:
        codec, size = "jpeg", _jpeg_size(buffer)
    else:
        raise ImageDecodeError(
            "decode_failed", f"payload is neither PNG nor JPEG (starts {head.hex()})"
        )
    if size is None:
        raise ImageDecodeError("decode_failed", f"{buffer.size} bytes: no {codec} image size")
    return codec, size[0], size[1]


def compressed_to_bgr(
    fmt: str, data: Any, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` payload (JPEG or PNG) to BGR uint8.

    ``format`` as written by image_transport (``"jpeg"``, ``"png"`` or
    ``"rgb8; jpeg compressed bgr8"``) is only checked for depth payloads, which are refused;
    the codec itself is recognised from the bytes. Colour, grey and 16-bit PNGs all come out
    as 8-bit BGR. The size the header declares is checked against ``max_pixels`` first.
    """
    if _DEPTH_FORMAT_MARK in fmt.replace(" ", "").lower():
        raise ImageDecodeError("unsupported_format", f"depth payload {fmt!r} is not an image")
    try:
        buffer = np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise ImageDecodeError("bad_data", f"data is not a byte buffer: {exc}") from None
    if buffer.size == 0:
        raise ImageDecodeError("decode_failed", f"empty {fmt or 'compressed'} payload")
    codec, width, height = declared_size(buffer)
    if width == 0 or height == 0:
        raise ImageDecodeError("bad_size", f"{codec} header declares {width}x{height}")
    check_pixels(width, height, max_pixels, f"{codec} header")
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError("decode_failed", f"{codec}: {exc.msg.strip()}") from None
    if image is None:
        raise ImageDecodeError(
            "decode_failed", f"{buffer.size} bytes of {fmt or 'compressed'} data did not decode"
        )
    return image


def check_scalable(height: int, width: int, input_height: int, input_width: int) -> None:
    """Refuse an image the letterbox would shrink to zero rows or columns (1x4000, 4000x1):
    ``fairmot_ros.preprocess.letterbox`` rounds the scaled size the same way."""
    ratio = min(input_height / height, input_width / width)
    new_w, new_h = round(width * ratio), round(height * ratio)
    if new_w < 1 or new_h < 1:
        raise ImageDecodeError(
            "too_thin",
            f"{width}x{height} image would be {new_w}x{new_h} pixels in the "
            f"{input_width}x{input_height} model input",
        )


# ----- BGR arrays -> message fields ------------------------------------------------------------
# image_transport's format names of the payloads written here, and the file type OpenCV uses.
_COMPRESSED_EXTENSIONS = {"jpeg": ".jpg", "png": ".png"}
COMPRESSED_FORMATS: tuple[str, ...] = tuple(_COMPRESSED_EXTENSIONS)


def bgr8_fields(image: np.ndarray) -> dict[str, Any]:
    """The fields of a ``bgr8`` ``sensor_msgs/Image`` without row padding that holds a BGR
    uint8 array: height, width, encoding, is_bigendian, step and data (the pixels, flat)."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = pixels.shape[:2]
    return {"height": height, "width": width, "encoding": "bgr8", "is_bigendian": 0,
            "step": width * 3, "data": pixels.reshape(-1)}


# BGR -> the raw encodings a camera driver commonly publishes (None: as it is).
_RAW_FROM_BGR = {"bgr8": None, "rgb8": cv2.COLOR_BGR2RGB, "bgra8": cv2.COLOR_BGR2BGRA,
                 "rgba8": cv2.COLOR_BGR2RGBA, "mono8": cv2.COLOR_BGR2GRAY}


def raw_fields(image: np.ndarray, encoding: str) -> tuple[bytes, int]:
    """The ``data`` and ``step`` (no row padding) of a raw ``sensor_msgs/Image`` of
    ``encoding`` holding a BGR uint8 image; ValueError for an encoding it does not write."""
    if encoding not in _RAW_FROM_BGR:
        raise ValueError(f"encoding {encoding!r}: use one of {', '.join(_RAW_FROM_BGR)}")
    code = _RAW_FROM_BGR[encoding]
    pixels = image if code is None else cv2.cvtColor(image, code)
    return pixels.tobytes(), pixels.shape[1] * (pixels.shape[2] if pixels.ndim == 3 else 1)


def encode_compressed(image: np.ndarray, fmt: str) -> np.ndarray:
    """The ``data`` of a ``sensor_msgs/CompressedImage`` of format ``fmt`` (``"jpeg"`` or
    ``"png"``, OpenCV's default quality) holding a BGR image, as a flat uint8 array."""
    extension = _COMPRESSED_EXTENSIONS.get(fmt)
    if extension is None:
        raise ValueError(f"compressed format {fmt!r} is not one of "
                         f"{', '.join(COMPRESSED_FORMATS)}")
    ok, payload = cv2.imencode(extension, image)
    if not ok:
        raise ValueError(f"cannot encode a frame as {fmt}")
    return np.asarray(payload, np.uint8).ravel()


def byte_array(data: Any) -> array:
    """An ``array('B')`` copy of a bytes-like object or array, for ``uint8[]`` message fields.

    Assigning ``bytes`` to such a field makes the generated setter check every element in
    Python (about 20 ms for a 192x128 image); an ``array('B')`` is taken as is.
    """
    out = array("B")
    out.frombytes(memoryview(np.ascontiguousarray(data)).cast("B"))
    return out
