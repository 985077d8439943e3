"""No import cycle among the package's modules, counting imports inside functions too.

A lazy import inside a function hides a cycle from the interpreter until the function runs (and
then it may not: the module is half-initialised only at start-up), so the graph here is built
from the source: every ``import fairmot_ros...`` and ``from fairmot_ros... import ...`` anywhere
in a module, top level or in a function, is an edge to the module it names (a submodule where
the imported name is one, else the package or module itself).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "fairmot_ros"


def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> source file of every module of the package (packages by __init__.py)."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                base = name.split(".")[: None if path.name == "__init__.py" else -1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in modules else module)
    return {target for target in found if target in modules and target != name}


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = _modules(root)
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None (iterative DFS)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path, on_path = [start], {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            target = next(stack[-1], None)
            if target is None:  # every import of path[-1] explored: no cycle through it
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
            elif target in on_path:
                return [*path[path.index(target) :], target]
            elif target not in done:
                path.append(target)
                on_path.add(target)
                stack.append(iter(sorted(graph[target])))
    return None


def test_the_graph_sees_top_level_and_function_level_imports(repo_root):
    graph = import_graph(repo_root)
    assert "fairmot_ros.replay.frames" in graph["fairmot_ros.replay.eval"]  # top level
    assert "fairmot_ros.replay.eval" in graph["fairmot_ros.replay.cli"]  # inside cmd_eval
    assert "fairmot_ros.ros.image_codec" in graph["fairmot_ros.ros.runtime"]


def test_find_cycle_reports_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_among_the_package_modules(repo_root):
    cycle = find_cycle(import_graph(repo_root))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
