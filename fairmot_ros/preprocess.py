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


def letterbox(
    image: np.ndarray, height: int = 608, width: int = 1088
) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize keeping the aspect ratio and pad to (height, width) with grey 128.

    Returns the padded uint8 BGR image and the :class:`LetterboxInfo` that produced it.
    """
    check_bgr(image)
    h0, w0 = image.shape[:2]
    ratio = min(float(height) / h0, float(width) / w0)
    new_w, new_h = round(w0 * ratio), round(h0 * ratio)
    dw = (width - new_w) / 2
    dh = (height - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    resized = cv2.resize(np.ascontiguousarray(image), (new_w, new_h), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(
        resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=PAD_VALUE
    )
    info = LetterboxInfo(
        image_height=h0, image_width=w0, input_height=height, input_width=width,
        ratio=ratio, resized_width=new_w, resized_height=new_h,
        pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right,
    )  # fmt: skip
    return padded, info


def to_input_tensor(
    padded: np.ndarray | Sequence[np.ndarray], input_format: str = INPUT_FLOAT_RGB_NCHW
) -> np.ndarray:
    """Letterboxed BGR image(s) to the model input blob of the contract's ``input_format``.

    ``float32_rgb_nchw``: BGR->RGB, HWC->CHW, float32 / 255 (no mean/std), (B, 3, H, W).
    ``uint8_bgr_nhwc``: the bytes as they are, (B, H, W, 3); the graph converts them.
    A single HxWx3 image gives batch 1.
    """
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
        blob = np.ascontiguousarray(batch[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
        blob /= 255.0
        return blob
    raise ValueError(f"unknown input format {input_format!r}")
