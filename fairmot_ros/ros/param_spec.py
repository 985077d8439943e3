"""One node parameter's declaration: name, type, default, description, range, mutability.

Kept apart from the tables (:mod:`fairmot_ros.ros.parameters`,
:mod:`fairmot_ros.ros.spatial_parameters`) so that each table can be written with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ParamSpec", "format_value"]


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter.

    ``kind`` is the Python type of the value (``list`` means a string array, ``tuple`` a
    double array, whose default is a tuple of floats). ``low``/``high``
    become the ROS descriptor's range (inclusive, as ROS defines it); finer rules such as
    "strictly positive" are left to the validation, which gives the reason.
    """

    name: str
    kind: type
    default: Any
    description: str
    read_only: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def constraints(self) -> str:
        """Human-readable constraints, shown in doc/parameters.md and ``ros2 param describe``."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        if self.low is not None and self.high is not None:
            parts.append(f"[{format_value(self.low)}, {format_value(self.high)}]")
        if self.read_only:
            parts.append("read-only: restart to change")
        return "; ".join(parts)

    def descriptor(self) -> Any:
        """The ``rcl_interfaces/ParameterDescriptor`` for ``declare_parameter``."""
        from rcl_interfaces.msg import (
            FloatingPointRange,
            IntegerRange,
            ParameterDescriptor,
            ParameterType,
        )

        types = {
            bool: ParameterType.PARAMETER_BOOL,
            int: ParameterType.PARAMETER_INTEGER,
            float: ParameterType.PARAMETER_DOUBLE,
            str: ParameterType.PARAMETER_STRING,
            list: ParameterType.PARAMETER_STRING_ARRAY,
            tuple: ParameterType.PARAMETER_DOUBLE_ARRAY,
        }
        descriptor = ParameterDescriptor(
            name=self.name,
            type=types[self.kind],
            description=self.description,
            additional_constraints=self.constraints,
            read_only=self.read_only,
        )
        if self.low is not None and self.high is not None:
            if self.kind is int:
                descriptor.integer_range = [
                    IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)
                ]
            elif self.kind is float:
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(self.low), to_value=float(self.high))
                ]
        return descriptor


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
