"""The core runs without ROS and without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CORE_MODULES = [
    "fairmot_ros.contract",
    "fairmot_ros.image_bytes",
    "fairmot_ros.preprocess",
    "fairmot_ros.stamps",
    "fairmot_ros.decode",
    "fairmot_ros.engine",
    "fairmot_ros.detector",
    "fairmot_ros.tracking",
    "fairmot_ros.tracking.config",
    "fairmot_ros.tracking.kalman",
    "fairmot_ros.tracking.matching",
    "fairmot_ros.tracking.track",
    "fairmot_ros.tracking.tracker",
    "fairmot_ros.tracking.filters",
    "fairmot_ros.tracking.timebase",
    "fairmot_ros.tracking.synthetic",
    "fairmot_ros.spatial.stage",
    "fairmot_ros.spatial.calibration",
    "fairmot_ros.spatial.pairing",
    "fairmot_ros.evaluation.people3d",
    "fairmot_ros.bench.cli",
    "fairmot_ros.bench.common",
    "fairmot_ros.bench.tracker",
    "fairmot_ros.bench.pipeline",
    "fairmot_ros.bench.soak",
]

BLOCKED = ["rclpy", "sensor_msgs", "vision_msgs", "std_msgs", "builtin_interfaces",
           "fairmot_ros_msgs", "torch"]  # fmt: skip


def test_core_imports_with_ros_and_torch_blocked(repo_root):
    script = textwrap.dedent(
        f"""
        import importlib, importlib.abc, sys

        BLOCKED = {BLOCKED!r}

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked in this test")
                return None

        sys.meta_path.insert(0, Blocker())
        for module in {CORE_MODULES!r}:
            importlib.import_module(module)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True,
        env={"PYTHONPATH": str(repo_root), "PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
