"""``metadata.yaml`` of a rosbag2 bag, versions 1 to 9, as plain values.

The metadata is what ``ros2 bag`` reads first, and the only place that keeps the offered QoS
and type hashes of some older storages. It is also written once, at the end of a recording, so
it can be missing or disagree with the storage files; the reader compares the two and trusts
the storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from fairmot_ros.bags.qos import QosSpec, qos_from_yaml
from fairmot_ros.bags.records import BagError

__all__ = ["BagMetadata", "TopicMetadata", "read_metadata"]


@dataclass(frozen=True)
class TopicMetadata:
    """One ``topics_with_message_count`` entry."""

    type: str
    count: int
    qos: list[QosSpec]
    type_hash: str
    serialization_format: str


@dataclass
class BagMetadata:
    """The facts of ``rosbag2_bagfile_information`` that reading needs."""

    version: int | None = None
    storage: str = ""
    ros_distro: str | None = None
    files: list[str] = field(default_factory=list)
    message_count: int = 0
    topics: dict[str, TopicMetadata] = field(default_factory=dict)
    custom_data: dict[str, str] = field(default_factory=dict)
    compression_mode: str = ""
    compression_format: str = ""


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _topic(entry: Any) -> tuple[str, TopicMetadata] | None:
    meta = entry.get("topic_metadata") if isinstance(entry, dict) else None
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return str(meta["name"]), TopicMetadata(
        str(meta.get("type", "")), _int(entry.get("message_count")),
        qos_from_yaml(meta.get("offered_qos_profiles", "")),
        str(meta.get("type_description_hash") or ""),
        str(meta.get("serialization_format") or "cdr"))


def read_metadata(folder: Path) -> BagMetadata:
    """The metadata of a bag folder; BagError with the reason when it does not parse."""
    import yaml

    path = folder / "metadata.yaml"
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BagError(f"{path} does not parse ({reason})") from None
    info = loaded.get("rosbag2_bagfile_information") if isinstance(loaded, dict) else None
    if not isinstance(info, dict):
        raise BagError(f"{path} has no rosbag2_bagfile_information")
    files = info.get("relative_file_paths") or []
    topics = dict(t for t in map(_topic, info.get("topics_with_message_count") or []) if t)
    custom = info.get("custom_data") or {}
    return BagMetadata(
        version=_int(info.get("version"), 0) or None,
        storage=str(info.get("storage_identifier") or ""),
        ros_distro=info.get("ros_distro"),
        # Version 4 and older wrote paths relative to the bag's parent folder.
        files=[PurePath(str(f)).name for f in files if f] if isinstance(files, list) else [],
        message_count=_int(info.get("message_count")),
        topics=topics,
        custom_data={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict)
        else {},
        compression_mode=str(info.get("compression_mode") or "").lower(),
        compression_format=str(info.get("compression_format") or "").lower(),
    )
