"""One MCAP storage file, read with the ``mcap`` library (the format maintainers' reader).

A finalised file is read through its summary and chunk indexes, in log-time order. A file
without a usable summary (a recorder that lost power, a split file never closed) is read front
to back with the library's stream reader up to its last complete record; :attr:`report` then
says how far the intact part goes. Chunk compression (zstd, lz4) is the library's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fairmot_ros.bags.qos import qos_from_yaml
from fairmot_ros.bags.records import BagError, BagMessage, StorageFile, TopicInfo
from fairmot_ros.bags.types import split_definitions

__all__ = ["McapFile"]

# A record longer than this is damage, not data (the library would try to allocate it).
_RECORD_LIMIT = 1 << 31
# What the library raises on foreign or damaged bytes: its own errors, and the struct, decoding,
# decompression and allocation errors of the records it parses.
_DAMAGE = (Exception,)


class McapFile(StorageFile):
    """Topics, counts, definitions and messages of one ``.mcap`` file."""

    storage = "mcap"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._topic_of: dict[int, tuple[str, str]] = {}  # channel id -> (topic, type)
        self._indexed = False
        try:
            with path.open("rb") as handle:
                self._indexed = self._read_summary(handle)
                if not self._indexed:
                    self.report.scanned = True
                    self._scan(handle)
        except _DAMAGE as exc:
            raise BagError(f"{path}: not a readable MCAP file ({exc})") from None
        self.report.messages = sum(t.count for t in self.topics.values())

    # ----- opening ---------------------------------------------------------------------------
    def _add_channel(self, channel: Any, schema: Any | None) -> None:
        typename = schema.name if schema is not None else ""
        self._topic_of[channel.id] = (channel.topic, typename)
        if channel.topic not in self.topics:
            self.topics[channel.topic] = TopicInfo(
                channel.topic, typename, 0,
                qos_from_yaml(channel.metadata.get("offered_qos_profiles", "")), "",
                channel.message_encoding or "cdr")
        if schema is not None and schema.encoding == "ros2msg":  # empty text: an empty type
            self.definitions.setdefault(
                typename, split_definitions(typename, bytes(schema.data).decode("utf-8")))

    def _count(self, channel_id: int, log_time: int) -> None:
        topic, _ = self._topic_of[channel_id]
        self.topics[topic].count += 1
        self.start_ns = min(self.start_ns or log_time, log_time)
        self.end_ns = max(self.end_ns, log_time)

    def _read_summary(self, handle: BinaryIO) -> bool:
        """Use the summary when it has channels and statistics; False to read front to back."""
        from mcap.reader import SeekingReader

        try:
            summary = SeekingReader(handle, record_size_limit=_RECORD_LIMIT).get_summary()
        except _DAMAGE:
            return False
        if summary is None or summary.statistics is None or not summary.chunk_indexes \
                and summary.statistics.message_count:
            return False
        for channel in summary.channels.values():
            self._add_channel(channel, summary.schemas.get(channel.schema_id))
        stats = summary.statistics
        for channel_id, n in stats.channel_message_counts.items():
            if channel_id in self._topic_of:
                self.topics[self._topic_of[channel_id][0]].count += n
        if stats.message_count:
            self.start_ns, self.end_ns = stats.message_start_time, stats.message_end_time
        self.report.read_bytes = self.report.size
        return True

    def _records(self, handle: BinaryIO) -> Iterator[Any]:
        """Records of the data section in file order; stops quietly at the first damage and
        leaves :attr:`report` saying where."""
        from mcap.records import DataEnd, Footer
        from mcap.stream_reader import StreamReader

        handle.seek(0)
        reader = StreamReader(handle, record_size_limit=_RECORD_LIMIT)
        try:
            for record in reader.records:
                if isinstance(record, (DataEnd, Footer)):
                    return
                yield record
                self.report.read_bytes = handle.tell()
        except _DAMAGE as exc:
            self.report.intact = False
            self.report.problem = f"cut short or damaged there ({type(exc).__name__}); " \
                "the rest is lost"
            return
        self.report.read_bytes = handle.tell()

    def _scan(self, handle: BinaryIO) -> None:
        from mcap.records import Channel, Message, Schema

        schemas: dict[int, Any] = {}
        for record in self._records(handle):
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                self._add_channel(record, schemas.get(record.schema_id))
            elif isinstance(record, Message) and record.channel_id in self._topic_of:
                self._count(record.channel_id, record.log_time)
        if self.report.intact:
            self.report.read_bytes = self.report.size

    # ----- reading ---------------------------------------------------------------------------
    def messages(self, wanted: set[str]) -> Iterator[BagMessage]:
        """Messages of the ``wanted`` topics: in log-time order when indexed, else in file
        order up to the intact end."""
        from mcap.reader import SeekingReader
        from mcap.records import Message

        if not wanted:
            return
        with self.path.open("rb") as handle:
            if self._indexed:
                reader = SeekingReader(handle, record_size_limit=_RECORD_LIMIT)
                try:
                    for schema, channel, message in reader.iter_messages(topics=sorted(wanted)):
                        yield BagMessage(channel.topic, schema.name if schema else "",
                                         message.log_time, message.data)
                except _DAMAGE as exc:
                    raise BagError(f"{self.path}: reading stopped: {exc}") from None
                return
            for record in self._records(handle):
                if isinstance(record, Message) and record.channel_id in self._topic_of:
                    topic, typename = self._topic_of[record.channel_id]
                    if topic in wanted:
                        yield BagMessage(topic, typename, record.log_time, record.data)
