"""Writing rosbag2 bags (on ``rosbags``): what rosbag2 on Kilted writes and reads.

Metadata version 9 with the offered QoS profiles as a YAML list and a ``RIHS01`` type
description hash per topic, MCAP channels with ``ros2msg`` schemas (the concatenated ``.msg``
definitions), sqlite3 files with rosbag2's tables. Messages travel as CDR bytes, stored without
decoding, so a recording is bit-exact.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fairmot_ros.bags.qos import QosSpec, to_rosbags_qos
from fairmot_ros.bags.records import BagError
from fairmot_ros.bags.types import ensure_type, message_definition, type_hash

__all__ = ["METADATA_VERSION", "STORAGES", "BagWriter"]

METADATA_VERSION = 9  # rosbag2_storage BagMetadata::version from Jazzy on (Kilted: 9)
STORAGES = ("mcap", "sqlite3")


def _prepare_output(path: Path, overwrite: bool) -> None:
    if not path.exists():
        if not path.parent.is_dir():
            raise BagError(f"{path.parent} does not exist")
        return
    if not overwrite:
        raise BagError(f"{path} exists; pass --overwrite to replace it")
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


class BagWriter:
    """A rosbag2 bag being written; use as a context manager so it is always finalised.

    Closing writes the storage's index and ``metadata.yaml`` even when the block raised, so an
    interrupted recording still leaves a bag that opens.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", overwrite: bool = False,
                 custom_data: dict[str, str] | None = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.rosbag2.errors import WriterError

        if storage not in STORAGES:
            raise BagError(f"storage {storage!r} is not one of {', '.join(STORAGES)}")
        self.path = Path(path)
        _prepare_output(self.path, overwrite)
        self.storage = storage
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=METADATA_VERSION, storage_plugin=plugin)
        for key, value in (custom_data or {}).items():
            self._writer.set_custom_data(key, str(value))
        try:
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f"cannot create {self.path}: {exc}") from None
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.types: dict[str, str] = {}
        self._open = True

    def add_topic(self, name: str, typename: str, qos: Sequence[QosSpec] = ()) -> None:
        """Declare a topic with the offered QoS of its publishers (one entry each)."""
        if name in self._connections:
            return
        if not ensure_type(typename):
            raise BagError(f"message type {typename} of {name} is unknown")
        self._connections[name] = self._writer.add_connection(
            name, typename, msgdef=message_definition(typename), rihs01=type_hash(typename),
            offered_qos_profiles=[to_rosbags_qos(q) for q in qos],
        )
        self.counts[name] = 0
        self.types[name] = typename

    def write(self, topic: str, log_time_ns: int, data: bytes | memoryview) -> None:
        """Append one message's CDR bytes, received at ``log_time_ns``."""
        self._writer.write(self._connections[topic], int(log_time_ns), data)
        self.counts[topic] += 1

    def close(self) -> None:
        if self._open:
            self._open = False
            self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
