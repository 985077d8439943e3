"""Reading rosbag2 bags of every release: all their files, every message, damage reported.

A bag is a folder with ``metadata.yaml`` and one or more storage files (MCAP or sqlite3), or a
single storage file. Each file is read by the storage's maintained reader (the ``mcap`` library,
Python's ``sqlite3``), and the files of a split recording are merged in log-time order.

The storage is the truth: metadata is written once at the end of a recording and may be
missing, list files that are gone, or count messages differently (``rosbags`` 0.11 even yields
nothing when the metadata's QoS text differs from the storage's, as in every Foxy-era bag).
Every such difference is read past and reported in :attr:`BagReader.notes`, and
:attr:`BagReader.files` says for each file how much of it was intact.
"""

from __future__ import annotations

import heapq
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fairmot_ros.bags.mcap_file import McapFile
from fairmot_ros.bags.metadata import BagMetadata, read_metadata
from fairmot_ros.bags.records import BagError, BagMessage, FileReport, StorageFile, TopicInfo
from fairmot_ros.bags.sqlite_file import Sqlite3File
from fairmot_ros.bags.types import deserialize, ensure_type

__all__ = ["BagReader"]

_STORAGE_FILES: dict[str, type[StorageFile]] = {".mcap": McapFile, ".db3": Sqlite3File}
_IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def _split_order(path: Path) -> tuple[str, int, str]:
    """Sort key that puts ``name_2`` before ``name_10`` (rosbag2's split file numbering)."""
    match = re.fullmatch(r"(.*?)_?(\d+)", path.stem)
    return (match.group(1), int(match.group(2)), path.name) if match else (path.stem, -1,
                                                                            path.name)


def _storage_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.suffix in _STORAGE_FILES and p.is_file()),
                  key=_split_order)


class BagReader:
    """A rosbag2 bag opened for reading: topics, counts, times, and its messages as CDR bytes.

    ``path`` is a bag folder, or a single ``.mcap`` / ``.db3`` file. Counts, times and types
    come from the storage files; QoS and type hashes from ``metadata.yaml`` where it has them.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.notes: list[str] = []
        self.files: list[FileReport] = []
        self.storage = ""
        self.metadata_version: int | None = None
        self.ros_distro: str | None = None
        self.custom_data: dict[str, str] = {}
        self.topics: dict[str, TopicInfo] = {}
        self.start_ns = self.end_ns = self.message_count = 0
        self._storages: list[StorageFile] = []
        self._definitions: dict[str, dict[str, str]] = {}
        self._compressed_messages = False
        self._scratch: tempfile.TemporaryDirectory | None = None
        if not self.path.exists():
            raise BagError(f"{self.path}: no such file or directory")
        metadata = self._locate()
        try:
            self._open_files(metadata)
        except BagError:
            self.close()
            raise
        self._merge(metadata)

    @property
    def note(self) -> str | None:
        """All notes as one line (None when the bag was read as its metadata describes)."""
        return "; ".join(self.notes) or None

    # ----- opening ---------------------------------------------------------------------------
    def _locate(self) -> BagMetadata | None:
        """Metadata (None when absent or unreadable) and the storage files to read."""
        if self.path.is_file():
            if self.path.suffix not in _STORAGE_FILES:
                raise BagError(f"{self.path} is not a bag (a bag folder, an .mcap or a .db3 "
                               "file)")
            self._paths = [self.path]
            return None
        found = _storage_files(self.path)
        metadata = None
        if (self.path / "metadata.yaml").is_file():
            try:
                metadata = read_metadata(self.path)
            except BagError as exc:
                if not found:
                    raise
                self.notes.append(f"{exc}; read the storage files alone")
        if metadata is None:
            if not found:
                raise BagError(f"{self.path}: not a bag (no metadata.yaml and no .mcap or .db3 "
                               "file)")
            if not self.notes:
                self.notes.append(f"no metadata.yaml (recording not finalised); read "
                                  f"{len(found)} file(s) front to back: "
                                  f"{', '.join(p.name for p in found)}")
            self._paths = found
            return None
        listed = [self.path / name for name in metadata.files]
        missing = [p.name for p in listed if not p.is_file()]
        if missing:
            self.notes.append(f"metadata.yaml lists {len(missing)} file(s) that are missing: "
                              f"{', '.join(missing)}")
        unlisted = [p for p in found if p not in listed]
        if unlisted:
            self.notes.append(f"{len(unlisted)} storage file(s) not listed in metadata.yaml "
                              f"read too: {', '.join(p.name for p in unlisted)}")
        self._paths = sorted([p for p in listed if p.is_file()] + unlisted, key=_split_order)
        if not self._paths:
            raise BagError(f"{self.path}: none of the storage files in metadata.yaml exists")
        return metadata

    def _open_files(self, metadata: BagMetadata | None) -> None:
        mode = metadata.compression_mode if metadata else ""
        if mode not in ("", "none", "file", "message"):
            raise BagError(f"{self.path}: compression mode {mode!r} is not supported")
        if mode in ("file", "message") and metadata.compression_format != "zstd":
            raise BagError(f"{self.path}: compression format "
                           f"{metadata.compression_format!r} is not supported")
        self._compressed_messages = mode == "message"
        for path in self._paths:
            if path.suffix == ".zstd":
                path = self._decompressed(path)
            kind = _STORAGE_FILES.get(path.suffix)
            if kind is None:
                raise BagError(f"{path}: not an .mcap or .db3 storage file")
            storage = kind(path)
            self._storages.append(storage)
            self.files.append(storage.report)
            if not storage.report.intact:
                self.notes.append(storage.report.describe())
        self.storage = "+".join(sorted({s.storage for s in self._storages}))

    def _decompressed(self, path: Path) -> Path:
        """A file-compressed storage file, unpacked into a scratch folder for this reader."""
        import zstandard

        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="fairmot_bag_")
        target = Path(self._scratch.name) / path.stem
        try:
            with path.open("rb") as src, target.open("wb") as dst:
                zstandard.ZstdDecompressor().copy_stream(src, dst)
        except zstandard.ZstdError as exc:
            raise BagError(f"{path}: does not decompress ({exc})") from None
        return target

    def _merge(self, metadata: BagMetadata | None) -> None:
        """Topics and times from the storage files; QoS and hashes from the metadata."""
        for storage in self._storages:
            for name, info in storage.topics.items():
                merged = self.topics.setdefault(name, TopicInfo(
                    name, info.type, 0, list(info.qos), info.type_hash,
                    info.serialization_format))
                merged.count += info.count
            for typename, definitions in storage.definitions.items():
                self._definitions.setdefault(typename, definitions)
            if storage.end_ns:
                self.start_ns = min(self.start_ns or storage.start_ns, storage.start_ns)
                self.end_ns = max(self.end_ns, storage.end_ns)
        self.message_count = sum(t.count for t in self.topics.values())
        if metadata is None:
            return
        self.metadata_version = metadata.version
        self.ros_distro = metadata.ros_distro
        self.custom_data = dict(metadata.custom_data)
        differences = []
        for name, meta in metadata.topics.items():
            info = self.topics.get(name)
            if info is None:
                info = self.topics[name] = TopicInfo(name, meta.type, 0, [], "",
                                                     meta.serialization_format)
            if meta.qos:
                info.qos = list(meta.qos)
            info.type_hash = info.type_hash or meta.type_hash
            if meta.type and info.type and meta.type != info.type:
                differences.append(f"{name} is {meta.type} there, {info.type} in storage")
            if meta.count != info.count:
                differences.append(f"{name} {meta.count} -> {info.count}")
        if metadata.message_count != self.message_count:
            differences.append(f"{metadata.message_count} -> {self.message_count} messages "
                               "in all")
        if differences:
            self.notes.append("metadata.yaml disagrees with the storage, which is used: "
                              + ", ".join(differences))

    # ----- reading ---------------------------------------------------------------------------
    def known_type(self, typename: str) -> bool:
        """Whether messages of ``typename`` can be decoded here (installed or bag definition)."""
        return ensure_type(typename, self._definitions.get(typename))

    def type_definitions(self, typename: str) -> dict[str, str]:
        """The ``.msg`` texts the bag carries for ``typename`` and the types it uses ({} when
        the bag has none: sqlite3 files before Iron, or a writer that left them out)."""
        return dict(self._definitions.get(typename, {}))

    def image_topics(self) -> list[str]:
        return sorted(name for name, info in self.topics.items() if info.type in _IMAGE_TYPES)

    def messages(self, topics: Sequence[str] | None = None) -> Iterator[BagMessage]:
        """Messages of ``topics`` (all when None; none when empty), in log-time order across
        the files of a split recording (file order inside a file read front to back)."""
        wanted = set(self.topics) if topics is None else set(topics)
        missing = wanted - set(self.topics)
        if missing:
            raise BagError(f"{self.path} has no topic {', '.join(sorted(missing))} "
                           f"(it has {', '.join(sorted(self.topics)) or 'none'})")
        streams = [s.messages(wanted) for s in self._storages]
        merged = streams[0] if len(streams) == 1 else heapq.merge(
            *streams, key=lambda m: m.log_time_ns)
        if not self._compressed_messages:
            yield from merged
            return
        import zstandard

        for message in merged:
            yield BagMessage(message.topic, message.type, message.log_time_ns,
                             zstandard.ZstdDecompressor().decompress(message.data))

    def decode(self, message: BagMessage) -> Any:
        """The ``rosbags`` object of one message (see :func:`deserialize`)."""
        if not self.known_type(message.type):
            raise BagError(f"message type {message.type} is unknown")
        return deserialize(message.data, message.type)

    def close(self) -> None:
        for storage in self._storages:
            storage.close()
        self._storages = []
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
