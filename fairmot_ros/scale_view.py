"""One fixed view of a frame that shows its people larger or smaller (pixels and boxes).

A camera closer to the people (or a longer lens) shows them larger; one further away shows
them smaller. :class:`ScaleView` simulates both on a recorded frame, the same way for every
frame of a sequence:

``scale > 1``
    a fixed window of ``1/scale`` of the frame's width and height (centred on ``center``,
    moved inside the frame where it would leave it) is cut out and resized back to the frame
    size (bilinear): people are ``scale`` times as tall, and only those in the window are seen.
``scale < 1``
    the whole frame is shrunk by ``scale`` (area interpolation) and placed at the centre of a
    frame-sized canvas of constant grey (127); people are ``scale`` times as tall, and the
    rest of the canvas is empty.
``scale == 1``
    the frame unchanged.

The evaluation's scale sweep (:mod:`fairmot_ros.evaluation.scales`, which adds the ground-truth
rules) and INT8 calibration at several scales (:mod:`fairmot_ros.quantize`) both look through
it, so a calibration frame at scale 2 is exactly what the sweep shows the network at scale 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CANVAS_GREY", "MAX_SCALE", "MIN_SCALE", "ScaleError", "ScaleView"]

MIN_SCALE, MAX_SCALE = 0.1, 10.0
CANVAS_GREY = 127


class ScaleError(ValueError):
    """A scale or view that cannot be used."""


def check_scale(scale: float) -> float:
    """``scale`` as a float, or :class:`ScaleError` where it is not a finite number in
    [:data:`MIN_SCALE`, :data:`MAX_SCALE`]."""
    if not (math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE):
        raise ScaleError(f"scale {scale:g} is outside [{MIN_SCALE:g}, {MAX_SCALE:g}]")
    return float(scale)


@dataclass(frozen=True)
class ScaleView:
    """Where each pixel of a ``width`` x ``height`` frame goes at ``scale``.

    Source point ``(x, y)`` maps to ``(sx * (x - x0) + ox, sy * (y - y0) + oy)``. For
    ``scale >= 1`` the window ``(x0, y0, crop_w, crop_h)`` of the source fills the output
    (``ox = oy = 0``); for ``scale < 1`` the whole source lands in ``(ox, oy, small_w,
    small_h)`` of the output (``x0 = y0 = 0``). Sizes are whole pixels, so ``sx`` and ``sy``
    are the exact factors that rounding left (equal to ``scale`` for 768x576 at 0.5, 1.5, 2, 3).
    """

    scale: float
    width: int
    height: int
    x0: int
    y0: int
    ox: int
    oy: int
    inner_w: int  # crop width (scale >= 1) or shrunk width (scale < 1)
    inner_h: int

    @classmethod
    def make(cls, scale: float, width: int, height: int,
             center: tuple[float, float] = (0.5, 0.5)) -> ScaleView:  # fmt: skip
        check_scale(scale)
        if width <= 0 or height <= 0:
            raise ScaleError(f"frame size {width}x{height} is not positive")
        cx, cy = center
        if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0):
            raise ScaleError(f"view centre {cx:g},{cy:g} is outside the frame (0-1 each)")
        if scale >= 1.0:
            crop_w = max(1, round(width / scale))
            crop_h = max(1, round(height / scale))
            x0 = min(max(round(cx * width - crop_w / 2), 0), width - crop_w)
            y0 = min(max(round(cy * height - crop_h / 2), 0), height - crop_h)
            return cls(scale, width, height, x0, y0, 0, 0, crop_w, crop_h)
        small_w = max(1, round(width * scale))
        small_h = max(1, round(height * scale))
        return cls(scale, width, height, 0, 0, (width - small_w) // 2, (height - small_h) // 2,
                   small_w, small_h)  # fmt: skip

    @property
    def zoom_in(self) -> bool:
        return self.scale >= 1.0

    @property
    def identity(self) -> bool:
        return self.zoom_in and (self.inner_w, self.inner_h) == (self.width, self.height)

    @property
    def factors(self) -> tuple[float, float]:
        if self.zoom_in:
            return self.width / self.inner_w, self.height / self.inner_h
        return self.inner_w / self.width, self.inner_h / self.height

    def describe(self) -> dict[str, object]:
        sx, sy = self.factors
        entry: dict[str, object] = {"scale": self.scale, "frame": [self.width, self.height],
                                    "factors": [round(sx, 6), round(sy, 6)]}  # fmt: skip
        if self.zoom_in:
            entry["crop_xywh"] = [self.x0, self.y0, self.inner_w, self.inner_h]
            entry["resize"] = "bilinear"
        else:
            entry["placed_xywh"] = [self.ox, self.oy, self.inner_w, self.inner_h]
            entry["resize"] = "area"
            entry["canvas_grey"] = CANVAS_GREY
        return entry

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The frame as the simulated camera sees it (uint8 HxWx3, same size)."""
        if image.shape[:2] != (self.height, self.width):
            raise ScaleError(f"frame is {image.shape[1]}x{image.shape[0]}, the view was made "
                             f"for {self.width}x{self.height}")  # fmt: skip
        if self.identity:
            return image
        if self.zoom_in:
            window = image[self.y0 : self.y0 + self.inner_h, self.x0 : self.x0 + self.inner_w]
            return cv2.resize(window, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        canvas = np.full_like(image, CANVAS_GREY)
        small = cv2.resize(image, (self.inner_w, self.inner_h), interpolation=cv2.INTER_AREA)
        canvas[self.oy : self.oy + self.inner_h, self.ox : self.ox + self.inner_w] = small
        return canvas

    def map_boxes(self, tlwh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N x 4 left, top, width, height) in the view, clipped to the frame, and the
        fraction of each box's mapped area that is left inside it (0 for empty boxes)."""
        boxes = np.asarray(tlwh, dtype=np.float64).reshape(-1, 4)
        sx, sy = self.factors
        left = sx * (boxes[:, 0] - self.x0) + self.ox
        top = sy * (boxes[:, 1] - self.y0) + self.oy
        right = left + sx * boxes[:, 2]
        bottom = top + sy * boxes[:, 3]
        area = (right - left) * (bottom - top)
        cl, ct = np.clip(left, 0, self.width), np.clip(top, 0, self.height)
        cr, cb = np.clip(right, 0, self.width), np.clip(bottom, 0, self.height)
        seen = np.maximum(cr - cl, 0) * np.maximum(cb - ct, 0)
        visible = np.divide(seen, area, out=np.zeros_like(seen), where=area > 0)
        return np.stack([cl, ct, cr - cl, cb - ct], axis=1), visible
