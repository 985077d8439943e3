"""colcon builds the repository the way a ROS 2 workspace does (doc/install.md, "Building with
colcon").

A workspace whose src/ links to this checkout is built with the exact command of that page:
the interface package from msg/ and the ament_python package, each into install/<package>.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="rclpy is not importable: run through scripts/ros-env")
if shutil.which("colcon") is None:
    pytest.skip("colcon is not installed (make setup installs it)", allow_module_level=True)

pytestmark = pytest.mark.slow

CLIS = ("fairmot-export", "fairmot-eval", "fairmot-train")


@pytest.fixture(scope="module")
def workspace(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("colcon_ws")
    (ws / "src").mkdir()
    (ws / "src" / "fairmot_ros").symlink_to(repo_root)
    build = (
        "colcon build --base-paths src/fairmot_ros src/fairmot_ros/msg --parallel-workers 1"
        ' --cmake-args -DPython3_EXECUTABLE="$VIRTUAL_ENV/bin/python" -DBUILD_TESTING=OFF'
        ' -DCMAKE_PROJECT_INCLUDE="$FAIRMOT_ROS_ROOT/cmake/ros_wheels_fixup.cmake"'
    )
    result = subprocess.run(
        ["bash", "-c", f"source {repo_root}/scripts/env.sh && {build}"],
        cwd=ws, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return ws


def _in_workspace(ws: Path, repo_root: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"source {repo_root}/scripts/env.sh && source install/setup.bash && "
         f"{command}"],
        cwd=ws, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )


def test_install_layout(workspace: Path, repo_root: Path) -> None:
    pkg = workspace / "install" / "fairmot_ros"
    for name in ("tracker_node", *CLIS):
        assert (pkg / "lib" / "fairmot_ros" / name).is_file(), name
    share = pkg / "share" / "fairmot_ros"
    assert (share / "package.xml").read_text() == (repo_root / "package.xml").read_text()
    assert (pkg / "share" / "ament_index" / "resource_index" / "packages" / "fairmot_ros").exists()
    # The patterns setup.py installs.
    patterns = {"launch": ("*.launch.py", "*.launch.xml", "*.launch.yaml"),
                "config": ("*.yaml", "*.rviz"), "cmake": ("*.cmake",)}
    for folder, globs in patterns.items():
        expected = sorted({p.name for g in globs for p in (repo_root / folder).glob(g)})
        installed = sorted(p.name for p in (share / folder).iterdir()) if expected else []
        assert installed == expected, folder
    msgs = workspace / "install" / "fairmot_ros_msgs" / "share" / "fairmot_ros_msgs" / "msg"
    assert {"Track.msg", "TrackArray.msg"} <= {p.name for p in msgs.iterdir()}


def test_packages_import_from_the_workspace(workspace: Path, repo_root: Path) -> None:
    result = _in_workspace(
        workspace, repo_root,
        "python -c 'import fairmot_ros, fairmot_ros_msgs.msg; "
        "from ament_index_python.packages import get_package_share_directory as share; "
        "print(fairmot_ros.__file__); print(fairmot_ros_msgs.msg.__file__); "
        "print(share(\"fairmot_ros\"))'",
    )
    assert result.returncode == 0, result.stderr
    install = str(workspace / "install")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(install) for line in lines), lines


def test_console_script_runs_from_install(workspace: Path, repo_root: Path) -> None:
    written = [
        name for name in CLIS
        if (repo_root / "fairmot_ros" / {"fairmot-export": "export.py",
                                         "fairmot-eval": "evaluation/cli.py",
                                         "fairmot-train": "training/cli.py"}[name]).is_file()
    ]
    if not written:
        pytest.skip("no command-line tool is written yet")
    script = workspace / "install" / "fairmot_ros" / "lib" / "fairmot_ros" / written[0]
    result = _in_workspace(workspace, repo_root, f"{script} --help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage" in result.stdout.lower()
    # The workspace's scripts run the interpreter colcon ran with (the venv's).
    assert script.read_text().splitlines()[0].startswith("#!" + str(repo_root / ".venv"))


def test_bags_work_from_the_install_alone(workspace: Path, repo_root: Path) -> None:
    """The bag tools find message definitions and hashes in the installed interface packages,
    never in the source tree: a bag of our own and vision_msgs types is written and read back
    from the workspace, with the checkout out of sight."""
    script = (
        "import sys\n"
        "import fairmot_ros.bags as b\n"
        "from fairmot_ros_msgs.msg import TrackArray\n"
        "from rclpy.serialization import serialize_message\n"
        "from vision_msgs.msg import Detection2DArray\n"
        "assert b.__file__.startswith(sys.argv[1]), b.__file__\n"
        "messages = {'fairmot_ros_msgs/msg/TrackArray': TrackArray(),\n"
        "            'vision_msgs/msg/Detection2DArray': Detection2DArray()}\n"
        "with b.BagWriter('bag') as w:\n"
        "    for i, (t, m) in enumerate(messages.items()):\n"
        "        w.add_topic(f'/t{i}', t)\n"
        "        w.write(f'/t{i}', 1, serialize_message(m))\n"
        "with b.BagReader('bag') as r:\n"
        "    print(sorted((i.type, i.count, i.type_hash[:7]) for i in r.topics.values()))\n"
    )
    (workspace / "check_bags.py").write_text(script)
    result = _in_workspace(workspace, repo_root,
                           f"cd {workspace} && python check_bags.py {workspace / 'install'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(sorted((t, 1, "RIHS01_") for t in (
        "fairmot_ros_msgs/msg/TrackArray", "vision_msgs/msg/Detection2DArray")))
