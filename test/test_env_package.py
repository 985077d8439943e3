"""package.xml, setup.py and setup.cfg follow the ROS 2 (ament_python) conventions.

The import scan keeps package.xml honest: every third-party module the package imports must map
to a dependency key declared there, so `rosdep install` on a robot gives a working node.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

catkin_pkg_package = pytest.importorskip("catkin_pkg.package")

# Import name -> rosdep key (ROS packages are their own keys). A module missing here fails the
# test: add its key to package.xml and a line here.
IMPORT_KEYS = {
    "rclpy": "rclpy",
    "rcl_interfaces": "rcl_interfaces",
    "builtin_interfaces": "builtin_interfaces",
    "std_msgs": "std_msgs",
    "sensor_msgs": "sensor_msgs",
    "geometry_msgs": "geometry_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "std_srvs": "std_srvs",
    "lifecycle_msgs": "lifecycle_msgs",
    "vision_msgs": "vision_msgs",
    "visualization_msgs": "visualization_msgs",
    "tf2_ros": "tf2_ros",
    "fairmot_ros_msgs": "fairmot_ros_msgs",
    "ament_index_python": "ament_index_python",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "numpy": "python3-numpy",
    "cv2": "python3-opencv",
    "yaml": "python3-yaml",
    "scipy": "python3-scipy",
    "lap": "python3-lap-pip",
    "onnxruntime": "python3-onnxruntime-gpu-pip",
    "torch": "python3-torch",
    "onnx": "python3-onnx-pip",
    "onnxscript": "python3-onnxscript-pip",
    "trackeval": "python3-trackeval-pip",
    "rosbags": "python3-rosbags-pip",
    "mcap": "python3-mcap-pip",
    "zstandard": "python3-zstandard-pip",
    "mcap_ros2": "python3-mcap-ros2-support-pip",
    "pytest": "python3-pytest",
    "hypothesis": "python3-hypothesis-pip",
    "catkin_pkg": "python3-catkin-pkg",
}

# Keys checked to exist in ros/rosdistro's rosdep/python.yaml (2026-08 snapshot).
ROSDISTRO_KEYS = {
    "python3-numpy", "python3-opencv", "python3-yaml", "python3-scipy", "python3-pytest",
    "python3-catkin-pkg", "python3-torch", "python3-onnxruntime-pip",
    "python3-onnxruntime-gpu-pip", "python3-rosbags-pip", "python3-ruff-pip",
}

# ROS 2 packages (released in Jazzy/Kilted), plus our own interface package.
ROS_PACKAGES = {
    "rclpy", "rcl_interfaces", "builtin_interfaces", "std_msgs", "sensor_msgs",
    "geometry_msgs", "diagnostic_msgs", "std_srvs", "lifecycle_msgs", "vision_msgs",
    "ament_index_python", "launch", "launch_ros", "fairmot_ros_msgs", "visualization_msgs",
    "tf2_ros",
}

# Offline tools: needed by fairmot-export / fairmot-train / fairmot-eval, never by the node.
# (onnx is the node's too: the engine splits the heads off with it.)
TOOLS_ONLY = {"torch", "onnxscript", "trackeval", "rosbags", "mcap", "zstandard"}

ENTRY_POINTS = {
    "tracker_node": "fairmot_ros.ros.node:main",
    "fairmot-bench": "fairmot_ros.bench.cli:main",
    "fairmot-export": "fairmot_ros.export:main",
    "fairmot-train": "fairmot_ros.training.cli:main",
    "fairmot-eval": "fairmot_ros.evaluation.cli:main",
    "fairmot-demo": "fairmot_ros.replay.demo:main",
    "fairmot-bag": "fairmot_ros.replay.cli:main",
}


def _is_optional(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """An import inside `try: ... except ImportError` degrades gracefully when it is missing."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = ast.unparse(handler.type) if handler.type else ""
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
        child, parent = parent, parents.get(parent)
    return False


def third_party_imports(files: list[Path], local: set[str]) -> dict[str, set[str]]:
    """Top-level modules imported (anywhere, not only at module level) that need installing."""
    found: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if _is_optional(node, parents):
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top == "__future__":
                    continue
                found.setdefault(top, set()).add(str(path))
    return found


@pytest.fixture(scope="module")
def package(repo_root: Path):
    return catkin_pkg_package.parse_package(repo_root / "package.xml")


def _keys(depends, context: dict[str, str] | None = None) -> set[str]:
    if context is None:
        return {d.name for d in depends}
    return {d.name for d in depends if d.evaluate_condition(context)}


def test_package_xml_is_valid_format_3(package, repo_root: Path) -> None:
    package.validate()
    assert package.package_format == 3
    assert package.name == "fairmot_ros"
    assert package.licenses == ["Apache-2.0"]
    assert [e.content for e in package.exports if e.tagname == "build_type"] == ["ament_python"]
    assert (repo_root / "resource" / "fairmot_ros").is_file()
    license_text = (repo_root / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text


def test_versions_agree(package, repo_root: Path) -> None:
    import fairmot_ros

    assert fairmot_ros.__version__ == package.version
    result = subprocess.run(
        [sys.executable, "setup.py", "--version"], cwd=repo_root, capture_output=True,
        text=True, check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == package.version


def test_interface_packages_are_valid(repo_root: Path) -> None:
    for folder, name in (("msg", "fairmot_ros_msgs"), ("interfaces/vision_msgs", "vision_msgs")):
        pkg = catkin_pkg_package.parse_package(repo_root / folder / "package.xml")
        pkg.validate()
        assert pkg.name == name
        assert [g.name for g in pkg.member_of_groups] == ["rosidl_interface_packages"]
        assert "rosidl_default_generators" in _keys(pkg.buildtool_depends)
        cmake = (repo_root / folder / "CMakeLists.txt").read_text()
        assert f"project({name})" in cmake and "rosidl_generate_interfaces" in cmake


def test_every_import_of_the_package_is_declared(package, repo_root: Path) -> None:
    files = sorted((repo_root / "fairmot_ros").rglob("*.py"))
    files += sorted((repo_root / "launch").glob("*.py")) if (repo_root / "launch").is_dir() else []
    imports = third_party_imports(files, local={"fairmot_ros"})
    unknown = sorted(set(imports) - set(IMPORT_KEYS))
    assert not unknown, f"imports with no dependency key: { {m: imports[m] for m in unknown} }"

    # Without FAIRMOT_ROS_TOOLS, rosdep installs what the node needs; with it, the tools too.
    node_exec = _keys(package.exec_depends, {})
    tools_exec = _keys(package.exec_depends, {"FAIRMOT_ROS_TOOLS": "1"})
    for module, users in sorted(imports.items()):
        key = IMPORT_KEYS[module]
        declared = tools_exec if module in TOOLS_ONLY else node_exec
        assert key in declared, f"{module} (used in {sorted(users)}) needs exec_depend {key}"


def test_runtime_code_does_not_import_offline_tools(repo_root: Path) -> None:
    """The node's modules stay free of torch & co., which package.xml declares as tools-only.
    (``bench`` is an offline tool: ``fairmot-bench engine`` exports models with torch.)"""
    runtime = [
        path for path in (repo_root / "fairmot_ros").rglob("*.py")
        if not {"model", "training", "evaluation", "bench"} & set(path.relative_to(repo_root).parts)
        and path.name not in {"export.py"}
    ]
    imports = third_party_imports(runtime, local={"fairmot_ros"})
    assert not set(imports) & {"torch", "onnxscript", "trackeval"}, imports


def test_every_import_of_the_tests_is_declared(package, repo_root: Path) -> None:
    files = sorted((repo_root / "test").rglob("*.py"))
    local = {path.stem for path in files} | {"fairmot_ros"}
    imports = third_party_imports(files, local=local)
    unknown = sorted(set(imports) - set(IMPORT_KEYS))
    assert not unknown, (
        f"tests import {unknown}: neither a file in test/ nor a module with a dependency key "
        "(commit the helper, or declare the package in package.xml and IMPORT_KEYS)"
    )
    declared = _keys(package.test_depends) | _keys(package.exec_depends, {})
    missing = {m: IMPORT_KEYS[m] for m in imports if IMPORT_KEYS[m] not in declared}
    assert not missing, f"add test_depend for {missing}"


def test_dependency_keys_resolve(package, repo_root: Path) -> None:
    """Each key is a ROS package, a rosdistro key, or defined in our rosdep.yaml."""
    own_rules = yaml.safe_load((repo_root / "rosdep.yaml").read_text())
    for key, rule in own_rules.items():
        assert key.endswith("-pip") and rule["ubuntu"]["pip"]["packages"], key
    known = ROS_PACKAGES | ROSDISTRO_KEYS | set(own_rules)
    every = package.exec_depends + package.test_depends + package.buildtool_depends
    unknown = sorted({d.name for d in every} - known)
    assert not unknown, f"keys rosdep cannot resolve: {unknown}"


def test_onnxruntime_switch_in_package_xml(package) -> None:
    keys = {"python3-onnxruntime-gpu-pip", "python3-onnxruntime-pip"}
    assert _keys(package.exec_depends, {}) & keys == {"python3-onnxruntime-gpu-pip"}
    cpu = _keys(package.exec_depends, {"FAIRMOT_ROS_ORT": "cpu"})
    assert cpu & keys == {"python3-onnxruntime-pip"}
    runtime = _keys(package.exec_depends, {})
    assert "python3-torch" not in runtime  # the node never needs torch
    assert "python3-onnx-pip" in runtime  # heads at the peaks read the model with onnx


def test_setup_declares_the_agreed_console_scripts(repo_root: Path) -> None:
    text = (repo_root / "setup.py").read_text()
    declared = dict(re.findall(r'"([\w-]+) = ([\w.]+:\w+)"', text))
    assert declared == ENTRY_POINTS


def test_setup_cfg_installs_scripts_where_ros2_run_looks(repo_root: Path) -> None:
    cfg = configparser.ConfigParser()
    cfg.read(repo_root / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/fairmot_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/fairmot_ros"


def test_setup_py_installs_ament_layout(repo_root: Path) -> None:
    """Dry-run the data_files that `setup.py install` (colcon) would install."""
    code = (
        "import runpy, setuptools, json, sys\n"
        "captured = {}\n"
        "setuptools.setup = lambda **kw: captured.update(kw)\n"
        "runpy.run_path('setup.py', run_name='__main__')\n"
        "print(json.dumps(captured['data_files']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True
    )
    import json

    data_files = {dest: files for dest, files in json.loads(result.stdout)}
    assert data_files["share/ament_index/resource_index/packages"] == ["resource/fairmot_ros"]
    assert data_files["share/fairmot_ros"] == ["package.xml"]
    for folder, suffixes in (("launch", (".py", ".xml", ".yaml")), ("config", (".yaml", ".rviz"))):
        present = sorted(
            str(p.relative_to(repo_root)) for p in (repo_root / folder).glob("*")
            if p.is_file() and p.name.endswith(suffixes)
        ) if (repo_root / folder).is_dir() else []
        assert data_files.get(f"share/fairmot_ros/{folder}", []) == present


def _venv_bin() -> Path:
    return Path(sys.prefix) / "bin"


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not running inside the venv")
@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_console_script_is_installed(name: str) -> None:
    script = _venv_bin() / name
    assert script.is_file() and os.access(script, os.X_OK), f"{script}: run make setup"
    eps = {
        ep.name: ep.value
        for ep in importlib.metadata.distribution("fairmot_ros").entry_points
        if ep.group == "console_scripts"
    }
    assert eps[name] == ENTRY_POINTS[name]
    # The ROS layout inside the venv prefix (lib/<package>/<exe>) points at the same script.
    assert (Path(sys.prefix) / "lib" / "fairmot_ros" / name).resolve() == script.resolve()


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not running inside the venv")
@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_console_script_entry_point_loads(name: str, repo_root: Path) -> None:
    module, _, function = ENTRY_POINTS[name].partition(":")
    source = repo_root / Path(*module.split("."))
    if not (source.with_suffix(".py").is_file() or (source / "__init__.py").is_file()):
        pytest.skip(f"{module} is not written yet")
    # Load the entry point the way the generated script does, in a fresh interpreter.
    code = (
        "import importlib.metadata as m\n"
        f"ep = next(e for e in m.distribution('fairmot_ros').entry_points if e.name == {name!r})\n"
        "assert callable(ep.load())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_only_locations_looks_outside_the_package(repo_root: Path) -> None:
    """Paths outside the installed package (share files, caches, reference data) are found in
    one module, so the package works the same from a colcon install, a wheel or a checkout:
    no other module walks up from its own ``__file__``."""
    walking = re.compile(r"Path\(__file__\)[^\n]*(\.parents\[|\.parent\.parent)")
    offenders = [
        str(path.relative_to(repo_root)) for path in (repo_root / "fairmot_ros").rglob("*.py")
        if path.name != "locations.py" and walking.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders
