"""rosbag2 bags without ROS: reading every release's bags, writing what Kilted writes.

One module per job: :mod:`~fairmot_ros.bags.reader` (folders, split files, metadata against
storage), :mod:`~fairmot_ros.bags.mcap_file` and :mod:`~fairmot_ros.bags.sqlite_file` (one
storage file each), :mod:`~fairmot_ros.bags.metadata`, :mod:`~fairmot_ros.bags.writer`,
:mod:`~fairmot_ros.bags.types` (definitions, hashes, CDR) and :mod:`~fairmot_ros.bags.qos`.
Damage is reported, never raised as a traceback: :class:`BagError` carries a one-line reason.
"""

from fairmot_ros.bags.qos import QosSpec
from fairmot_ros.bags.reader import BagReader
from fairmot_ros.bags.records import BagError, BagMessage, FileReport, TopicInfo
from fairmot_ros.bags.types import (
    deserialize,
    ensure_type,
    has_header,
    header_stamp_ns,
    message_class,
    serialize,
    type_hash,
)
from fairmot_ros.bags.writer import METADATA_VERSION, STORAGES, BagWriter

__all__ = [
    "METADATA_VERSION",
    "STORAGES",
    "BagError",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "FileReport",
    "QosSpec",
    "TopicInfo",
    "deserialize",
    "ensure_type",
    "has_header",
    "header_stamp_ns",
    "message_class",
    "serialize",
    "type_hash",
]
