"""One camera's online tracker without ROS: detect, track and report, one call per frame.

A :class:`CameraPipeline` owns everything that depends on one camera's history: its
:class:`~fairmot_ros.tracking.JDETracker`, its camera-motion estimator, the policy that empties
the tracklet store (image stamps going back, a change of image size, frames of a second clock
on the same stream) and the output filters of the original evaluation loop.
:meth:`CameraPipeline.step` takes a decoded BGR image and its stamp (seconds), runs the
detector on it (or takes the detector's result, when several cameras share one batched run),
and returns a :class:`FrameOutcome`: the tracks to report, the whole store, and that frame's
events as values (:class:`FrameEvents`). With ``spatial`` settings the step also locates the
reported tracks in 3D (:class:`~fairmot_ros.spatial.stage.SpatialStage`: depth or the ground
plane, a filter per track in metres) from the frame's :class:`~fairmot_ros.spatial.stage.Scene`
(camera model, poses, paired depth); without them that part is one ``None`` test. With
``TrackerConfig.reid_memory_s`` set, a :class:`~fairmot_ros.tracking.reid_gallery.ReidGallery`
gives people who come back after their track was removed their earlier id. The ROS
node, ``fairmot-eval`` (and the moving-camera evaluation built on it) and ``fairmot-bench
pipeline`` all track through this class::

    from fairmot_ros.detector import Detector
    from fairmot_ros.pipeline import CameraPipeline
    from fairmot_ros.tracking import TrackerConfig

    pipeline = CameraPipeline(TrackerConfig(frame_rate=25.0), Detector("fairmot.onnx"))
    for stamp, image in frames:                      # seconds, HxWx3 uint8 BGR
        outcome = pipeline.step(image, stamp)
        for track in outcome.tracks:                 # filtered as the original reports them
            print(stamp, track.track_id, track.tlwh, track.score)
        if outcome.events.store_emptied:             # "time_reversal" or "size_change"
            print("tracks cleared:", outcome.events.store_emptied)

:meth:`~CameraPipeline.step`, :meth:`~CameraPipeline.reset` and
:meth:`~CameraPipeline.configure` may be called from different threads (the node resets from
its service thread while its image thread tracks). Nothing here imports ROS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fairmot_ros.decode import Detections
from fairmot_ros.spatial.stage import Scene, SpatialFrame, SpatialSettings, SpatialStage
from fairmot_ros.tracking.camera_motion import CameraMotionEstimator, estimator_for
from fairmot_ros.tracking.config import TrackerConfig
from fairmot_ros.tracking.filters import filter_tracks
from fairmot_ros.tracking.reid_gallery import Reidentified, ReidGallery
from fairmot_ros.tracking.track import Track
from fairmot_ros.tracking.tracker import JDETracker

__all__ = [
    "STORE_SIZE_CHANGE",
    "STORE_TIME_REVERSAL",
    "CameraPipeline",
    "FrameEvents",
    "FrameOutcome",
    "SourceHistory",
]

# Why a frame emptied the store (FrameEvents.store_emptied).
STORE_TIME_REVERSAL = "time_reversal"
STORE_SIZE_CHANGE = "size_change"
# Sources (publishers) whose frames were tracked that a camera remembers, most recent kept.
MAX_SOURCES = 64


@dataclass(frozen=True, slots=True)
class FrameEvents:
    """What one frame did besides tracking, as values.

    ``store_emptied``: None, :data:`STORE_TIME_REVERSAL` (the stamp went back: a bag played
    again, a clock jump) or :data:`STORE_SIZE_CHANGE` (tracks live in the pixels of one image
    size; ids restart at 1); ``previous_size``: with a size change, the size before (w, h).
    ``other_clock``: the stamp went back on a frame from another source than the previous
    frame's, a source whose frames were tracked before: two clocks take turns on one stream
    (``previous_source`` is the other one). ``capped``: tracks removed by
    ``TrackerConfig.max_tracks``; ``invalid_detections``: detections dropped for a
    non-positive width or height; ``reidentified``: new tracks published under the id of a
    person who had left (``TrackerConfig.reid_memory_s``).
    """

    store_emptied: str | None = None
    previous_size: tuple[int, int] | None = None
    other_clock: bool = False
    previous_source: Hashable | None = None
    capped: int = 0
    invalid_detections: int = 0
    reidentified: tuple[Reidentified, ...] = ()

    @property
    def time_reversal(self) -> bool:
        return self.store_emptied == STORE_TIME_REVERSAL


NO_EVENTS = FrameEvents()


@dataclass(frozen=True, slots=True)
class FrameOutcome:
    """One frame through a :class:`CameraPipeline`.

    ``tracks``: the tracks to report (activated, through the original output filters), in
    tracker order, under their published ids (with ``reid_memory_s`` set, a re-identified
    track is a :class:`~fairmot_ros.tracking.reid_gallery.PublishedTrack`); ``activated``:
    the same before the filters; ``store``: every live track after the frame (tracked,
    tentative and lost), also under published ids; ``detections``: what the tracker was given;
    ``warp``: the camera motion applied (None without compensation or on a first frame);
    ``size``: the image's (width, height); ``detect_s`` / ``track_s``: seconds spent detecting
    (0 when the detections were given) and in the rest of the step; ``spatial``: the reported
    tracks in 3D and every live track's filtered 3D state (None when 3D is off).
    """

    tracks: list[Track]
    activated: list[Track]
    store: list[Track]
    events: FrameEvents
    detections: Detections
    warp: np.ndarray | None
    size: tuple[int, int]
    detect_s: float
    track_s: float
    spatial: SpatialFrame | None = None


class SourceHistory:
    """The sources whose frames were tracked, most recent last, at most :data:`MAX_SOURCES`."""

    def __init__(self, limit: int = MAX_SOURCES) -> None:
        self.limit = limit
        self.sources: dict[Hashable, None] = {}

    def note(self, source: Hashable | None) -> bool:
        """Record a tracked frame's source; True when its frames were tracked before (a
        source that comes back, not a new one such as a restarted bag player)."""
        if source is None:
            return False
        known = source in self.sources
        self.sources.pop(source, None)
        self.sources[source] = None  # moved to the end: most recent last
        if len(self.sources) > self.limit:
            del self.sources[next(iter(self.sources))]
        return known


def gallery_for(config: TrackerConfig) -> ReidGallery | None:
    """The re-identification gallery ``config`` asks for (None: the original tracker)."""
    if config.reid_memory_s <= 0:
        return None
    return ReidGallery(config.reid_memory_s, config.reid_max_distance, config.max_tracks)


class CameraPipeline:
    """Detector, camera motion, tracker, store-reset policy and output filters of one camera.

    ``detector`` (a :class:`~fairmot_ros.detector.Detector`, or anything with its ``detect``)
    is used by :meth:`step` when it is not given the detections; several pipelines may share
    one. ``config.camera_motion`` chooses the motion estimator; ``spatial`` turns 3D on.
    """

    def __init__(self, config: TrackerConfig | None = None, detector: Any = None,
                 spatial: SpatialSettings | None = None) -> None:
        self.detector = detector
        self.spatial = SpatialStage(spatial) if spatial is not None else None
        self.tracker = JDETracker(config)
        self._config = self.tracker.config
        self.motion: CameraMotionEstimator | None = estimator_for(self._config.camera_motion)
        self.gallery: ReidGallery | None = gallery_for(self._config)
        self._lock = threading.Lock()
        self._size: tuple[int, int] | None = None
        self._last_source: Hashable | None = None
        self.sources = SourceHistory()

    @property
    def config(self) -> TrackerConfig:
        return self._config

    def configure(self, config: TrackerConfig) -> bool:
        """Use ``config`` from the next frame on (:meth:`JDETracker.configure`); a different
        ``camera_motion`` starts a new estimator. Returns True when the store was emptied
        (``frame_rate`` or ``time_snap_frames`` changed: ids restart at 1); ValueError leaves
        everything unchanged."""
        with self._lock:
            emptied = self.tracker.configure(config)
            if config.camera_motion != self._config.camera_motion:
                self.motion = estimator_for(config.camera_motion)
            self._configure_gallery(self.tracker.config, emptied)
            self._config = self.tracker.config
        return emptied

    def _configure_gallery(self, config: TrackerConfig, emptied: bool) -> None:
        """Start, stop or retune the gallery for ``config``; an emptied store clears it."""
        if config.reid_memory_s <= 0:
            self.gallery = None
        elif self.gallery is None:
            self.gallery = gallery_for(config)
        else:
            self.gallery.memory_s = config.reid_memory_s
            self.gallery.max_distance = config.reid_max_distance
            self.gallery.capacity = config.max_tracks
            if emptied:
                self.gallery.clear()

    def reset(self) -> int:
        """Empty the store, ids restart at 1; returns the number of live tracks it held."""
        with self._lock:
            held = len(self.tracker.all_tracks())
            self.tracker.reset()
            if self.spatial is not None:
                self.spatial.reset()
            if self.gallery is not None:
                self.gallery.clear()
        return held

    def live_tracks(self) -> int:
        """Tracks in the store now (tracked, tentative and lost)."""
        with self._lock:
            return len(self.tracker.all_tracks())

    def step(
        self, image: np.ndarray, stamp: float, source: Hashable | None = None,
        detections: Detections | None = None, scene: Scene | None = None,
    ) -> FrameOutcome:
        """Track one frame: ``image`` HxWx3 uint8 BGR, ``stamp`` in seconds (frames in time
        order; a stamp going back empties the store), ``source`` identifies who sent it (a
        publisher; None when unknown), ``detections`` the detector's result for ``image`` when
        it ran elsewhere (a batch of several cameras), ``scene`` what 3D needs of this frame
        (with 3D on; None counts as a frame without camera model)."""
        started = time.perf_counter()
        if detections is None:
            if self.detector is None:
                raise ValueError("no detections given and the pipeline has no detector")
            detections = self.detector.detect(image)
        detected = time.perf_counter()
        with self._lock:
            tracked = self._track(image, stamp, source, detections)
            spatial = None
            if self.spatial is not None:
                spatial = self._locate(stamp, tracked, scene or Scene())
        done = time.perf_counter()
        return replace(tracked, detect_s=detected - started, track_s=done - detected,
                       spatial=spatial)

    def _locate(self, stamp: float, tracked: FrameOutcome, scene: Scene) -> SpatialFrame:
        if tracked.events.store_emptied is not None:
            self.spatial.reset()
        return self.spatial.process(stamp, [(t.track_id, t.tlwh) for t in tracked.tracks],
                                    scene, live=[t.track_id for t in tracked.store],
                                    image_size=tracked.size)

    def _track(self, image: np.ndarray, stamp: float, source: Hashable | None,
               detections: Detections) -> FrameOutcome:
        """The frame through the tracker and the output filters (timings left at 0)."""
        config = self._config
        size = (int(image.shape[1]), int(image.shape[0]))
        previous, self._size = self._size, size
        resized = previous is not None and previous != size
        if resized:  # tracks live in the pixels of one image size
            self.tracker.reset()
        warp = None if self.motion is None else self.motion.estimate(image, detections.boxes)
        update = self.tracker.step(detections.boxes, detections.scores, detections.embeddings,
                                   stamp, warp=warp)
        store = self.tracker.all_tracks()
        activated = update.tracks
        found: list[Reidentified] = []
        if self.gallery is not None:
            if resized or update.time_reversal:  # the tracker's ids restart at 1
                self.gallery.clear()
            found = self.gallery.update(stamp, activated, store)
            activated, store = self.gallery.view(activated), self.gallery.view(store)
        returning = self.sources.note(source)
        last, self._last_source = self._last_source, source
        events = NO_EVENTS
        if (resized or update.time_reversal or update.capped or update.invalid_detections
                or found):
            other = (update.time_reversal and returning and last is not None
                     and source != last)
            events = FrameEvents(
                store_emptied=STORE_SIZE_CHANGE if resized
                else STORE_TIME_REVERSAL if update.time_reversal else None,
                previous_size=previous if resized else None,
                other_clock=other, previous_source=last if other else None,
                capped=update.capped, invalid_detections=update.invalid_detections,
                reidentified=tuple(found),
            )
        shown = filter_tracks(activated, config.min_box_area, config.max_aspect_ratio)
        return FrameOutcome(shown, activated, store, events, detections, warp, size,
                            detect_s=0.0, track_s=0.0)
