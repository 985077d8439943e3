"""Depth images (REP-118) and the robust depth of a box."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.spatial import reasons
from fairmot_ros.spatial.depth import (
    DepthSettings,
    box_depths,
    depth_from_buffer,
    inner_box,
    robust_depth,
)
from fairmot_ros.spatial.reasons import SpatialError

SETTINGS = DepthSettings()


def test_16uc1_millimetres_and_32fc1_metres():
    mm = (np.arange(12, dtype=np.uint16) * 500).reshape(3, 4)
    image = depth_from_buffer("16UC1", 3, 4, 8, False, mm.tobytes())
    assert np.array_equal(image.pixels, mm) and image.scale == 1e-3
    assert np.isnan(image.metres()[0, 0]) and image.metres()[2, 3] == pytest.approx(5.5)
    metres = np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float32)
    image = depth_from_buffer("32FC1", 2, 2, 8, False, metres.tobytes())
    assert image.scale == 1.0 and image.any_valid()
    assert np.isnan(image.metres()[1]).all()


def test_big_endian_and_padded_rows():
    mm = (np.arange(12, dtype=np.uint16) * 700).reshape(3, 4)
    swapped = depth_from_buffer("16UC1", 3, 4, 8, True, mm.astype(">u2").tobytes())
    assert np.array_equal(swapped.pixels, mm) and swapped.pixels.dtype.isnative
    padded = np.zeros((3, 5), np.uint16)
    padded[:, :4] = mm
    # rows padded to 10 bytes, the last row without its padding
    image = depth_from_buffer("16UC1", 3, 4, 10, False, padded.tobytes()[:-2])
    assert np.array_equal(image.pixels, mm)
    odd = depth_from_buffer("16UC1", 3, 4, 9, False, bytes(27))
    assert odd.pixels.shape == (3, 4)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("bgr8", 2, 2, 6, False, bytes(12)), reasons.DEPTH_ENCODING),
        (("16UC1", 2, 2, 2, False, bytes(8)), reasons.DEPTH_MALFORMED),
        (("16UC1", 2, 2, 4, False, bytes(6)), reasons.DEPTH_MALFORMED),
        (("32FC1", 0, 2, 8, False, b""), reasons.DEPTH_MALFORMED),
    ],
)
def test_unusable_depth_images_are_refused(args, reason):
    with pytest.raises(SpatialError) as info:
        depth_from_buffer(*args)
    assert info.value.reason == reason


def test_the_person_wins_over_background_and_a_small_occluder():
    rng = np.random.default_rng(0)
    person = rng.normal(10.0, 0.15, 300)
    background = rng.normal(25.0, 1.0, 450)  # more pixels, but spread over many bins
    occluder = rng.normal(5.0, 0.05, 60)
    invalid = np.array([np.nan, np.inf, -np.inf, 0.0, -3.0, 1e30] * 10)
    values = np.concatenate([person, background, occluder, invalid])
    rng.shuffle(values)
    found = robust_depth(values, SETTINGS)
    assert found.reason is None
    assert found.depth == pytest.approx(10.0, abs=0.05)
    assert 0.08 < found.spread < 0.3 and found.count > 250
    assert np.median(values[np.isfinite(values) & (values > 0) & (values < 60)]) > 11


def test_too_few_or_out_of_range_depths_are_named():
    assert robust_depth(np.full(100, np.nan), SETTINGS).reason == reasons.TRACK_NO_VALID_DEPTH
    sparse = np.zeros(400)
    sparse[:10] = 8.0
    assert robust_depth(sparse, SETTINGS).reason == reasons.TRACK_NO_VALID_DEPTH
    huge = np.full(100, 5e3)
    assert robust_depth(huge, SETTINGS).reason == reasons.TRACK_DEPTH_OUT_OF_RANGE
    near = np.full(100, 0.05)
    assert robust_depth(near, SETTINGS).reason == reasons.TRACK_DEPTH_OUT_OF_RANGE


def test_box_depths_read_the_inner_box_only():
    pixels = np.full((100, 120), 20000, np.uint16)  # background at 20 m
    pixels[20:90, 40:60] = 8000  # the person, 8 m
    pixels[:, 40:44] = 3000  # a pole in front of the box's left edge
    image = depth_from_buffer("16UC1", 100, 120, 240, False, pixels.tobytes())
    box = np.array([[30.0, 15.0, 40.0, 80.0]])
    assert inner_box(box[0], image.size, SETTINGS) == (40, 27, 60, 63)
    (found,) = box_depths(image, box, SETTINGS)
    assert found.depth == pytest.approx(8.0)
    # a box half outside the image is clipped, one wholly outside has no depth
    (outside,) = box_depths(image, np.array([[500.0, 10.0, 20.0, 40.0]]), SETTINGS)
    assert outside.reason == reasons.TRACK_NO_VALID_DEPTH


@pytest.mark.parametrize(
    "kwargs",
    [{"min_depth": 0.0}, {"max_depth": 0.1}, {"inner_width": 0.0}, {"inner_top": 0.7},
     {"bin_fraction": 0.0}, {"mode_fraction": 1.5}],
)
def test_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        DepthSettings(**kwargs)


def _reference_depth(values: np.ndarray, settings: DepthSettings) -> tuple:
    """The nearest dense mode written out step by step over the whole array (every peak
    found, then the first taken): what :func:`box_depths` must give, value for value."""
    values = np.asarray(values, dtype=np.float32).ravel()
    with np.errstate(invalid="ignore"):
        positive = values[np.isfinite(values) & (values > 0)]
        depths = positive[(positive >= settings.min_depth) & (positive <= settings.max_depth)]
    needed = max(settings.min_valid, int(np.ceil(settings.min_valid_fraction * values.size)))
    if len(depths) < needed:
        reason = (reasons.TRACK_DEPTH_OUT_OF_RANGE if len(positive) >= needed
                  else reasons.TRACK_NO_VALID_DEPTH)
        return ("nan", "nan", len(depths), reason)
    logs = np.log(depths)
    bins = ((logs - float(logs.min())) / settings.bin_fraction).astype(np.int64)
    counts = np.bincount(bins)
    padded = np.concatenate([[0], counts, [0]])
    peaks = np.flatnonzero((counts >= padded[:-2]) & (counts >= padded[2:])
                           & (counts >= settings.mode_fraction * counts.max()))
    taken = depths[np.abs(bins - int(peaks[0])) <= settings.mode_window]
    depth = float(np.sort(taken)[len(taken) // 2])
    spread = 1.4826 * float(np.sort(np.abs(taken - depth))[len(taken) // 2])
    return (depth.hex(), spread.hex(), int(taken.size), None)


def _found(box: object) -> tuple:
    if box.reason is not None:
        return ("nan", "nan", box.count, box.reason)
    return (box.depth.hex(), box.spread.hex(), box.count, None)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_box_depths_equal_the_reference_on_varied_scenes(encoding):
    """Several people at different depths, occluders, holes, far and near values, boxes
    partly or wholly outside the image, a box with too few depths: the same depths,
    spreads, counts and reasons, bit for bit, as the step-by-step reference."""
    rng = np.random.default_rng(7)
    height, width = 120, 160
    metres = rng.uniform(15.0, 70.0, (height, width))  # background, partly beyond max_depth
    boxes = []
    for left, top, w, h, z in [(10, 10, 30, 80, 4.0), (50, 5, 25, 70, 9.5),
                               (90, 30, 40, 85, 0.5), (120, 40, 50, 90, 30.0),
                               (-20, 60, 40, 90, 6.0)]:
        person = metres[max(top, 0):top + h, max(left, 0):left + w]
        person[...] = rng.normal(z, 0.02 * z, person.shape)
        boxes.append([left, top, w, h])
    metres[60:75, 95:105] = rng.normal(0.3, 0.01, (15, 10))  # a near occluder
    holes = rng.random((height, width)) < 0.2
    boxes += [[200.0, 10.0, 20.0, 40.0], [140.5, 2.25, 7.5, 9.75]]  # outside; tiny
    metres[0:20, 140:150] = 0.0
    if encoding == "16UC1":
        pixels = np.round(metres * 1000).clip(0, 65535).astype(np.uint16)
        pixels[holes] = 0
    else:
        pixels = metres.astype(np.float32)
        pixels[holes] = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -1.0], np.float32),
                                   int(holes.sum()))
    image = depth_from_buffer(encoding, height, width, width * pixels.itemsize, False,
                              pixels.tobytes())
    boxes = np.array(boxes, dtype=np.float64)
    found = [_found(box) for box in box_depths(image, boxes, SETTINGS)]
    expected = []
    for tlwh in boxes:
        x0, y0, x1, y1 = inner_box(tlwh, image.size, SETTINGS)
        crop = image.pixels[y0:y1, x0:x1].astype(np.float32) * np.float32(image.scale)
        expected.append(_reference_depth(crop, SETTINGS))
    assert found == expected
    assert {f[3] for f in found} == {None, reasons.TRACK_NO_VALID_DEPTH}
    assert [_found(robust_depth(c, SETTINGS)) for c in (metres, metres[:8, :8])] == [
        _reference_depth(c, SETTINGS) for c in (metres, metres[:8, :8])]


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_any_valid_looks_beyond_the_middle_row(encoding):
    invalid = np.zeros((6, 5)) if encoding == "16UC1" else np.full((6, 5), np.nan)
    dtype = np.uint16 if encoding == "16UC1" else np.float32
    for valid_at in [None, (3, 2), (0, 0), (5, 4)]:  # none, in the middle row, elsewhere
        pixels = invalid.astype(dtype)
        if valid_at is not None:
            pixels[valid_at] = 1500 if encoding == "16UC1" else 1.5
        image = depth_from_buffer(encoding, 6, 5, 5 * pixels.itemsize, False, pixels.tobytes())
        assert image.any_valid() == (valid_at is not None)
