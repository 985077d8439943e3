"""``tracker_node`` as a child process, started the way a user starts it.

A replay through the node (the demo, the replay tests, the benchmark) must exercise the
shipped executable, its parameters file and its start-up path, not an in-process copy of the
node: so the node runs as its console script with
``--ros-args --params-file config/tracker.yaml`` plus a few ``-p`` overrides, in its own ROS
domain, with its output in a log file that is kept next to the demo's results.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fairmot_ros.locations import share_file

__all__ = ["ReplayError", "TrackerNodeProcess", "params_file_path", "tracker_node_command"]

STARTED_MARKER = "tracking with "


class ReplayError(RuntimeError):
    """A replay cannot go on (node failed to start or died, nothing subscribed, input
    missing); the message says why."""


def tracker_node_command() -> list[str]:
    """The ``tracker_node`` console script (PATH, then beside this interpreter), else ``-m``."""
    found = shutil.which("tracker_node")
    if found:
        return [found]
    beside = Path(sys.executable).with_name("tracker_node")
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-m", "fairmot_ros.ros.node"]


def params_file_path() -> Path:
    """The package's ``config/tracker.yaml`` (see :func:`fairmot_ros.locations.share_file`)."""
    try:
        return share_file("config/tracker.yaml")
    except FileNotFoundError as exc:
        raise ReplayError(str(exc)) from None


class TrackerNodeProcess:
    """One ``tracker_node`` process; :meth:`stop` ends it with SIGINT (SIGKILL if it hangs)."""

    def __init__(
        self,
        params: Sequence[str],
        domain_id: int,
        namespace: str,
        log_path: Path,
        params_file: Path | None = None,
    ) -> None:
        self.command = [*tracker_node_command(), "--ros-args",
                        "--params-file", str(params_file or params_file_path())]
        if namespace.strip("/"):
            self.command += ["-r", f"__ns:=/{namespace.strip('/')}"]
        for param in params:
            self.command += ["-p", param]
        self.log_path = log_path
        self.env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED="1")
        self.process: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self._log = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def log_text(self) -> str:
        if self._log is not None and not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def failure(self, what: str) -> ReplayError:
        """A :class:`ReplayError` carrying the end of the node's log."""
        tail = "\n".join(self.log_text().splitlines()[-20:])
        state = "running" if self.alive() else f"exited with {self.process.returncode}"
        return ReplayError(f"{what} (tracker_node {state}); its log {self.log_path} ends:\n{tail}")

    def wait_until_started(self, timeout: float) -> str:
        """Wait for the node's start-up line and return it (model, provider, topics)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_text().splitlines():
                if STARTED_MARKER in line:
                    return line[line.index(STARTED_MARKER):]
            if not self.alive():
                raise self.failure("tracker_node did not start")
            time.sleep(0.1)
        raise self.failure(f"tracker_node gave no start-up line within {timeout:.0f} s")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGINT (a clean shutdown, exit status 0 expected), SIGKILL after ``timeout``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.exit_code = self.process.returncode
        if self._log is not None:
            self._log.close()
        return self.exit_code
