"""Message timestamps to frame positions.

The original tracker counts frames; a ROS node gets timestamped images at whatever rate the
camera and the network deliver. The tracker therefore measures time in *frames at the nominal
``frame_rate``*: position = (t - t_first) * frame_rate. Positions within ``snap_frames`` of a
whole number are snapped to it, so float round-off of stamps (about 1e-5 frames for epoch
seconds) cannot make a steady-rate stream differ from frame counting.
"""

from __future__ import annotations

import math


class FrameClock:
    """Current time of one tracker, in seconds and in frames since its first update."""

    def __init__(self, frame_rate: float, snap_frames: float = 1e-3):
        self.frame_rate = float(frame_rate)
        self.snap_frames = float(snap_frames)
        self.reset()

    def reset(self) -> None:
        self.origin: float | None = None
        self.now: float | None = None
        self.position = 0.0

    @property
    def started(self) -> bool:
        return self.origin is not None

    def position_of(self, timestamp: float) -> float:
        """Frame position of a timestamp (origin: the first timestamp since reset)."""
        if self.origin is None:
            return 0.0
        raw = (timestamp - self.origin) * self.frame_rate
        whole = round(raw)
        return float(whole) if abs(raw - whole) <= self.snap_frames else raw

    def goes_back(self, timestamp: float) -> bool:
        """True when this timestamp lies before the current time (after snapping)."""
        return self.started and self.position_of(timestamp) < self.position

    def advance(self, timestamp: float) -> float:
        """Move to ``timestamp`` and return the elapsed frames (>= 0; 0 on the first call)."""
        if not math.isfinite(timestamp):
            raise ValueError(f"timestamp must be finite seconds, got {timestamp}")
        if self.origin is None:
            self.origin = timestamp
            self.now = timestamp
            self.position = 0.0
            return 0.0
        position = self.position_of(timestamp)
        if position < self.position:
            raise ValueError(
                f"timestamp {timestamp} is before the current time {self.now}; reset first"
            )
        elapsed = position - self.position
        self.position = position
        self.now = timestamp
        return elapsed
