"""Message types of bags: definitions, type hashes and CDR (de)serialisation, without ROS.

Definitions come from the installed interface packages (``share/<pkg>/msg/*.msg`` on
``AMENT_PREFIX_PATH``: a ROS install, or the project's environment), then from the definitions
a bag carries. Type hashes come from the ``.json`` type descriptions that rosidl installs beside
the ``.msg`` files, computed by ``rosbags`` where those are absent (the two agree, which a test
checks). Nothing here looks outside the installed packages and the bag itself, so it works the
same from a colcon install, a wheel or a source checkout.
"""

from __future__ import annotations

import json
import os
import re
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

from fairmot_ros.bags.records import BagError
from fairmot_ros.stamps import stamp_to_ns

__all__ = [
    "deserialize",
    "ensure_type",
    "has_header",
    "header_stamp_ns",
    "message_class",
    "message_definition",
    "serialize",
    "split_definitions",
    "type_hash",
    "typestore",
]


@lru_cache(maxsize=1)
def typestore() -> Any:
    """The one ``rosbags`` type store of the process (Kilted's standard types + registered)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _interface_file(typename: str, suffix: str) -> Path | None:
    """``share/<pkg>/msg/<Name><suffix>`` of the first prefix on AMENT_PREFIX_PATH that has it."""
    package, _, name = typename.partition("/msg/")
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(prefix) / "share" / package / "msg" / f"{name}{suffix}"
        if prefix and candidate.is_file():
            return candidate
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


def ensure_type(typename: str, definitions: dict[str, str] | None = None) -> bool:
    """Make ``typename`` (``pkg/msg/Name``) and its dependencies known; False when impossible.

    ``definitions`` maps type names to ``.msg`` texts found in a bag, used when no installed
    definition exists.
    """
    from rosbags.typesys import TypesysError, get_types_from_msg

    store = typestore()
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
        store.register({k: v for k, v in parsed.items() if k not in store.fielddefs})
    return typename in store.fielddefs


def split_definitions(typename: str, text: str) -> dict[str, str]:
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


def message_definition(typename: str) -> str:
    """The ``ros2msg`` text of a known type, as rosbag2 stores it with the topic."""
    if not ensure_type(typename):
        raise BagError(f"message type {typename} is unknown (no .msg definition found)")
    return typestore().generate_msgdef(typename, ros_version=2)[0]


def type_hash(typename: str) -> str:
    """``RIHS01_...`` of a type: rosidl's installed description when present, else computed."""
    path = _interface_file(typename, ".json")
    if path is not None:
        try:
            for entry in json.loads(path.read_text(encoding="utf-8"))["type_hashes"]:
                if entry["type_name"] == typename:
                    return entry["hash_string"]
        except (ValueError, KeyError, TypeError):
            pass
    if not ensure_type(typename):
        raise BagError(f"message type {typename} is unknown (no .msg definition found)")
    return typestore().hash_rihs01(typename)


def message_class(typename: str) -> Any:
    """The ``rosbags`` dataclass of a type, for building messages to :func:`serialize`."""
    if not ensure_type(typename):
        raise BagError(f"message type {typename} is unknown (no .msg definition found)")
    return typestore().types[typename]


def serialize(msg: Any, typename: str) -> bytes:
    """CDR (little endian) bytes of a ``rosbags`` message, as rclpy would publish them."""
    return bytes(typestore().serialize_cdr(msg, typename))


def deserialize(data: bytes | memoryview, typename: str) -> Any:
    """A ``rosbags`` message object from CDR bytes; BagError when they do not decode."""
    if not ensure_type(typename):
        raise BagError(f"message type {typename} is unknown (no .msg definition found)")
    try:
        return typestore().deserialize_cdr(data, typename)
    except Exception as exc:  # noqa: BLE001 - any decoding failure of foreign bytes
        raise BagError(f"a {typename} message does not decode: {exc}") from None


def has_header(typename: str) -> bool:
    """Whether the type starts with a ``std_msgs/Header`` (its stamp can be read cheaply)."""
    if not ensure_type(typename):
        return False
    fields = typestore().fielddefs[typename][1]
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
    return stamp_to_ns(sec, nanosec)
