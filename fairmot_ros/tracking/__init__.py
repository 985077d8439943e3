"""FairMOT's online tracker without ROS: ``JDETracker(TrackerConfig()).update(...)``.

See ``tracker.py`` for the association sequence and the time-aware semantics.
"""

from fairmot_ros.tracking.config import TrackerConfig
from fairmot_ros.tracking.filters import filter_tracks, keep_mask
from fairmot_ros.tracking.kalman import KalmanFilter
from fairmot_ros.tracking.track import Track, TrackState
from fairmot_ros.tracking.tracker import JDETracker, TrackerUpdate

__all__ = [
    "JDETracker",
    "KalmanFilter",
    "Track",
    "TrackState",
    "TrackerConfig",
    "TrackerUpdate",
    "filter_tracks",
    "keep_mask",
]
