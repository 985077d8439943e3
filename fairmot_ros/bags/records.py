"""What a bag holds, as plain values: topics, messages, per-file reports, and the one error type.

These are shared by the reader, the writer and every tool on top of them, so they live apart
from any storage format.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fairmot_ros.bags.qos import QosSpec

__all__ = ["BagError", "BagMessage", "FileReport", "StorageFile", "TopicInfo"]


class BagError(RuntimeError):
    """A bag cannot be opened, read or written; the message is one line saying why."""


@dataclass
class TopicInfo:
    """One topic of a bag: its type, message count (from the storage), offered QoS, type hash."""

    name: str
    type: str
    count: int
    qos: list[QosSpec] = field(default_factory=list)
    type_hash: str = ""
    serialization_format: str = "cdr"


@dataclass(frozen=True)
class BagMessage:
    """One recorded message: topic, type, receive (log) time in ns and its CDR bytes."""

    topic: str
    type: str
    log_time_ns: int
    data: bytes | memoryview


@dataclass
class FileReport:
    """How much of one storage file could be read.

    ``intact`` is False when the file ends inside a record (a recorder that lost power) or a
    storage error stopped the read; ``read_bytes`` then says how far the intact part goes.
    """

    name: str
    storage: str
    messages: int = 0
    size: int = 0
    read_bytes: int = 0
    intact: bool = True
    problem: str = ""
    scanned: bool = False  # no usable index or summary: read front to back

    def describe(self) -> str:
        """One line for ``info`` and warnings: name, messages, and what was lost."""
        if self.intact:
            how = " (no summary: read front to back)" if self.scanned else ""
            return f"{self.name}: {self.messages} message(s), intact{how}"
        return (f"{self.name}: {self.messages} intact message(s), read up to byte "
                f"{self.read_bytes} of {self.size}; {self.problem}")


class StorageFile:
    """What the reader needs of one storage file, whatever its format: topics with their counts,
    the definitions it carries, its time span, a report, and its messages."""

    storage = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.report = FileReport(path.name, self.storage, size=path.stat().st_size)
        self.topics: dict[str, TopicInfo] = {}
        self.definitions: dict[str, dict[str, str]] = {}  # type -> its and its fields' texts
        self.start_ns = self.end_ns = 0

    def messages(self, wanted: set[str]) -> Iterator[BagMessage]:
        """Messages of the ``wanted`` topics, in log-time order where the format allows."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the file holds open (nothing by default)."""
