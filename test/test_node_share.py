"""The package's share folder as ROS tools search it (``ros2 launch fairmot_ros X``).

ros2launch finds a launch file by name with ``os.walk`` over the package's share directory,
which does not descend into directory symlinks: a linked ``launch/`` folder makes the file
invisible although the path exists. The search here is ros2launch's own function where it is
installed and the same walk otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _share_directory() -> str:
    index = pytest.importorskip("ament_index_python.packages")
    try:
        return index.get_package_share_directory("fairmot_ros")
    except index.PackageNotFoundError:
        pytest.skip("fairmot_ros is not in the ament index (run make setup or a colcon build)")


def _find_in_share(file_name: str) -> list[str]:
    """Every path ros2launch would consider for ``ros2 launch fairmot_ros <file_name>``."""
    try:
        from ros2launch.api import MultipleLaunchFilesError, get_share_file_path_from_package
    except ImportError:
        matches = []
        for root, _dirs, files in os.walk(_share_directory()):
            matches += [os.path.join(root, name) for name in files if name == file_name]
        return matches
    try:
        return [get_share_file_path_from_package(package_name="fairmot_ros", file_name=file_name)]
    except FileNotFoundError:
        return []
    except MultipleLaunchFilesError as exc:
        return list(exc.paths)


@pytest.mark.parametrize(
    "relative", ["launch/tracker.launch.py", "config/tracker.yaml", "config/tracker.rviz"]
)
def test_installed_files_are_found_by_the_ros2launch_search(relative: str) -> None:
    _share_directory()
    matches = _find_in_share(Path(relative).name)
    assert len(matches) == 1, f"{relative}: found {matches} in {_share_directory()}"
    assert Path(matches[0]).read_bytes() == (REPO / relative).read_bytes()


def test_share_directory_has_no_directory_symlinks() -> None:
    for root, dirs, _files in os.walk(_share_directory()):
        linked = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        assert not linked, f"directory symlinks in {root}: {linked} (os.walk skips them)"


def test_reference_data_can_live_anywhere(tmp_path: Path) -> None:
    """``FAIRMOT_ROS_DATA`` moves the reference data (an installed copy on a robot); unset, a
    checkout reads ``../shared/data`` beside itself."""
    import subprocess
    import sys

    probe = "from fairmot_ros.sequences import PETS_GT_PATH; print(PETS_GT_PATH)"
    env = {**os.environ, "FAIRMOT_ROS_DATA": str(tmp_path)}
    moved = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                           text=True, check=True, cwd=tmp_path).stdout.strip()  # fmt: skip
    assert moved == str(tmp_path.resolve() / "pets09-s2l1" / "gt.txt")
    env.pop("FAIRMOT_ROS_DATA")
    beside = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                            text=True, check=True, cwd=tmp_path).stdout.strip()  # fmt: skip
    assert beside == str(REPO.parent / "shared" / "data" / "pets09-s2l1" / "gt.txt")
