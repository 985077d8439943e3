"""QoS profiles as rosbag2 keeps them, in every metadata version, and as ``rosbags`` writes them.

rosbag2 stores the offered QoS of each recorded publisher as a YAML list. Metadata versions 4-8
write the policies as numbers (the ``rmw_qos_*_policy_t`` enum values of their time), version 9
as names. Both read into :class:`QosSpec`; values a player cannot use (system default, unknown)
become ``""`` so that the player keeps its own default for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["QosSpec", "qos_from_yaml", "to_rosbags_qos"]

# rmw enum values as metadata versions 4-8 write them (0 system default, 3 unknown, ...).
_RELIABILITY = {1: "reliable", 2: "best_effort"}
_DURABILITY = {1: "transient_local", 2: "volatile"}
_HISTORY = {1: "keep_last", 2: "keep_all"}
_NAMES = {"reliable", "best_effort", "transient_local", "volatile", "keep_last", "keep_all"}
# rosbag2 writes an infinite QoS duration as the largest rmw time: 9223372036 s 854775807 ns.
_INFINITE = (9223372036, 854775807)


@dataclass(frozen=True)
class QosSpec:
    """The QoS of one publisher as rosbag2 keeps it (``offered_qos_profiles``)."""

    reliability: str = "reliable"  # reliable | best_effort
    durability: str = "volatile"  # volatile | transient_local
    history: str = "keep_last"  # keep_last | keep_all
    depth: int = 10


def _policy(value: Any, numbers: dict[int, str], default: str) -> str:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return numbers.get(value, default)
    name = str(value).strip().lower()
    return name if name in _NAMES else default


def qos_from_yaml(value: Any) -> list[QosSpec]:
    """The profiles of a metadata or storage ``offered_qos_profiles`` entry (text or list).

    Unreadable entries give an empty list: the player then uses its defaults, which is what
    ``ros2 bag play`` does for a topic without recorded QoS.
    """
    import yaml

    entries = value
    if isinstance(value, str):
        try:
            entries = yaml.safe_load(value) if value.strip() else []
        except yaml.YAMLError:
            return []
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        depth = entry.get("depth", 10)
        out.append(QosSpec(
            _policy(entry.get("reliability"), _RELIABILITY, "reliable"),
            _policy(entry.get("durability"), _DURABILITY, "volatile"),
            _policy(entry.get("history"), _HISTORY, "keep_last"),
            int(depth) if isinstance(depth, int) and depth > 0 else 10,
        ))
    return out


def to_rosbags_qos(spec: QosSpec) -> Any:
    """The ``rosbags`` form of a profile, for the writer's metadata and storage."""
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
