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

from emulator import state_files
from emulator.settings import EmulatorSettings

COMPONENTS = ("api", "dataplane")
# The API process's report on what it could not make durable (emulator.api_server.Durability).
DURABILITY_PATH = "/_emulator/durability"
START_DEADLINE_SECONDS = 60
STOP_PROGRESS_EVERY_SECONDS = 5
# The data plane writes its status every second; this long without one, something is wrong.
DATAPLANE_SILENT_SECONDS = 10
# What a process killed while stopping may have left undone.
KILLED_WHILE_STOPPING = {
    "api": "its state may not be saved",
    "dataplane": "its last checkpoints may not be saved: the next start delivers those batches again",
}

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
    _check_state_files(paths, progress)
    started = time.monotonic()
    _spawn(paths, "api", settings)
    _wait(paths, "api", lambda: _answers(settings), settings)
    _back_up_state_files(paths, settings, progress)
    _spawn(paths, "dataplane", settings)
    _wait(paths, "dataplane", lambda: paths.ready_file("dataplane").exists(), settings)
    progress(
        f"embedded backend ready on {settings.endpoint} in {time.monotonic() - started:.1f} s (state: {paths.root})"
    )
    return True


def stop(settings: EmulatorSettings, progress: Progress = print) -> None:
    """Raises EmulatorError, once both are stopped, when a process had to be killed or the API
    reports that it could not save a service."""
    paths = Paths(Path(settings.state_dir))
    stopped = []
    failures = []
    # The data plane first, so it checkpoints before the API it reads from goes away.
    for component in reversed(COMPONENTS):
        pid = _pid(paths, component)
        if pid is not None and process_alive(pid):
            if component == "api":
                state_files.shutdown_report_path(paths.root).unlink(missing_ok=True)
            killed = _terminate(pid, component, settings, progress)
            stopped.append(f"{component} (pid {pid})")
            if killed:
                failures.append(killed)
            elif component == "api":
                failure, warning = state_files.save_outcome(paths.root)
                failures += [failure] if failure else []
                if warning:
                    progress(f"warning: {warning}")
        paths.pid_file(component).unlink(missing_ok=True)
        paths.ready_file(component).unlink(missing_ok=True)
        paths.status_file(component).unlink(missing_ok=True)
    state_files.remove_scratch(paths.root)
    progress(f"stopped {', '.join(stopped)}" if stopped else "embedded backend was not running")
    if failures:
        raise EmulatorError("; ".join(failures))


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


def health_problems(settings: EmulatorSettings) -> list[str]:
    """What is wrong with a running backend, one line each: writes the API process cannot make
    durable (a full disk, a failed journal write or checkpoint), a data plane that died or stopped
    reporting, and the problems it reports (unreadable or unwritable checkpoints)."""
    paths = Paths(Path(settings.state_dir))
    if not process_alive(_pid(paths, "api")):
        return []
    return durability_problems(settings) + _dataplane_problems(settings, paths)


def durability_problems(settings: EmulatorSettings) -> list[str]:
    """The API process's durability report (GET /_emulator/durability) as problem lines."""
    log = state_files.shown(Paths(Path(settings.state_dir)).log_file("api"))
    try:
        with urllib.request.urlopen(f"{settings.endpoint}{DURABILITY_PATH}", timeout=5) as response:
            report = json.loads(response.read())
    except (OSError, ValueError) as error:
        return [f"the API process did not give its durability report ({error}): see {log}"]
    problems = []
    if not report.get("ok", True):
        since = time.strftime("%H:%M:%S", time.localtime(float(report.get("since") or time.time())))
        problems.append(
            f"WRITES REFUSED since {since}: {report.get('error')}: requests that change state get 503 "
            f"until this is fixed (free disk space; after a failed write, make down and make up); see {log}"
        )
    if report.get("last_checkpoint_error"):
        problems.append(
            f"the last checkpoint failed ({report['last_checkpoint_error']}): the journal grows until one "
            f"succeeds; see {log}"
        )
    return problems


def _dataplane_problems(settings: EmulatorSettings, paths: Paths) -> list[str]:
    log = state_files.shown(paths.log_file("dataplane"))
    if not process_alive(_pid(paths, "dataplane")):
        return [f"the data plane is not running: no mapping delivers anything (see {log}; make down, then make up)"]
    reported = dataplane_status(settings)
    silent_for = time.time() - float(reported.get("at", time.time()))
    stale = [f"the data plane has not reported for {silent_for:.0f} s (a full disk?): see {log}"]
    problems: list[str] = reported.get("problems", [])
    return (stale if silent_for > DATAPLANE_SILENT_SECONDS else []) + problems


def _spawn(paths: Paths, component: str, settings: EmulatorSettings) -> None:
    paths.ready_file(component).unlink(missing_ok=True)
    # Every setting from `settings`, not the shell's: settings built in code reach the process.
    # Function workers unpack their code under TMPDIR: inside the state folder, removed at stop.
    env = {**os.environ, **settings.environment(), "TMPDIR": str(state_files.scratch_dir(paths.root))}
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


def _terminate(pid: int, component: str, settings: EmulatorSettings, progress: Callable[[str], object]) -> str | None:
    """SIGTERM to the process group, then wait as long as it works: a save of hundreds of MB takes
    a while, and killing it loses the state. SIGKILL only once it has neither used CPU nor
    written for STOP_STALL_SECONDS, or at STOP_LIMIT_SECONDS; then returns why, in one line."""
    # The whole process group: MiniStack's function workers are children of the API process.
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    started = last_change = time.monotonic()
    first = activity = _group_activity(pid)
    next_progress = started + STOP_PROGRESS_EVERY_SECONDS
    while _group_alive(pid):
        now = time.monotonic()
        current = _group_activity(pid)
        if current != activity or current.waiting_on_disk:
            activity, last_change = current, now
        if now - started >= settings.stop_limit_seconds:
            reason = f"was still stopping after {settings.stop_limit_seconds:g} s (STOP_LIMIT_SECONDS)"
            break
        if now - last_change >= settings.stop_stall_seconds:
            reason = f"did nothing for {settings.stop_stall_seconds:g} s while stopping (STOP_STALL_SECONDS)"
            break
        if now >= next_progress:
            written = (current.written_bytes - first.written_bytes) / 1e6
            progress(f"waiting for the {component} process to stop: {now - started:.0f} s, {written:.0f} MB written")
            next_progress += STOP_PROGRESS_EVERY_SECONDS
        time.sleep(0.05)
    else:
        _reap(pid)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return f"the {component} process {reason} and was killed: {KILLED_WHILE_STOPPING[component]}"


@dataclass(frozen=True)
class Activity:
    """What a process group has done so far: CPU clock ticks, bytes written (to files, pipes and
    sockets), and whether a member is waiting on the disk right now."""

    cpu_ticks: int
    written_bytes: int
    waiting_on_disk: bool


def _group_activity(pgid: int) -> Activity:
    cpu_ticks = written = 0
    waiting_on_disk = False
    for pid, fields in _group_members(pgid):
        cpu_ticks += int(fields[11]) + int(fields[12])
        written += _written_bytes(pid)
        waiting_on_disk = waiting_on_disk or fields[0] == "D"
    return Activity(cpu_ticks, written, waiting_on_disk)


def _written_bytes(pid: int) -> int:
    try:
        for line in (Path("/proc") / str(pid) / "io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _check_state_files(paths: Paths, progress: Callable[[str], object]) -> None:
    """Before MiniStack reads anything: see emulator.state_files."""
    for warning in state_files.remove_interrupted_saves(paths.root):
        progress(f"warning: {warning}")
    problem = state_files.first_unreadable(paths.root)
    if problem:
        raise EmulatorError(problem)
    # Left by an API process that was killed; TMPDIR must exist, or Python falls back to /tmp.
    state_files.remove_scratch(paths.root)
    state_files.scratch_dir(paths.root).mkdir()


def _back_up_state_files(paths: Paths, settings: EmulatorSettings, progress: Callable[[str], object]) -> None:
    try:
        state_files.back_up(paths.root, settings.state_backups)
    except OSError as error:
        progress(f"warning: no backup of the state files taken ({error.strerror or error})")


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
    return bool(_group_members(pgid))


def _group_members(pgid: int) -> list[tuple[int, list[str]]]:
    """(pid, /proc stat fields) of each live process of the group."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append((int(entry.name), fields))
    return members


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
