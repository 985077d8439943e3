"""Depth frames paired with colour frames by stamp, without waiting."""

from __future__ import annotations

import pytest

from fairmot_ros.spatial import reasons
from fairmot_ros.spatial.pairing import DepthPairing


def test_nearest_depth_within_the_tolerance():
    pairing = DepthPairing(tolerance=0.02, capacity=4)
    assert pairing.match(1.0) == (None, reasons.DEPTH_NONE)
    for stamp in (1.0, 1.1, 1.2):
        pairing.add(stamp, f"d{stamp}")
    assert pairing.match(1.105) == ("d1.1", None)
    assert pairing.match(1.219) == ("d1.2", None)
    assert pairing.match(1.3) == (None, reasons.DEPTH_BEHIND)  # not come yet
    assert pairing.match(0.5) == (None, reasons.DEPTH_AHEAD)  # colour older than the buffer
    assert pairing.match(1.05) == (None, reasons.DEPTH_GAP)


def test_the_buffer_is_bounded_and_kept_in_stamp_order():
    pairing = DepthPairing(tolerance=0.001, capacity=3)
    for stamp in (1.0, 1.1, 1.3, 1.2):  # 1.2 arrives late
        pairing.add(stamp, stamp)
    assert len(pairing) == 3
    assert pairing.match(1.0) == (None, reasons.DEPTH_AHEAD)  # dropped: the oldest
    assert pairing.match(1.2) == (1.2, None) and pairing.match(1.3) == (1.3, None)
    pairing.add(0.1, 0.1)  # far back: a bag played again
    assert len(pairing) == 1 and pairing.match(0.1) == (0.1, None)
    pairing.clear()
    assert len(pairing) == 0


def test_settings_are_checked():
    with pytest.raises(ValueError):
        DepthPairing(tolerance=-1)
    with pytest.raises(ValueError):
        DepthPairing(capacity=0)
