"""`make up` / `make down` / `make clean`: run the whole stack on this machine.

BACKEND=auto picks LocalStack under Docker Compose when a Docker engine answers, else the
embedded backend; the choice is remembered in the state folder so `down` stops what `up` started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from bootstrap.config import StackConfig


class Backend(StrEnum):
    """`auto` is LocalStack when a Docker engine answers, else the embedded backend."""

    AUTO = "auto"
    EMBEDDED = "embedded"
    LOCALSTACK = "localstack"


class StackError(Exception):
    """Reported in one line by the CLI."""


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_backend(requested: Backend) -> Backend:
    if requested == Backend.AUTO:
        return Backend.LOCALSTACK if docker_engine_answers() else Backend.EMBEDDED
    if requested == Backend.LOCALSTACK and not docker_engine_answers():
        raise StackError("BACKEND=localstack needs a running Docker engine; none answers here (use BACKEND=embedded)")
    return requested


def up(config: StackConfig, requested_backend: Backend, simulator_rate: float, deploy: Callable[[], None]) -> Backend:
    state = Path(config.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    backend = choose_backend(requested_backend)
    running = _backend_file(state).read_text().strip() if _backend_file(state).exists() else None
    if running and running != backend:
        raise StackError(f"the {running} backend is running: `make down` first")
    if backend == Backend.LOCALSTACK:
        _compose("up", "-d", "--wait")
        _backend_file(state).write_text(backend)
        print("LocalStack, the bootstrap and the simulator run under Docker Compose")
        return backend
    from emulator.lifecycle import start
    from emulator.settings import EmulatorSettings

    start(EmulatorSettings.from_env())
    # Recorded once it runs, so a failed start leaves nothing for `make down` to look for.
    _backend_file(state).write_text(backend)
    deploy()
    if simulator_rate > 0:
        _start_simulator(state, simulator_rate)
    return backend


def down(config: StackConfig) -> None:
    state = Path(config.state_dir)
    backend = _backend_file(state).read_text().strip() if _backend_file(state).exists() else Backend.EMBEDDED
    if backend == Backend.LOCALSTACK:
        _compose("down")
        _backend_file(state).unlink(missing_ok=True)
        return
    _stop_simulator(state)
    from emulator.lifecycle import stop
    from emulator.settings import EmulatorSettings

    try:
        stop(EmulatorSettings.from_env())
    finally:
        # A stop that reports a failed save has still stopped everything.
        _backend_file(state).unlink(missing_ok=True)


def clean(config: StackConfig) -> None:
    from emulator.lifecycle import EmulatorError

    try:
        down(config)
    except EmulatorError as error:
        # The state is wiped next: a save that failed loses nothing more.
        print(f"warning: {error}")
    shutil.rmtree(config.state_dir, ignore_errors=True)
    print(f"removed {config.state_dir}")


def backend_problems(config: StackConfig) -> list[str]:
    """What is wrong with the embedded backend `make up` started, one line each."""
    state = Path(config.state_dir)
    if not _backend_file(state).exists() or _backend_file(state).read_text().strip() != Backend.EMBEDDED:
        return []
    from emulator.lifecycle import health_problems
    from emulator.settings import EmulatorSettings

    return health_problems(EmulatorSettings.from_env())


def simulator_pid(state: Path) -> int | None:
    try:
        pid = int(_simulator_pid_file(state).read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _start_simulator(state: Path, rate: float) -> None:
    if simulator_pid(state):
        return
    (state / "logs").mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "simulator", "--rate", str(rate), "--duration", "0"]
    with open(state / "logs" / "simulator.log", "ab") as log:
        process = subprocess.Popen(
            [*command, "--outputs", str(state / "outputs.json")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _simulator_pid_file(state).parent.mkdir(parents=True, exist_ok=True)
    _simulator_pid_file(state).write_text(str(process.pid))


def _stop_simulator(state: Path) -> None:
    pid = simulator_pid(state)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and simulator_pid(state):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
    _simulator_pid_file(state).unlink(missing_ok=True)


def _compose(*args: str) -> None:
    result = subprocess.run(["docker", "compose", *args], check=False)
    if result.returncode != 0:
        raise StackError(f"docker compose {' '.join(args)} failed (exit {result.returncode})")


def _backend_file(state: Path) -> Path:
    return state / "backend"


def _simulator_pid_file(state: Path) -> Path:
    return state / "run" / "simulator.pid"
