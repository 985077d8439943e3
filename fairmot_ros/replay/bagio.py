"""The one place where rosbag2 bags are read and written (on the ``rosbags`` library, no ROS).

A bag is a folder: ``metadata.yaml`` plus one storage file, MCAP (the default since Iron) or
sqlite3. Written bags are what rosbag2 on Kilted writes and reads: metadata version 9 with the
offered QoS profiles as a YAML list and a ``RIHS01`` type description hash per topic, MCAP
channels with ``ros2msg`` schemas (the concatenated ``.msg`` definitions), sqlite3 files with
rosbag2's tables. Messages travel as CDR bytes: the player publishes them and the recorder
stores them without decoding, so a replay is bit-exact.

Message definitions come from the installed interface packages (``share/<pkg>/msg/*.msg`` on
``AMENT_PREFIX_PATH``: a ROS install, or this repository's environment), then from the bag's own
definitions, then from this repository's ``msg/`` and ``interfaces/`` folders; type hashes come
from the ``.json`` type descriptions that rosidl installs beside the ``.msg`` files, computed by
``rosbags`` where those are absent (the two agree, which a test checks).

Damage is reported, not raised as a traceback: :class:`BagError` carries a one-line reason (not
a bag, no such path, ...), and an MCAP file cut short (no summary, a recorder that lost power)
is read front to back up to its last complete record, with :attr:`BagReader.note` saying where
it stopped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "METADATA_VERSION",
    "STORAGES",
    "BagError",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "QosSpec",
    "TopicInfo",
    "deserialize",
    "has_header",
    "header_stamp_ns",
    "message_class",
    "serialize",
    "type_hash",
]

METADATA_VERSION = 9  # rosbag2_storage BagMetadata::version from Jazzy on (Kilted: 9)
STORAGES = ("mcap", "sqlite3")
_REPO_ROOT = Path(__file__).resolve().parents[2]
# Interface folders of this repository, used when the packages are not installed.
_LOCAL_PACKAGES = {"fairmot_ros_msgs": _REPO_ROOT / "msg",
                   "vision_msgs": _REPO_ROOT / "interfaces" / "vision_msgs" / "msg"}
# rosbag2 writes an infinite QoS duration as the largest rmw time: 9223372036 s 854775807 ns.
_INFINITE = (9223372036, 854775807)
_MCAP_MAGIC = b"\x89MCAP0\r\n"


class BagError(RuntimeError):
    """A bag cannot be opened, read or written; the message is one line saying why."""


@dataclass(frozen=True)
class QosSpec:
    """The QoS of one publisher as rosbag2 keeps it (``offered_qos_profiles``)."""

    reliability: str = "reliable"  # reliable | best_effort
    durability: str = "volatile"  # volatile | transient_local
    history: str = "keep_last"  # keep_last | keep_all
    depth: int = 10


@dataclass
class TopicInfo:
    """One topic of a bag: its type, message count, offered QoS and type hash."""

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


# ----- message types -------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _share_dirs() -> list[Path]:
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [Path(prefix) / "share" for prefix in prefixes]


def _interface_file(typename: str, suffix: str) -> Path | None:
    """``share/<pkg>/msg/<Name><suffix>`` of the first prefix that has it, else the repo's."""
    package, _, name = typename.partition("/msg/")
    for share in _share_dirs():
        candidate = share / package / "msg" / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    local = _LOCAL_PACKAGES.get(package)
    if local is not None and (local / f"{name}{suffix}").is_file():
        return local / f"{name}{suffix}"
    return None


def _referenced_types(fields: list) -> set[str]:
    """Message types named by the fields of one parsed definition (nested arrays included)."""
    from rosbags.typesys.base import Nodetype

    found: set[str] = set()
    for _, (kind, detail) in fields:
        while kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            kind, detail = detail[0]
        if kind == Nodetype.NAME:
            found.add(detail)
    return found


def _register(types: dict) -> None:
    store = _typestore()
    store.register({k: v for k, v in types.items() if k not in store.fielddefs})


def ensure_type(typename: str, definitions: dict[str, str] | None = None) -> bool:
    """Make ``typename`` (``pkg/msg/Name``) and its dependencies known; False when impossible.

    ``definitions`` maps type names to ``.msg`` texts found in a bag, used when no installed
    or local definition exists.
    """
    from rosbags.typesys import TypesysError, get_types_from_msg

    store = _typestore()
    pending, seen = [typename], set()
    parsed: dict = {}
    while pending:
        name = pending.pop()
        if name in store.fielddefs or name in seen:
            continue
        seen.add(name)
        path = _interface_file(name, ".msg")
        text = path.read_text(encoding="utf-8") if path else (definitions or {}).get(name)
        if text is None:
            return False
        try:
            types = get_types_from_msg(text, name)
        except TypesysError:
            return False
        parsed.update(types)
        pending.extend(_referenced_types(types[name][1]))
    if parsed:
        _register(parsed)
    return typename in store.fielddefs


def _split_definitions(typename: str, text: str) -> dict[str, str]:
    """The ``ros2msg`` text of a bag (main definition, then ``MSG: pkg/Name`` sections)."""
    parts = re.split(r"^={80}\s*$", text, flags=re.MULTILINE)
    out = {typename: parts[0]}
    for part in parts[1:]:
        head, _, body = part.strip("\n").partition("\n")
        if head.startswith("MSG: "):
            name = head[5:].strip()
            if "/msg/" not in name and name.count("/") == 1:
                name = name.replace("/", "/msg/")
            out[name] = body
    return out


def type_hash(typename: str) -> str:
    """``RIHS01_...`` of a type: rosidl's installed description when present, else computed."""
    path = _interface_file(typename, ".json")
    if path is not None:
        try:
            hashes = json.loads(path.read_text(encoding="utf-8"))["type_hashes"]
            for entry in hashes:
                if entry["type_name"] == typename:
                    return entry["hash_string"]
        except (ValueError, KeyError, TypeError):
            pass
    if not ensure_type(typename):
        raise BagError(f"message type {typename} is unknown (no .msg definition found)")
    return _typestore().hash_rihs01(typename)


def message_class(typename: str) -> Any:
    """The ``rosbags`` dataclass of a type, for building messages to :func:`serialize`."""
    if not ensure_type(typename):
        raise BagError(f"message type {typename} is unknown (no .msg definition found)")
    return _typestore().types[typename]


def serialize(msg: Any, typename: str) -> bytes:
    """CDR (little endian) bytes of a ``rosbags`` message, as rclpy would publish them."""
    return bytes(_typestore().serialize_cdr(msg, typename))


def deserialize(data: bytes | memoryview, typename: str) -> Any:
    """A ``rosbags`` message object from CDR bytes; BagError when they do not decode."""
    if not ensure_type(typename):
        raise BagError(f"message type {typename} is unknown (no .msg definition found)")
    try:
        return _typestore().deserialize_cdr(data, typename)
    except Exception as exc:  # noqa: BLE001 - any decoding failure of foreign bytes
        raise BagError(f"a {typename} message does not decode: {exc}") from None


def has_header(typename: str) -> bool:
    """Whether the type starts with a ``std_msgs/Header`` (its stamp can be read cheaply)."""
    if not ensure_type(typename):
        return False
    fields = _typestore().fielddefs[typename][1]
    return bool(fields) and fields[0][1][1] == "std_msgs/msg/Header"


def header_stamp_ns(data: bytes | memoryview) -> int:
    """The header stamp of a CDR message that starts with a ``std_msgs/Header``, in ns.

    The stamp is the first field: ``int32 sec`` and ``uint32 nanosec`` right after the 4-byte
    encapsulation header, so no decoding of the (possibly megabyte) rest is needed.
    """
    if len(data) < 12:
        raise BagError("message too short for a header stamp")
    order = "<" if data[1] == 1 else ">"
    sec, nanosec = struct.unpack_from(f"{order}iI", data, 4)
    return sec * 1_000_000_000 + nanosec


# ----- QoS -----------------------------------------------------------------------------------
def _to_rosbags_qos(spec: QosSpec) -> Any:
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    infinite = QosTime(*_INFINITE)
    return Qos(QosHistory[spec.history.upper()], spec.depth,
               QosReliability[spec.reliability.upper()], QosDurability[spec.durability.upper()],
               infinite, infinite, QosLiveliness.AUTOMATIC, infinite, False)


def _from_rosbags_qos(qos: Any) -> QosSpec:
    return QosSpec(qos.reliability.name.lower(), qos.durability.name.lower(),
                   qos.history.name.lower(), int(qos.depth))


# ----- writing -------------------------------------------------------------------------------
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
        msgdef, _ = _typestore().generate_msgdef(typename, ros_version=2)
        self._connections[name] = self._writer.add_connection(
            name, typename, msgdef=msgdef, rihs01=type_hash(typename),
            offered_qos_profiles=[_to_rosbags_qos(q) for q in qos],
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


# ----- reading -------------------------------------------------------------------------------
@dataclass
class _Scan:
    """What a front-to-back read of an MCAP file found (no index or summary needed)."""

    schemas: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (name, text)
    channels: dict[int, tuple[str, int, str, dict]] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0
    stopped_at: int | None = None  # byte offset of the first incomplete record
    size: int = 0


def _read(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _string(body: BytesIO) -> str:
    (length,) = struct.unpack("<I", _read(body, 4))
    return _read(body, length).decode("utf-8")


def _string_map(body: BytesIO) -> dict[str, str]:
    (length,) = struct.unpack("<I", _read(body, 4))
    end, out = body.tell() + length, {}
    while body.tell() < end:
        key = _string(body)
        out[key] = _string(body)
    return out


def _chunk_records(body: BytesIO) -> bytes:
    _read(body, 8 + 8 + 8 + 4)  # start/end time, uncompressed size, crc
    compression = _string(body)
    (length,) = struct.unpack("<Q", _read(body, 8))
    data = _read(body, length)
    if compression == "zstd":  # rosbag2's MCAP writer compresses chunks with zstd by default
        try:
            import zstandard
        except ImportError:
            raise BagError("zstd-compressed MCAP chunks need the zstandard package") from None
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if compression:
        raise BagError(f"MCAP chunk compression {compression!r} is not supported")
    return data


def _mcap_records(handle: BinaryIO, scan: _Scan) -> Iterator[tuple[int, bytes]]:
    """Top-level records and the records inside chunks, in file order; stops at damage."""
    if handle.read(8) != _MCAP_MAGIC:
        raise BagError("not an MCAP file (bad magic)")
    while True:
        offset = handle.tell()
        head = handle.read(9)
        if not head:
            scan.stopped_at = offset
            return
        try:
            if len(head) < 9:
                raise EOFError
            opcode, length = struct.unpack("<BQ", head)
            body = _read(handle, length)
        except EOFError:
            scan.stopped_at = offset
            return
        if opcode == 0x06:
            try:
                inner = BytesIO(_chunk_records(BytesIO(body)))
            except EOFError:
                scan.stopped_at = offset
                return
            while head := inner.read(9):
                sub_op, sub_len = struct.unpack("<BQ", head)
                yield sub_op, inner.read(sub_len)
        elif opcode in (0x02, 0x0F):  # footer, data end: the data section is complete
            return
        else:
            yield opcode, body


def _mcap_scan(path: Path, scan: _Scan, want: set[int] | None) -> Iterator[tuple[int, int, bytes]]:
    """Fill ``scan`` with schemas/channels/counts; yield (channel, log time, data) of ``want``."""
    scan.size = path.stat().st_size
    with path.open("rb") as handle:
        for opcode, body in _mcap_records(handle, scan):
            stream = BytesIO(body)
            try:
                if opcode == 0x03:
                    schema_id = struct.unpack("<H", _read(stream, 2))[0]
                    name, _encoding = _string(stream), _string(stream)
                    (length,) = struct.unpack("<I", _read(stream, 4))
                    scan.schemas[schema_id] = (name, _read(stream, length).decode("utf-8"))
                elif opcode == 0x04:
                    channel_id, schema_id = struct.unpack("<HH", _read(stream, 4))
                    topic, encoding = _string(stream), _string(stream)
                    scan.channels[channel_id] = (topic, schema_id, encoding, _string_map(stream))
                elif opcode == 0x05:
                    channel_id, _seq, log_time, _pub = struct.unpack("<HIQQ", _read(stream, 22))
                    scan.counts[channel_id] = scan.counts.get(channel_id, 0) + 1
                    scan.start_ns = min(scan.start_ns or log_time, log_time)
                    scan.end_ns = max(scan.end_ns, log_time)
                    if want is None or channel_id in want:
                        yield channel_id, log_time, body[22:]
            except EOFError:
                raise BagError(f"{path}: malformed MCAP record (opcode {opcode:#x})") from None


def _qos_from_yaml(text: str) -> list[QosSpec]:
    import yaml

    try:
        entries = yaml.safe_load(text) or []
    except yaml.YAMLError:
        return []
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            out.append(QosSpec(str(entry.get("reliability", "reliable")),
                               str(entry.get("durability", "volatile")),
                               str(entry.get("history", "keep_last")),
                               int(entry.get("depth", 10) or 10)))
    return out


def _metadata(path: Path) -> dict:
    """``rosbag2_bagfile_information`` of a bag folder's metadata.yaml ({} when unreadable)."""
    import yaml

    try:
        text = (path / "metadata.yaml").read_text(encoding="utf-8")
        info = (yaml.safe_load(text) or {}).get("rosbag2_bagfile_information", {})
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    return info if isinstance(info, dict) else {}


class BagReader:
    """A rosbag2 bag opened for reading: topics, counts, times, and its messages as CDR bytes.

    ``path`` is a bag folder, or a single ``.mcap`` file. A folder whose MCAP file cannot be
    opened normally (cut short, or never finalised) is read front to back; :attr:`note` then
    says how far the intact part goes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.note: str | None = None
        self.storage = ""
        self.metadata_version: int | None = None
        self.ros_distro: str | None = None
        self.custom_data: dict[str, str] = {}
        self.topics: dict[str, TopicInfo] = {}
        self.start_ns = self.end_ns = self.message_count = 0
        self._reader: Any = None
        self._mcap: Path | None = None
        self._definitions: dict[str, dict[str, str]] = {}
        if not self.path.exists():
            raise BagError(f"{self.path}: no such file or directory")
        if self.path.is_file():
            if self.path.suffix != ".mcap":
                raise BagError(f"{self.path} is not a bag (a bag folder or an .mcap file)")
            self._open_scan(self.path, "")
        elif (self.path / "metadata.yaml").is_file():
            self._open_rosbags()
        else:
            files = sorted(self.path.glob("*.mcap"))
            if not files:
                kind = "a sqlite3 bag without metadata.yaml (run ros2 bag reindex)" \
                    if any(self.path.glob("*.db3")) else "not a bag (no metadata.yaml)"
                raise BagError(f"{self.path}: {kind}")
            self._open_scan(files[0], "no metadata.yaml (recording not finalised); ")

    # ----- opening ---------------------------------------------------------------------------
    def _open_rosbags(self) -> None:
        from rosbags.rosbag2 import Reader
        from rosbags.rosbag2.errors import ReaderError

        try:
            reader = Reader(self.path)
            reader.open()
        except ReaderError as exc:
            files = sorted(self.path.glob("*.mcap"))
            if files:
                self._open_scan(files[0], f"{exc} ")
                return
            raise BagError(f"{self.path}: not a readable rosbag2 bag ({exc})") from None
        except Exception as exc:  # noqa: BLE001 - malformed YAML or storage from elsewhere
            raise BagError(f"{self.path}: not a readable rosbag2 bag ({exc})") from None
        self._reader = reader
        meta = _metadata(self.path)
        self.storage = meta.get("storage_identifier", "")
        self.metadata_version = meta.get("version")
        self.ros_distro = meta.get("ros_distro")
        self.custom_data = dict(meta.get("custom_data") or {})
        self.start_ns, self.end_ns = reader.start_time, max(reader.end_time - 1, 0)
        self.message_count = reader.message_count
        for conn in reader.connections:
            ext = conn.ext
            info = self.topics.setdefault(conn.topic, TopicInfo(
                conn.topic, conn.msgtype, 0, [], conn.digest,
                getattr(ext, "serialization_format", "cdr"),
            ))
            info.count += conn.msgcount
            info.qos += [_from_rosbags_qos(q) for q in getattr(ext, "offered_qos_profiles", [])]
            if conn.msgdef.data:
                self._definitions[conn.msgtype] = _split_definitions(conn.msgtype,
                                                                     conn.msgdef.data)
        if not self.message_count:
            self.start_ns = self.end_ns = 0

    def _open_scan(self, file: Path, reason: str) -> None:
        scan = _Scan()
        for _ in _mcap_scan(file, scan, want=set()):
            pass
        self._mcap, self.storage = file, "mcap"
        for channel_id, (topic, schema_id, encoding, meta) in scan.channels.items():
            typename, text = scan.schemas.get(schema_id, ("", ""))
            self.topics[topic] = TopicInfo(topic, typename, scan.counts.get(channel_id, 0),
                                           _qos_from_yaml(meta.get("offered_qos_profiles", "")),
                                           "", encoding)
            if text:
                self._definitions[typename] = _split_definitions(typename, text)
        self.message_count = sum(scan.counts.values())
        self.start_ns, self.end_ns = scan.start_ns, scan.end_ns
        complete = scan.stopped_at is None or scan.stopped_at >= scan.size
        if not complete:
            self.note = (f"{reason}{file.name} is cut short: read up to byte {scan.stopped_at} of "
                         f"{scan.size}, {self.message_count} intact messages until "
                         f"{self.end_ns / 1e9:.3f} s; the rest is lost").strip()
        elif reason:
            self.note = f"{reason}read {file.name} front to back".strip()

    # ----- reading ---------------------------------------------------------------------------
    def known_type(self, typename: str) -> bool:
        """Whether messages of ``typename`` can be decoded here (installed or bag definition)."""
        return ensure_type(typename, self._definitions.get(typename))

    def image_topics(self) -> list[str]:
        return sorted(name for name, info in self.topics.items()
                      if info.type in ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"))

    def messages(self, topics: Sequence[str] | None = None) -> Iterator[BagMessage]:
        """Messages of ``topics`` (all when None) in log-time order (file order when scanned)."""
        wanted = set(self.topics) if topics is None else set(topics)
        missing = wanted - set(self.topics)
        if missing:
            raise BagError(f"{self.path} has no topic {', '.join(sorted(missing))} "
                           f"(it has {', '.join(sorted(self.topics)) or 'none'})")
        if self._reader is not None:
            connections = [c for c in self._reader.connections if c.topic in wanted]
            try:
                for conn, stamp, data in self._reader.messages(connections=connections):
                    yield BagMessage(conn.topic, conn.msgtype, stamp, data)
            except Exception as exc:  # noqa: BLE001 - a storage damaged after opening
                raise BagError(f"{self.path}: reading stopped: {exc}") from None
            return
        scan = _Scan()
        assert self._mcap is not None
        for channel_id, log_time, data in _mcap_scan(self._mcap, scan, None):
            topic, schema_id, _, _ = scan.channels.get(channel_id, ("", 0, "", {}))
            if topic in wanted:
                yield BagMessage(topic, scan.schemas.get(schema_id, ("", ""))[0], log_time, data)

    def decode(self, message: BagMessage) -> Any:
        """The ``rosbags`` object of one message (see :func:`deserialize`)."""
        if not self.known_type(message.type):
            raise BagError(f"message type {message.type} is unknown")
        return deserialize(message.data, message.type)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
