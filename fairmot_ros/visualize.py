"""Drawing tracks on images with OpenCV: boxes, ids, per-id colours and short trails.

ROS-free so that the node's debug image, offline demos and evaluation tools draw the same
picture. Colours depend only on the id (not on the order of tracks in a frame or on Python's
salted ``hash``), so an id keeps its colour across frames, runs and processes.
"""

from __future__ import annotations

import colorsys
import zlib
from collections import deque
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

__all__ = ["TrailHistory", "colour_for_id", "draw_tracks"]

_GOLDEN_RATIO_CONJUGATE = 0.618033988749895


def colour_for_id(track_id: int | str) -> tuple[int, int, int]:
    """A bright BGR colour that is the same for the same id everywhere.

    Integer ids step round the hue circle by the golden ratio, so consecutive ids (the common
    case: tracks born close in time) get well separated hues; string ids (``"cam0/12"``) are
    reduced to an integer with CRC-32 first.
    """
    key = track_id if isinstance(track_id, int) else zlib.crc32(str(track_id).encode())
    hue = (key * _GOLDEN_RATIO_CONJUGATE) % 1.0
    saturation = 0.65 + 0.35 * ((key * 7) % 3) / 2.0
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


class TrailHistory:
    """Recent box-centre positions per id, for drawing where each track has been.

    ``max_points`` bounds each trail; ids that have not been updated for ``forget_after``
    calls are dropped so a long run does not accumulate the trails of tracks long gone.
    """

    def __init__(self, max_points: int = 20, forget_after: int = 30) -> None:
        self.max_points = max_points
        self.forget_after = forget_after
        self._points: dict[int | str, deque[tuple[int, int]]] = {}
        self._last_seen: dict[int | str, int] = {}
        self._calls = 0

    def update(self, ids: Iterable[int | str], centres: np.ndarray) -> None:
        """Append this frame's centre (x, y) for every id and forget stale ids."""
        self._calls += 1
        if self.max_points <= 0:
            return
        for track_id, (x, y) in zip(ids, np.asarray(centres).reshape(-1, 2), strict=True):
            trail = self._points.get(track_id)
            if trail is None or trail.maxlen != self.max_points:
                trail = deque(trail or (), maxlen=self.max_points)
                self._points[track_id] = trail
            trail.append((round(float(x)), round(float(y))))
            self._last_seen[track_id] = self._calls
        stale = [k for k, seen in self._last_seen.items() if self._calls - seen > self.forget_after]
        for track_id in stale:
            del self._points[track_id], self._last_seen[track_id]

    def points(self, track_id: int | str) -> Sequence[tuple[int, int]]:
        return self._points.get(track_id, ())

    def clear(self) -> None:
        self._points.clear()
        self._last_seen.clear()

    def __len__(self) -> int:
        return len(self._points)


def draw_tracks(
    image: np.ndarray,
    tlwh: np.ndarray,
    ids: Sequence[int | str],
    scores: Sequence[float] | None = None,
    trails: TrailHistory | None = None,
    thickness: int = 2,
) -> np.ndarray:
    """Return a copy of the BGR ``image`` with each track's box, id (and score) and trail.

    ``tlwh`` is (N, 4) left, top, width, height in image pixels. When ``trails`` is given it is
    updated with this frame's centres before drawing, so one call per frame is enough.
    """
    canvas = np.array(image, dtype=np.uint8, copy=True)
    boxes = np.asarray(tlwh, dtype=np.float64).reshape(-1, 4)
    if len(ids) != len(boxes):
        raise ValueError(f"{len(ids)} ids for {len(boxes)} boxes")
    if trails is not None:
        trails.update(ids, boxes[:, :2] + boxes[:, 2:] / 2.0)
    scale = max(0.4, min(canvas.shape[:2]) / 720.0)
    for i, track_id in enumerate(ids):
        colour = colour_for_id(track_id)
        x, y, w, h = boxes[i]
        top_left = (round(x), round(y))
        cv2.rectangle(canvas, top_left, (round(x + w), round(y + h)), colour, thickness)
        if trails is not None:
            path = trails.points(track_id)
            if len(path) > 1:
                cv2.polylines(canvas, [np.array(path, dtype=np.int32)], False, colour, thickness)
        label = str(track_id) if scores is None else f"{track_id} {scores[i]:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        label_y = max(top_left[1], th + base)
        cv2.rectangle(
            canvas, (top_left[0], label_y - th - base), (top_left[0] + tw, label_y), colour, -1
        )
        cv2.putText(
            canvas, label, (top_left[0], label_y - base), cv2.FONT_HERSHEY_SIMPLEX, scale,
            (0, 0, 0), 1, cv2.LINE_AA,
        )
    return canvas
