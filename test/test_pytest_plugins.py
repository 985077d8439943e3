"""The suite starts on machines whose ROS install registers pytest plugins.

launch_testing 3.7 (and launch_testing_ros) register pytest11 entry points that every pytest
run loads; launch_testing's ``pytest_pycollect_makemodule(path, parent)`` is refused by pytest 9
at start-up, before a single test runs. The configuration in setup.cfg blocks them by name. This
test installs a stand-in with the same entry point names and the same refused hook into a
temporary folder on PYTHONPATH and starts pytest with it, with and without that configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_HOOKS = '''
def pytest_pycollect_makemodule(path, parent):
    """launch_testing 3.7's signature: a py.path argument that pytest 9 no longer has."""
    return None
'''


def _install_foreign_plugins(folder: Path) -> None:
    (folder / "foreign_ros_pytest_hooks.py").write_text(_HOOKS)
    dist = folder / "launch_testing-3.7.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: launch_testing\nVersion: 3.7.1\n")
    (dist / "entry_points.txt").write_text(
        "[pytest11]\n"
        "launch_testing = foreign_ros_pytest_hooks\n"
        "launch_ros = foreign_ros_pytest_hooks\n"
    )


def _pytest(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(folder), env.get("PYTHONPATH", "")) if p
    )
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra,
        "test/test_core_imports.py", "--collect-only",
    ]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_suite_starts_with_a_launch_testing_plugin_installed(tmp_path: Path) -> None:
    _install_foreign_plugins(tmp_path)
    # Proof that the stand-in is loaded and breaks a run that does not block it.
    unprotected = _pytest(tmp_path, "-o", "addopts=")
    assert unprotected.returncode != 0
    assert "PluginValidationError" in unprotected.stdout + unprotected.stderr
    protected = _pytest(tmp_path)
    assert protected.returncode == 0, protected.stdout + protected.stderr
    assert "test_core_imports.py" in protected.stdout
