"""Depth frames paired with colour frames by stamp, without ever waiting for one.

The depth callback :meth:`DepthPairing.add` s each depth frame into a bounded buffer (the
newest ``capacity`` frames); the colour path asks :meth:`DepthPairing.match` for the frame
nearest its stamp and gets it when it lies within ``tolerance`` seconds, or a reason of
:mod:`~fairmot_ros.spatial.reasons` at once: ``no_depth`` (none received), ``depth_behind``
(the newest depth is older than the colour stamp minus the tolerance: it has not come yet, or
the depth stream lags), ``depth_ahead`` (the oldest depth kept is newer than the colour stamp
plus the tolerance: the colour frame is too old for the buffer) or ``depth_gap`` (depths on
both sides, none close enough: dropped frames). Both methods may be called from different
threads.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from typing import Generic, TypeVar

from fairmot_ros.spatial.reasons import DEPTH_AHEAD, DEPTH_BEHIND, DEPTH_GAP, DEPTH_NONE

T = TypeVar("T")


class DepthPairing(Generic[T]):
    """A bounded, stamp-ordered buffer of depth frames (any payload) and nearest-stamp match."""

    def __init__(self, tolerance: float = 0.02, capacity: int = 8) -> None:
        if tolerance < 0 or capacity < 1:
            raise ValueError("tolerance must be >= 0 and capacity >= 1")
        self.tolerance = float(tolerance)
        self._frames: deque[tuple[float, T]] = deque(maxlen=int(capacity))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def add(self, stamp: float, frame: T) -> None:
        """Keep a depth frame; one older than the newest kept is put in stamp order (a stamp
        going far back, a bag played again, empties the buffer first)."""
        with self._lock:
            frames = self._frames
            if frames and stamp < frames[-1][0]:
                if stamp < frames[0][0] - 1.0:
                    frames.clear()
                else:
                    items = list(frames)
                    bisect.insort(items, (stamp, frame), key=lambda item: item[0])
                    frames.clear()
                    frames.extend(items[-frames.maxlen:])
                    return
            frames.append((stamp, frame))

    def match(self, stamp: float) -> tuple[T | None, str | None]:
        """The depth frame nearest ``stamp`` within the tolerance and None, or None and why."""
        with self._lock:
            frames = list(self._frames)
        if not frames:
            return None, DEPTH_NONE
        stamps = [s for s, _ in frames]
        at = bisect.bisect_left(stamps, stamp)
        best = min((i for i in (at - 1, at) if 0 <= i < len(frames)),
                   key=lambda i: abs(stamps[i] - stamp))
        if abs(stamps[best] - stamp) <= self.tolerance:
            return frames[best][1], None
        if stamps[-1] < stamp:
            return None, DEPTH_BEHIND
        if stamps[0] > stamp:
            return None, DEPTH_AHEAD
        return None, DEPTH_GAP
