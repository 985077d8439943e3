"""One rosbag2 sqlite3 storage file (``.db3``), read with Python's own ``sqlite3``.

rosbag2's tables changed over the releases: ``topics`` gained ``offered_qos_profiles`` (Foxy)
and ``type_description_hash`` (Iron), and ``message_definitions`` appeared (Iron). Each is read
where present. Files are opened read-only, so a bag on a read-only share is never touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from fairmot_ros.bags.qos import qos_from_yaml
from fairmot_ros.bags.records import BagError, BagMessage, StorageFile, TopicInfo
from fairmot_ros.bags.types import split_definitions

__all__ = ["Sqlite3File"]


def _connect(path: Path) -> tuple[sqlite3.Connection, str]:
    """A read-only connection, and a note when the write-ahead log beside it cannot be read.

    ``mode=ro`` needs to create or write the ``-shm`` file of a bag in WAL mode; on a read-only
    folder that fails, and ``immutable=1`` is the only way in. It ignores the ``-wal`` file, so
    messages still held there are reported as not read instead of silently missing.
    """
    uri = f"file:{quote(str(path))}"
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection, ""
    except sqlite3.Error:
        connection = sqlite3.connect(f"{uri}?immutable=1", uri=True)
    wal = path.with_name(path.name + "-wal")
    note = ""
    if wal.is_file() and wal.stat().st_size:
        note = f"{wal.name} ({wal.stat().st_size} bytes) could not be read (read-only folder)"
    return connection, note


class Sqlite3File(StorageFile):
    """Topics, counts, definitions and messages of one ``.db3`` file."""

    storage = "sqlite3"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._ids: dict[str, int] = {}
        try:
            self._db, note = _connect(path)
            self._read_tables()
        except sqlite3.Error as exc:
            raise BagError(f"{path}: not a readable rosbag2 sqlite3 file ({exc})") from None
        if note:
            self.report.intact, self.report.problem = False, note
        self.report.read_bytes = self.report.size if self.report.intact else 0
        self.report.messages = sum(t.count for t in self.topics.values())

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def _read_tables(self) -> None:
        columns = self._columns("topics")
        if not {"id", "name", "type"} <= columns or "topic_id" not in self._columns("messages"):
            raise sqlite3.DatabaseError("no rosbag2 topics/messages tables")
        wanted = ["id", "name", "type"] + [c for c in ("serialization_format",
                                                        "offered_qos_profiles",
                                                        "type_description_hash") if c in columns]
        for row in self._db.execute(f"SELECT {', '.join(wanted)} FROM topics"):
            values = dict(zip(wanted, row, strict=True))
            self._ids[values["name"]] = values["id"]
            self.topics[values["name"]] = TopicInfo(
                values["name"], values["type"], 0,
                qos_from_yaml(values.get("offered_qos_profiles") or ""),
                values.get("type_description_hash") or "",
                values.get("serialization_format") or "cdr")
        names = {topic_id: name for name, topic_id in self._ids.items()}
        for topic_id, count, first, last in self._db.execute(
                "SELECT topic_id, count(*), min(timestamp), max(timestamp) FROM messages "
                "GROUP BY topic_id"):
            if topic_id in names:
                self.topics[names[topic_id]].count = count
                self.start_ns = min(self.start_ns or first, first)
                self.end_ns = max(self.end_ns, last)
        if "encoded_message_definition" in self._columns("message_definitions"):
            for typename, encoding, text in self._db.execute(
                    "SELECT topic_type, encoding, encoded_message_definition "
                    "FROM message_definitions"):
                if encoding == "ros2msg":  # an empty text is an empty type's definition
                    self.definitions[typename] = split_definitions(typename, text or "")

    def messages(self, wanted: set[str]) -> Iterator[BagMessage]:
        """Messages of the ``wanted`` topics in log-time order."""
        ids = {self._ids[t]: t for t in wanted if t in self._ids}
        if not ids:
            return
        marks = ", ".join("?" * len(ids))
        try:
            rows = self._db.execute(
                f"SELECT topic_id, timestamp, data FROM messages WHERE topic_id IN ({marks}) "
                "ORDER BY timestamp, id", list(ids))
            for topic_id, stamp, data in rows:
                topic = ids[topic_id]
                yield BagMessage(topic, self.topics[topic].type, stamp, data)
        except sqlite3.Error as exc:
            raise BagError(f"{self.path}: reading stopped: {exc}") from None

    def close(self) -> None:
        self._db.close()
