"""Depth images registered to the colour image, and one robust depth per tracked box.

Depth images follow REP-118: ``16UC1`` (or ``mono16``) in millimetres with 0 invalid, ``32FC1``
in metres with NaN and +-inf invalid; each pixel holds the z coordinate of the optical frame.
:func:`depth_from_buffer` checks a ``sensor_msgs/Image``'s fields and views its bytes without
converting the image (only the pixels of the boxes are converted, in :func:`box_depths`).

A box's depth is the nearest dense mode of the valid depths in its inner part (the middle of
its width, the torso rows): the depths are binned on a logarithmic scale (bins of a fixed
fraction of the depth, so a far person's noisier depths fall into as few bins as a near
person's), the modes that hold at least ``mode_fraction`` of the largest bin's count are
candidates, and the nearest of them wins: the background behind a person is farther and a
small occluder in front holds fewer pixels. The depth is the median of the valid depths within
``mode_window`` bins of that mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fairmot_ros.spatial.reasons import (
    DEPTH_ENCODING,
    DEPTH_MALFORMED,
    TRACK_DEPTH_OUT_OF_RANGE,
    TRACK_NO_VALID_DEPTH,
    SpatialError,
)

# encoding -> (numpy dtype, metres per unit)
DEPTH_ENCODINGS = {"16UC1": (np.uint16, 1e-3), "mono16": (np.uint16, 1e-3),
                   "32FC1": (np.float32, 1.0)}


@dataclass(frozen=True)
class DepthImage:
    """A depth image as stored (``pixels`` uint16 or float32, (H, W)) and its unit."""

    pixels: np.ndarray
    scale: float  # metres per unit
    stamp: float = 0.0
    frame_id: str = ""

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def metres(self) -> np.ndarray:
        """The whole image in metres, float32, invalid pixels NaN (for tests and drawing)."""
        out = self.pixels.astype(np.float32) * np.float32(self.scale)
        out[~(np.isfinite(out) & (out > 0))] = np.nan
        return out

    def any_valid(self) -> bool:
        """True when at least one pixel holds a positive, finite depth. The middle row
        decides for nearly every image (2 µs, against 45 µs for a whole 640x480 one, on every
        colour frame); only an image without a valid depth there is searched whole."""
        pixels = self.pixels
        return _any_valid(pixels[len(pixels) // 2]) or _any_valid(pixels)


def _any_valid(pixels: np.ndarray) -> bool:
    if pixels.dtype == np.uint16:
        return bool(pixels.any())
    return bool(np.any(np.isfinite(pixels) & (pixels > 0)))


def depth_from_buffer(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                      data: bytes | bytearray | memoryview | np.ndarray, stamp: float = 0.0,
                      frame_id: str = "") -> DepthImage:
    """A :class:`DepthImage` over the bytes of a ``sensor_msgs/Image`` (no copy where the
    byte order is the machine's); :class:`SpatialError` names what is wrong."""
    if encoding not in DEPTH_ENCODINGS:
        raise SpatialError(DEPTH_ENCODING,
                           f"{encoding!r} (depth must be {', '.join(DEPTH_ENCODINGS)})")
    dtype, scale = DEPTH_ENCODINGS[encoding]
    itemsize = np.dtype(dtype).itemsize
    if height <= 0 or width <= 0 or step < width * itemsize:
        raise SpatialError(DEPTH_MALFORMED, f"{width}x{height} with step {step}")
    buffer = np.frombuffer(data, dtype=np.uint8)
    row_bytes = width * itemsize
    if buffer.size < step * (height - 1) + row_bytes:
        raise SpatialError(DEPTH_MALFORMED, f"{buffer.size} bytes for {width}x{height}, "
                           f"step {step}")
    stored = np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")
    if step % itemsize == 0 and buffer.size >= step * height:
        pixels = buffer[: step * height].view(stored).reshape(height, -1)[:, :width]
    else:  # rows not aligned to the pixel size, or a last row without its padding
        rows = np.lib.stride_tricks.as_strided(buffer, (height, row_bytes), (step, 1))
        pixels = np.ascontiguousarray(rows).view(stored)
    if not stored.isnative:
        pixels = pixels.astype(dtype)
    return DepthImage(pixels, scale, stamp, frame_id)


@dataclass(frozen=True)
class DepthSettings:
    """How a box's depth is taken (fractions of the box; depths in metres)."""

    min_depth: float = 0.2
    max_depth: float = 60.0
    inner_width: float = 0.5  # the middle half of the box's width
    inner_top: float = 0.15  # rows from 15% ... (below the head)
    inner_bottom: float = 0.6  # ... to 60% of the box's height (the torso, above the legs)
    min_valid: int = 12  # valid depths needed in the inner box
    min_valid_fraction: float = 0.05  # ... and this fraction of its pixels
    bin_fraction: float = 0.03  # log-depth bin width: 3% of the depth
    mode_fraction: float = 0.5  # a mode holds at least this fraction of the largest bin
    mode_window: int = 2  # bins either side of the mode taken into the median

    def __post_init__(self) -> None:
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError("depth range must satisfy 0 < min_depth < max_depth")
        if not (0 < self.inner_width <= 1 and 0 <= self.inner_top < self.inner_bottom <= 1):
            raise ValueError("inner box fractions must lie in [0, 1], top < bottom")
        if self.bin_fraction <= 0 or not 0 < self.mode_fraction <= 1 or self.mode_window < 0:
            raise ValueError("bin_fraction > 0, mode_fraction in (0, 1], mode_window >= 0")


@dataclass(frozen=True)
class BoxDepth:
    """One box's depth (metres, optical z), the spread (robust standard deviation) of the
    depths taken and how many there were; ``reason`` instead when there is none."""

    depth: float = float("nan")
    spread: float = float("nan")
    count: int = 0
    reason: str | None = None


def inner_box(tlwh: np.ndarray | Sequence[float], size: tuple[int, int],
              settings: DepthSettings) -> tuple[int, int, int, int]:
    """Pixel bounds (x0, y0, x1, y1), end-exclusive and clipped to the image, of the inner
    part of a box (left, top, width, height)."""
    left, top, w, h = (float(v) for v in tlwh)
    cx = left + 0.5 * w
    half = 0.5 * settings.inner_width * w
    width, height = size
    x0 = min(max(math.floor(cx - half), 0), width)
    x1 = min(max(math.ceil(cx + half), 0), width)
    y0 = min(max(math.floor(top + settings.inner_top * h), 0), height)
    y1 = min(max(math.ceil(top + settings.inner_bottom * h), 0), height)
    return x0, y0, x1, y1


def robust_depth(values: np.ndarray, settings: DepthSettings) -> BoxDepth:
    """The nearest dense mode of depths in metres (any shape, invalid values included)."""
    values = np.asarray(values, dtype=np.float32).ravel()
    with np.errstate(invalid="ignore"):
        positive = values[np.isfinite(values) & (values > 0)]
    return _nearest_mode(positive, values.size, settings)


def _nearest_mode(positive: np.ndarray, area: int, settings: DepthSettings) -> BoxDepth:
    """:func:`robust_depth` of the valid (positive, finite) depths, float32, of ``area``
    pixels. Each step is one whole-array numpy call and the peak search looks at the few
    bins that hold enough depths only: a box's depths are a few hundred values, so the
    calls' fixed cost, not the arithmetic, is what a box costs."""
    depths = positive[(positive >= settings.min_depth) & (positive <= settings.max_depth)]
    needed = max(settings.min_valid, math.ceil(settings.min_valid_fraction * area))
    if len(depths) < needed:
        reason = (TRACK_DEPTH_OUT_OF_RANGE if len(positive) >= needed
                  else TRACK_NO_VALID_DEPTH)
        return BoxDepth(count=len(depths), reason=reason)
    logs = np.log(depths)
    bins = ((logs - float(logs.min())) / settings.bin_fraction).astype(np.int64)
    mode = _nearest_peak(np.bincount(bins), settings.mode_fraction)
    taken = depths[np.abs(bins - mode) <= settings.mode_window]
    depth = _middle(taken)
    spread = 1.4826 * _middle(np.abs(taken - depth))
    return BoxDepth(depth, spread, int(taken.size))


def _nearest_peak(counts: np.ndarray, mode_fraction: float) -> int:
    """The first bin that holds at least ``mode_fraction`` of the largest count and no fewer
    than either neighbour (the largest bin always qualifies)."""
    last = len(counts) - 1
    for i in (counts >= mode_fraction * counts.max()).nonzero()[0].tolist():
        count = counts[i]
        if (i == 0 or count >= counts[i - 1]) and (i == last or count >= counts[i + 1]):
            return i
    raise AssertionError("the largest bin is a peak")  # pragma: no cover


def _middle(values: np.ndarray) -> float:
    """The median (the upper one of an even count: no averaging, one partition)."""
    k = len(values) // 2
    values = values.copy()  # what np.partition does, without its dispatch
    values.partition(k)
    return float(values[k])


def box_depths(depth: DepthImage, boxes_tlwh: np.ndarray, settings: DepthSettings
               ) -> list[BoxDepth]:
    """:func:`robust_depth` of the inner part of each box (N, 4: left, top, width, height).
    Millimetre images keep their nonzero pixels before converting them (the same depths in
    the same order: nonzero is exactly positive and finite in metres)."""
    pixels = depth.pixels
    scale = np.float32(depth.scale)
    out = []
    for tlwh in np.asarray(boxes_tlwh, dtype=np.float64).reshape(-1, 4).tolist():
        x0, y0, x1, y1 = inner_box(tlwh, depth.size, settings)
        crop = pixels[y0:y1, x0:x1]
        if pixels.dtype == np.uint16:  # uint16 * float32 is float32: the astype's values
            out.append(_nearest_mode(crop[crop != 0] * scale, crop.size, settings))
        else:
            out.append(robust_depth(crop.astype(np.float32) * scale, settings))
    return out
