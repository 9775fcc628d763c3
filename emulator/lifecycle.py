"""Start, stop and report on the embedded backend's two processes.

`api` serves the AWS APIs (MiniStack plus TTL and Firehose buffering); `dataplane` runs the
event source mappings. Each is a detached process with a pid file and a log in the state folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.settings import EmulatorSettings

COMPONENTS = ("api", "dataplane")
START_DEADLINE_SECONDS = 60
STOP_DEADLINE_SECONDS = 20

Progress = Callable[[str], None]


class EmulatorError(Exception):
    """A problem to report in one line (port taken, unusable state folder, failed start)."""


@dataclass(frozen=True)
class Paths:
    root: Path

    def pid_file(self, component: str) -> Path:
        return self.root / "run" / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    def ready_file(self, component: str) -> Path:
        return self.root / "run" / f"{component}.ready"

    def status_file(self, component: str) -> Path:
        """What a running component reports about itself (the data plane: refreshes, mappings)."""
        return self.root / "run" / f"{component}.status.json"


def start(settings: EmulatorSettings, progress: Progress = print) -> bool:
    """Start both processes; False when they were already running."""
    paths = Paths(Path(settings.state_dir))
    running = [component for component in COMPONENTS if process_alive(_pid(paths, component))]
    if len(running) == len(COMPONENTS) and _answers(settings):
        progress(f"embedded backend already running on {settings.endpoint}")
        return False
    if running:
        stop(settings, progress=lambda _message: None)
    _check_port_free(settings.port)
    _prepare_state_dir(paths)
    started = time.monotonic()
    _spawn(paths, "api", settings)
    _wait(paths, "api", lambda: _answers(settings), settings)
    _spawn(paths, "dataplane", settings)
    _wait(paths, "dataplane", lambda: paths.ready_file("dataplane").exists(), settings)
    progress(
        f"embedded backend ready on {settings.endpoint} in {time.monotonic() - started:.1f} s (state: {paths.root})"
    )
    return True


def stop(settings: EmulatorSettings, progress: Progress = print) -> None:
    paths = Paths(Path(settings.state_dir))
    stopped = []
    # The data plane first, so it checkpoints before the API it reads from goes away.
    for component in reversed(COMPONENTS):
        pid = _pid(paths, component)
        if pid is not None and process_alive(pid):
            _terminate(pid)
            stopped.append(f"{component} (pid {pid})")
        paths.pid_file(component).unlink(missing_ok=True)
        paths.ready_file(component).unlink(missing_ok=True)
        paths.status_file(component).unlink(missing_ok=True)
    progress(f"stopped {', '.join(stopped)}" if stopped else "embedded backend was not running")


def status(settings: EmulatorSettings) -> dict[str, Any]:
    paths = Paths(Path(settings.state_dir))
    return {
        "endpoint": settings.endpoint,
        "answers": _answers(settings),
        "processes": {
            component: _pid(paths, component) if process_alive(_pid(paths, component)) else None
            for component in COMPONENTS
        },
        "dataplane": dataplane_status(settings),
        "state_dir": str(paths.root),
    }


def dataplane_status(settings: EmulatorSettings) -> dict[str, Any]:
    try:
        report = json.loads(Paths(Path(settings.state_dir)).status_file("dataplane").read_text())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _spawn(paths: Paths, component: str, settings: EmulatorSettings) -> None:
    paths.ready_file(component).unlink(missing_ok=True)
    # Every setting from `settings`, not the shell's: settings built in code reach the process.
    env = {**os.environ, **settings.environment()}
    # The child keeps its own copy of the log's descriptor; ours closes once it has started.
    with open(paths.log_file(component), "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "emulator", component],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    paths.pid_file(component).write_text(str(process.pid))


def _wait(paths: Paths, component: str, ready: Callable[[], bool], settings: EmulatorSettings) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    pid = _pid(paths, component)
    while time.monotonic() < deadline:
        if ready():
            return
        if not process_alive(pid):
            log = paths.log_file(component)
            raise EmulatorError(f"the {component} process exited during start; last lines of {log}:\n{_tail(log)}")
        time.sleep(0.05)
    stop(settings, progress=lambda _message: None)
    raise EmulatorError(
        f"the {component} process was not ready after {START_DEADLINE_SECONDS} s; see {paths.log_file(component)}"
    )


def _terminate(pid: int) -> None:
    # The whole process group: MiniStack's function workers are children of the API process.
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_DEADLINE_SECONDS
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.05)
    if _group_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise EmulatorError(
                f"port {port} is already in use by another program (LocalStack or another emulator?): "
                f"stop it, or choose another port with EMULATOR_PORT=<port>"
            )


def _prepare_state_dir(paths: Paths) -> None:
    try:
        for folder in ("run", "logs"):
            (paths.root / folder).mkdir(parents=True, exist_ok=True)
        probe = paths.root / "run" / ".writable"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise EmulatorError(f"the state folder {paths.root} is not usable: {error.strerror or error}") from None


def _answers(settings: EmulatorSettings) -> bool:
    try:
        with urllib.request.urlopen(f"{settings.endpoint}/_ministack/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _pid(paths: Paths, component: str) -> int | None:
    try:
        return int(paths.pid_file(component).read_text().strip())
    except (OSError, ValueError):
        return None


def free_port() -> int:
    """A loopback port nothing listens on now, for a backend of its own (tests, benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ..., utime at
    index 11, stime at 12), or None when the process is gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return process_alive(pgid) or _group_has_live_members(pgid)


def _group_has_live_members(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields and fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


def _is_zombie(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[:1] == ["Z"]


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
