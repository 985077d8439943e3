"""Files generated from the parameter table: doc/parameters.md's table and a defaults YAML.

``python -m fairmot_ros.ros.parameter_files --markdown`` prints the table of
doc/parameters.md, ``--yaml`` a parameters file like ``config/tracker.yaml``; tests keep both
equal to the committed files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from fairmot_ros.ros.parameters import ALL_PARAMETERS, ParamSpec

__all__ = ["markdown_table", "yaml_config"]


def markdown_table(specs: Iterable[ParamSpec] = ALL_PARAMETERS) -> str:
    """The parameter table of doc/parameters.md, generated from the declarations."""
    kinds = {bool: "bool", int: "int", float: "double", str: "string", list: "string[]",
             tuple: "double[]"}
    lines = [
        "| parameter | type | default | constraints | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in specs:
        default = spec.default
        if spec.kind is list:
            shown = "[" + ", ".join(f'"{v}"' for v in default) + "]"
        elif spec.kind is tuple:
            shown = "[" + ", ".join(str(v) for v in default) + "]"
        elif spec.kind is str:
            shown = f'"{default}"'
        elif spec.kind is bool:
            shown = str(default).lower()
        else:
            shown = str(default)  # 30.0, not 30: a double must be written as one
        lines.append(
            f"| `{spec.name}` | {kinds[spec.kind]} | `{shown}` | {spec.constraints} | "
            f"{spec.description} |"
        )
    return "\n".join(lines) + "\n"


def yaml_config(node_key: str = "/**") -> str:
    """A parameters file with every parameter at its default and its description as a comment.

    ``/**`` applies the file to the node whatever its name or namespace (one node per process).
    Empty string arrays are left out: rcl's YAML parser cannot type an empty list, and the
    declared default applies anyway.
    """
    import yaml

    def scalar(value: Any) -> str:
        return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix(
            "\n..."
        )

    lines = [f"{node_key}:", "  ros__parameters:"]
    group = ""
    for spec in ALL_PARAMETERS:
        if spec.kind is list and not spec.default:
            continue
        *parents, leaf = spec.name.split(".")
        prefix = ".".join(parents)
        if prefix != group:
            if prefix:
                lines.append(f"    {prefix}:")
            group = prefix
        indent = "    " + "  " * len(parents)
        note = spec.description + (f" ({spec.constraints})" if spec.constraints else "")
        lines.append(f"{indent}# {note}")
        value = list(spec.default) if spec.kind in (list, tuple) else spec.default
        lines.append(f"{indent}{leaf}: {scalar(value)}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true",
                       help="print the parameter table of doc/parameters.md")
    group.add_argument("--yaml", action="store_true", help="print a defaults parameters file")
    args = parser.parse_args(argv)
    sys.stdout.write(markdown_table() if args.markdown else yaml_config())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
