"""The original FairMOT pre-processing: letterbox and input tensor (spec section 2).

The letterbox is bit-exact with FairMOT's: Python ``round`` for the resized size and the
padding split, ``cv2.INTER_AREA`` even when upscaling, and ``copyMakeBorder`` with value 127.5,
which stores 128 in a uint8 image. Detections are mapped back with the formula of spec section
4 (``fairmot_ros.decode``), not with these paddings, exactly like the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from fairmot_ros.contract import INPUT_FLOAT_RGB_NCHW, INPUT_UINT8_BGR_NHWC

# The original passes (127.5, 127.5, 127.5); OpenCV rounds it to 128 on uint8 images.
PAD_VALUE = (127.5, 127.5, 127.5)
PAD_BYTE = 128


@dataclass(frozen=True)
class LetterboxInfo:
    """How one frame was letterboxed: enough to map network coordinates back."""

    image_height: int
    image_width: int
    input_height: int
    input_width: int
    ratio: float
    resized_width: int
    resized_height: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int


def check_bgr(image: np.ndarray) -> np.ndarray:
    """A clear error for anything that is not an HxWx3 uint8 image."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 BGR, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 BGR, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image


def letterbox_geometry(image_height: int, image_width: int, height: int = 608,
                       width: int = 1088) -> LetterboxInfo:  # fmt: skip
    """The original's resized size and padding split for one frame size."""
    h0, w0 = image_height, image_width
    ratio = min(float(height) / h0, float(width) / w0)
    new_w, new_h = round(w0 * ratio), round(h0 * ratio)
    dw = (width - new_w) / 2
    dh = (height - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return LetterboxInfo(
        image_height=h0, image_width=w0, input_height=height, input_width=width,
        ratio=ratio, resized_width=new_w, resized_height=new_h,
        pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right,
    )  # fmt: skip


def letterbox(
    image: np.ndarray, height: int = 608, width: int = 1088, out: np.ndarray | None = None
) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize keeping the aspect ratio and pad to (height, width) with grey 128.

    Returns the padded uint8 BGR image and the :class:`LetterboxInfo` that produced it.
    ``out``: a (height, width, 3) uint8 array (e.g. one item of the input batch) to draw
    into; the resize then writes straight into its centre and only the padding strips are
    filled, so the frame is not copied again. The pixels are those of ``cv2.resize`` +
    ``cv2.copyMakeBorder`` with the original's 127.5 (stored as 128) either way.
    """
    check_bgr(image)
    info = letterbox_geometry(image.shape[0], image.shape[1], height, width)
    if out is None:
        out = np.empty((height, width, 3), np.uint8)
    elif out.shape != (height, width, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be a ({height}, {width}, 3) uint8 array, got "
                         f"{out.shape} {out.dtype}")  # fmt: skip
    top, left = info.pad_top, info.pad_left
    bottom, right = top + info.resized_height, left + info.resized_width
    out[:top] = PAD_BYTE
    out[bottom:] = PAD_BYTE
    out[top:bottom, :left] = PAD_BYTE
    out[top:bottom, right:] = PAD_BYTE
    centre = out[top:bottom, left:right]
    if image.strides[1:] != (3, 1):  # OpenCV takes padded rows as they are, not other layouts
        image = np.ascontiguousarray(image)
    resized = cv2.resize(image, (info.resized_width, info.resized_height), dst=centre,
                         interpolation=cv2.INTER_AREA)  # fmt: skip
    if resized is not centre and not np.shares_memory(resized, centre):  # pragma: no cover
        centre[...] = resized  # an OpenCV build that would not write into the view
    return out, info


def letterbox_batch(
    images: Sequence[np.ndarray], height: int, width: int
) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """Letterbox several frames straight into one (B, height, width, 3) uint8 batch."""
    batch = np.empty((len(images), height, width, 3), np.uint8)
    infos = [letterbox(image, height, width, out=batch[i])[1] for i, image in enumerate(images)]
    return batch, infos


def to_input_tensor(
    padded: np.ndarray | Sequence[np.ndarray], input_format: str = INPUT_FLOAT_RGB_NCHW
) -> np.ndarray:
    """Letterboxed BGR image(s) to the model input blob of the contract's ``input_format``.

    ``float32_rgb_nchw``: BGR->RGB, HWC->CHW, float32 / 255 (no mean/std), (B, 3, H, W).
    ``uint8_bgr_nhwc``: the bytes as they are, (B, H, W, 3); the graph converts them.
    A single HxWx3 image gives batch 1.
    """
    if isinstance(padded, np.ndarray) and padded.ndim == 4:
        batch = padded  # already a (B, H, W, 3) batch (``letterbox_batch``): no stacking copy
        if batch.shape[0] == 0:
            raise ValueError("no images to convert")
        check_bgr(batch[0])
    else:
        images = [padded] if isinstance(padded, np.ndarray) and padded.ndim == 3 else list(padded)
        if not images:
            raise ValueError("no images to convert")
        for image in images:
            check_bgr(image)
        if len({image.shape for image in images}) != 1:
            raise ValueError("all letterboxed images of a batch must have the same size")
        batch = np.stack(images)
    if input_format == INPUT_UINT8_BGR_NHWC:
        return batch
    if input_format == INPUT_FLOAT_RGB_NCHW:
        # One pass: uint8 -> float32 and / 255 in float32, the same values as converting
        # first and dividing in place.
        blob = np.empty((batch.shape[0], 3, *batch.shape[1:3]), np.float32)
        np.divide(batch[..., ::-1].transpose(0, 3, 1, 2), np.float32(255.0), out=blob)
        return blob
    raise ValueError(f"unknown input format {input_format!r}")
