"""The setup is idempotent, and the environment file and wrapper put the ROS prefix in place."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest


def _bash(script: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env=env, stdin=subprocess.DEVNULL,
    )


def _clean_env() -> dict[str, str]:
    """The caller's environment without what scripts/env.sh sets."""
    env = dict(os.environ)
    for name in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "LD_LIBRARY_PATH", "VIRTUAL_ENV",
                 "RMW_IMPLEMENTATION", "ROS_DISTRO", "_ROS_WHEELS_BOOTSTRAP_COMPLETE"):
        env.pop(name, None)
    return env


def test_second_setup_run_changes_nothing(repo_root: Path) -> None:
    if not (repo_root / ".venv" / ".fairmot_ros" / "deps.sha").is_file():
        pytest.skip("make setup has not been run in this checkout")
    result = _bash("scripts/setup", repo_root, timeout=600)
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stderr.splitlines() if line.startswith("[setup]")]
    assert any("python dependencies: up to date" in line for line in steps), steps
    assert any("fairmot_ros_msgs: up to date" in line for line in steps), steps
    assert any(re.search(r"vision_msgs: (up to date|using the installed)", s) for s in steps)
    assert not any("building" in line or "installing" in line for line in steps), steps


def test_env_sh_is_idempotent_and_sets_ros_variables(repo_root: Path) -> None:
    venv = repo_root / ".venv"
    result = _bash(
        "source scripts/env.sh && source scripts/env.sh && "
        'printf "%s\\n" "$AMENT_PREFIX_PATH" "$LD_LIBRARY_PATH" "$RMW_IMPLEMENTATION" '
        '"$VIRTUAL_ENV" "$(command -v python)" "$FAIRMOT_ROS_ROOT"',
        repo_root, env=_clean_env(),
    )
    assert result.returncode == 0, result.stderr
    ament, ld_path, rmw, virtual_env, python, root = result.stdout.splitlines()
    assert ament.split(":").count(str(venv)) == 1
    assert ld_path.split(":")[0] == str(venv / "lib")
    assert rmw == "rmw_fastrtps_cpp"
    assert virtual_env == str(venv)
    assert python == str(venv / "bin" / "python")
    assert root == str(repo_root)


def test_env_sh_keeps_prefixes_already_sourced(repo_root: Path, tmp_path: Path) -> None:
    env = _clean_env()
    env["AMENT_PREFIX_PATH"] = str(tmp_path)
    result = _bash('source scripts/env.sh && echo "$AMENT_PREFIX_PATH"', repo_root, env=env)
    assert result.stdout.strip() == f"{repo_root / '.venv'}:{tmp_path}"


def test_wrapper_fails_clearly_without_environment(repo_root: Path, tmp_path: Path) -> None:
    env = _clean_env()
    env["FAIRMOT_ROS_VENV"] = str(tmp_path / "missing")
    result = _bash("scripts/ros-env true", repo_root, env=env)
    assert result.returncode != 0
    assert "make setup" in result.stderr


def test_wrapper_runs_command_with_its_arguments(repo_root: Path) -> None:
    result = _bash("scripts/ros-env python -c 'import sys; print(sys.argv[1:])' a 'b c'",
                   repo_root, env=_clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['a', 'b c']"


def test_ci_runs_the_readme_test_command(repo_root: Path) -> None:
    ci = repo_root / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    lines = [line.strip() for line in ci.read_text().splitlines()]
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    commands = [line for line in lines if line and not line.startswith(("#", "set ", "cd ",
                                                                         "export "))]
    assert commands == ["make test </dev/null"]
    readme = (repo_root / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make test" in quick_start and "make demo" in quick_start


def test_make_help_lists_the_commands(repo_root: Path) -> None:
    result = _bash("make --no-print-directory help", repo_root)
    assert result.returncode == 0, result.stderr
    targets = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"setup", "test", "demo"} <= targets
