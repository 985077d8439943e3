"""Time stamps: ``builtin_interfaces/Time`` fields (sec, nanosec) <-> nanoseconds <-> seconds.

ROS-free: a stamp here is two integers or any object with ``sec`` and ``nanosec`` (an rclpy or
rosbags ``Time``). Nanoseconds are Python integers, so stamp <-> nanoseconds is exact at any
magnitude; only the conversions that name seconds produce or take floats.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "NS_PER_SECOND",
    "ns_to_seconds",
    "ns_to_stamp",
    "seconds_to_ns",
    "seconds_to_stamp",
    "stamp_to_ns",
    "stamp_to_seconds",
    "time_to_ns",
]

NS_PER_SECOND = 1_000_000_000


def stamp_to_ns(sec: int, nanosec: int) -> int:
    """Nanoseconds of a stamp's ``sec`` and ``nanosec`` fields (exact)."""
    return sec * NS_PER_SECOND + nanosec


def time_to_ns(time: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (``header.stamp``, ``clock``), exact."""
    return stamp_to_ns(time.sec, time.nanosec)


def ns_to_stamp(ns: int) -> tuple[int, int]:
    """``(sec, nanosec)`` of integer nanoseconds, ``0 <= nanosec < 1e9`` (exact; before 1970
    ``sec`` is negative and ``nanosec`` still counts forwards, as ``builtin_interfaces`` says)."""
    return divmod(ns, NS_PER_SECOND)


def ns_to_seconds(ns: Any) -> Any:
    """Seconds of nanoseconds: the float quotient ``ns / 1e9`` (an array for an array)."""
    return ns / 1e9


def stamp_to_seconds(sec: int, nanosec: int) -> float:
    """Float seconds of a stamp: whole seconds plus the fraction ``nanosec * 1e-9``."""
    return sec + nanosec * 1e-9


def seconds_to_ns(seconds: float) -> int:
    """Integer nanoseconds nearest to float seconds."""
    return round(seconds * NS_PER_SECOND)


def seconds_to_stamp(seconds: float) -> tuple[int, int]:
    """``(sec, nanosec)`` of float seconds: whole seconds down, the rest rounded to the
    nanosecond and kept below one second (float64 holds about 0.2 us at today's epoch)."""
    sec = math.floor(seconds)
    nanosec = min(round((seconds - sec) * NS_PER_SECOND), NS_PER_SECOND - 1)
    return int(sec), int(nanosec)
