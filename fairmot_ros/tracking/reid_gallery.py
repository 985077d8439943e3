"""A gallery of people who left: a new track that looks like one of them gets that person's id back.

The original tracker keeps a lost track for ``buffer_size`` frames (one second at the default
``track_buffer``) and then forgets it: a person who walks out of a narrow view and comes back
later gets a new id. A robot's camera sees exactly that, people leaving and re-entering its
field of view. :class:`ReidGallery`, optional and off by default (the original behaviour),
remembers the smoothed re-ID embedding of every reported track the tracker removes, for
``memory_s`` seconds of image time. When the tracker reports a track for the first time, its
embedding is compared with the remembered ones (cosine distance, as the tracker's first
association stage compares embeddings); the new tracks of a frame and the remembered people
are paired one-to-one by the smallest total distance, and a pair closer than
``max_distance`` publishes the new track under the remembered id, which leaves the gallery.

The gallery only renames: the tracker runs and decides exactly as without it (its internal
ids are untouched, because it keys its own bookkeeping by them), and :meth:`ReidGallery.view`
shows the tracks under their published ids. A published id is either the track's own internal
id or the internal id of an earlier, removed track, so published ids stay unique among live
tracks. Whenever the tracker's ids restart (the store emptied) the gallery must be cleared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fairmot_ros.tracking.matching import embedding_distance, linear_assignment
from fairmot_ros.tracking.track import Track

__all__ = ["PublishedTrack", "Reidentified", "ReidGallery"]


@dataclass(frozen=True, slots=True)
class Reidentified:
    """The tracker's new track ``track_id`` is published as ``restored_id``, the id of a person
    removed ``absent_s`` seconds before, at cosine distance ``distance``."""

    track_id: int
    restored_id: int
    absent_s: float
    distance: float


class PublishedTrack:
    """A track seen under its published id: every attribute is the track's, except
    ``track_id`` (the published id) and ``internal_id`` (the tracker's)."""

    __slots__ = ("_track", "track_id")

    def __init__(self, track: Track, published_id: int) -> None:
        self._track = track
        self.track_id = published_id

    @property
    def internal_id(self) -> int:
        return self._track.track_id

    def __getattr__(self, name: str):
        return getattr(self._track, name)

    def __repr__(self) -> str:
        return f"PublishedTrack(id={self.track_id}, {self._track!r})"


@dataclass(slots=True)
class _Remembered:
    published_id: int
    feature: np.ndarray
    removed_at: float


class ReidGallery:
    """Published ids of one camera's tracks, and the people removed in the last ``memory_s``
    seconds (at most ``capacity`` of them, the oldest forgotten first)."""

    def __init__(self, memory_s: float, max_distance: float, capacity: int = 1000) -> None:
        if not memory_s > 0 or not 0 < max_distance <= 2 or capacity < 1:
            raise ValueError(f"ReidGallery needs memory_s > 0, max_distance in (0, 2] and "
                             f"capacity >= 1, got {memory_s}, {max_distance}, {capacity}")
        self.memory_s = float(memory_s)
        self.max_distance = float(max_distance)
        self.capacity = int(capacity)
        self._published: dict[int, int] = {}  # internal id -> published id, reported tracks
        self._reported: dict[int, Track] = {}  # last frame's live reported tracks
        self._gallery: list[_Remembered] = []

    def clear(self) -> int:
        """Forget everything (the tracker's ids restart); returns how many people were
        remembered."""
        held = len(self._gallery)
        self._published.clear()
        self._reported.clear()
        self._gallery.clear()
        return held

    @property
    def remembered(self) -> int:
        return len(self._gallery)

    def update(self, stamp: float, reported: Sequence[Track],
               store: Sequence[Track]) -> list[Reidentified]:  # fmt: skip
        """Take one frame: ``reported`` the tracker's activated tracks, ``store`` every live
        track, ``stamp`` in seconds. Remembers the reported tracks that left the store,
        forgets people older than ``memory_s``, and gives each first-reported track a
        published id; returns the re-identifications made."""
        live = {t.track_id for t in store}
        for internal, track in self._reported.items():
            if internal not in live:
                self._gallery.append(_Remembered(self._published.pop(internal),
                                                 np.array(track.smooth_feat), stamp))  # fmt: skip
        self._gallery = [g for g in self._gallery if stamp - g.removed_at <= self.memory_s]
        del self._gallery[:-self.capacity]
        new = [t for t in reported if t.track_id not in self._published]
        found = self._match(new, stamp)
        for track in new:
            self._published.setdefault(track.track_id, track.track_id)
        self._reported = {t.track_id: t for t in store if t.track_id in self._published}
        return found

    def _match(self, new: list[Track], stamp: float) -> list[Reidentified]:
        if not new or not self._gallery:
            return []
        cost = embedding_distance(np.stack([t.smooth_feat for t in new]),
                                  np.stack([g.feature for g in self._gallery]))  # fmt: skip
        matches, _, _ = linear_assignment(cost, self.max_distance)
        found = []
        for i, j in matches:
            entry = self._gallery[j]
            self._published[new[i].track_id] = entry.published_id
            found.append(Reidentified(new[i].track_id, entry.published_id,
                                      stamp - entry.removed_at, float(cost[i, j])))  # fmt: skip
        taken = {int(j) for j in matches[:, 1]}
        self._gallery = [g for j, g in enumerate(self._gallery) if j not in taken]
        return found

    def published_id(self, track: Track) -> int:
        """The id ``track`` is published under (its own until it has been reported)."""
        return self._published.get(track.track_id, track.track_id)

    def view(self, tracks: Sequence[Track]) -> list[Track | PublishedTrack]:
        """``tracks`` as published: the same objects where the id is their own."""
        shown: list[Track | PublishedTrack] = []
        for track in tracks:
            published = self.published_id(track)
            shown.append(track if published == track.track_id
                         else PublishedTrack(track, published))  # fmt: skip
        return shown
