"""Stamp conversions: exact in integers, and the float forms the callers had."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fairmot_ros.stamps import (
    NS_PER_SECOND,
    ns_to_seconds,
    ns_to_stamp,
    seconds_to_ns,
    seconds_to_stamp,
    stamp_to_ns,
    stamp_to_seconds,
    time_to_ns,
)


@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000, 1_733_600_000_123_456_789,
                                2**63 - 1, 2**80 + 7, -1, -1_500_000_000])
def test_stamp_and_nanoseconds_round_trip_exactly(ns: int) -> None:
    sec, nanosec = ns_to_stamp(ns)
    assert 0 <= nanosec < NS_PER_SECOND and isinstance(sec, int) and isinstance(nanosec, int)
    assert stamp_to_ns(sec, nanosec) == ns
    assert time_to_ns(SimpleNamespace(sec=sec, nanosec=nanosec)) == ns


def test_before_1970_seconds_go_down_and_nanoseconds_forwards() -> None:
    assert ns_to_stamp(-1) == (-1, 999_999_999)
    assert ns_to_stamp(-1_500_000_000) == (-2, 500_000_000)


def test_seconds_conversions_keep_the_callers_float_forms() -> None:
    assert ns_to_seconds(1_500_000_000) == 1_500_000_000 / 1e9 == 1.5
    np.testing.assert_array_equal(ns_to_seconds(np.array([0.0, 2.5e9])), [0.0, 2.5])
    assert seconds_to_ns(0.1) == round(0.1 * 1e9) == 100_000_000
    assert stamp_to_seconds(40, 100_000_000) == 40 + 100_000_000 * 1e-9


def test_seconds_to_stamp_floors_and_stays_below_one_second() -> None:
    assert seconds_to_stamp(12.25) == (12, 250_000_000)
    assert seconds_to_stamp(-0.25) == (-1, 750_000_000)
    sec, nanosec = seconds_to_stamp(1.9999999999)  # rounds to 1e9 ns: kept below
    assert (sec, nanosec) == (1, 999_999_999)
    assert all(isinstance(v, int) for v in seconds_to_stamp(1.7e9 + 0.5))
