"""Output filters of the original evaluation loop (spec section 5.6).

FairMOT's ``track.py`` writes a track box only if w * h > min_box_area (100) and the box is
not wider than tall by more than 1.6 (w / h > 1.6 is dropped: pedestrians are vertical). The
tracker itself keeps such tracks; these rules only decide what is reported.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from fairmot_ros.tracking.track import Track


def keep_mask(tlwh: np.ndarray, min_box_area: float = 100.0, max_aspect_ratio: float = 1.6):
    """Boolean mask over (N, 4) tlwh boxes; max_aspect_ratio <= 0 disables the ratio rule."""
    boxes = np.asarray(tlwh, dtype=np.float64).reshape(-1, 4)
    w, h = boxes[:, 2], boxes[:, 3]
    keep = w * h > min_box_area
    if max_aspect_ratio > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            keep &= ~(w / h > max_aspect_ratio)
    return keep


def filter_tracks(
    tracks: Iterable[Track], min_box_area: float = 100.0, max_aspect_ratio: float = 1.6
) -> list[Track]:
    """The tracks whose Kalman box passes the original output filters, order kept."""
    tracks = list(tracks)
    if not tracks:
        return []
    mask = keep_mask(np.array([t.tlwh for t in tracks]), min_box_area, max_aspect_ratio)
    return [t for t, keep in zip(tracks, mask, strict=True) if keep]
