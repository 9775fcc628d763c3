"""`make up` / `make down` / `make clean`: run the whole stack on this machine.

BACKEND=auto picks LocalStack under Docker Compose when a Docker engine and Compose answer, else
the embedded backend; the choice is remembered in the state folder so `down` stops what `up` started.
Compose v2 (`docker compose`, or a v2 `docker-compose`) starts the stack with `up --wait`; v1
`docker-compose` has no `--wait`, so its steps run one by one and LocalStack's health is polled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

from bootstrap.config import StackConfig
from emulator.loopback_guard import is_loopback_name
from emulator.settings import EmulatorSettings


class Backend(StrEnum):
    """`auto` is LocalStack when a Docker engine answers, else the embedded backend."""

    AUTO = "auto"
    EMBEDDED = "embedded"
    LOCALSTACK = "localstack"


class StackError(Exception):
    """Reported in one line by the CLI."""


COMPOSE_MISSING = (
    "Docker answers but Docker Compose does not: install the Compose plugin "
    "(https://docs.docker.com/compose/install/, e.g. apt-get install docker-compose-plugin), or use BACKEND=embedded"
)
# Long enough for LocalStack's first start, which downloads DynamoDB Local and its Java.
LOCALSTACK_HEALTH_SECONDS = 300
HEALTH_PATH = "/_localstack/health"


@dataclass(frozen=True)
class Compose:
    command: tuple[str, ...]
    # v2 waits for the services itself (`up --wait`); v1 cannot.
    waits: bool

    def run(self, *args: str) -> None:
        # The bootstrap and simulator containers run as this user, so what they write to the
        # checkout (.state/outputs.json) stays the user's; bash does not export UID or GID.
        env = {"UID": str(os.getuid()), "GID": str(os.getgid()), **os.environ}
        result = subprocess.run([*self.command, *args], check=False, env=env)
        if result.returncode != 0:
            raise StackError(f"{' '.join([*self.command, *args])} failed (exit {result.returncode})")


def compose_service_running(service: str) -> bool:
    """Whether Compose runs `service` (the simulator of `make status` on LocalStack)."""
    compose = find_compose()
    if compose is None:
        return False
    running = _output(*compose.command, "ps", "--services", "--filter", "status=running")
    return service in (running or "").split()


def find_compose() -> Compose | None:
    """Compose v2 as a Docker plugin, else a `docker-compose` binary (v1 or v2), else None."""
    if _output("docker", "compose", "version", "--short") is not None:
        return Compose(("docker", "compose"), waits=True)
    version = _output("docker-compose", "version", "--short")
    if version is None:
        return None
    return Compose(("docker-compose",), waits=not version.lstrip("v").startswith("1."))


def _output(*command: str) -> str | None:
    """What the command prints when it succeeds, else None."""
    if not shutil.which(command[0]):
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def docker_engine_answers() -> bool:
    return _output("docker", "info") is not None


def choose_backend(requested: Backend) -> Backend:
    if requested == Backend.AUTO:
        if not docker_engine_answers():
            return Backend.EMBEDDED
        if find_compose() is None:
            print(f"{COMPOSE_MISSING}; using the embedded backend", file=sys.stderr)
            return Backend.EMBEDDED
        return Backend.LOCALSTACK
    if requested == Backend.LOCALSTACK and not docker_engine_answers():
        raise StackError("BACKEND=localstack needs a running Docker engine; none answers here (use BACKEND=embedded)")
    return requested


def recorded_backend(state_dir: str) -> Backend | None:
    """The backend `make up` started from this state folder and `make down` has not stopped."""
    try:
        return Backend(_backend_file(Path(state_dir)).read_text().strip())
    except (OSError, ValueError):
        return None


def up(
    config: StackConfig,
    emulator: EmulatorSettings,
    requested_backend: Backend,
    simulator_rate: float,
    deploy: Callable[[], None],
) -> Backend:
    state = Path(config.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    backend = choose_backend(requested_backend)
    running = recorded_backend(config.state_dir)
    if running and running != backend:
        raise StackError(f"the {running} backend is running: `make down` first")
    if backend == Backend.LOCALSTACK:
        compose = find_compose()
        if compose is None:
            raise StackError(COMPOSE_MISSING)
        # Recorded before anything starts, so `make down` stops what a failed `make up` started.
        _backend_file(state).write_text(backend)
        _compose_up(compose, config.endpoint)
        print("LocalStack, the bootstrap and the simulator run under Docker Compose")
        return backend
    from emulator.lifecycle import start, stop

    if config.endpoint:
        check_endpoint_is_the_emulators(config.endpoint, emulator)
    started = start(emulator)
    # Recorded once it runs, so a failed start leaves nothing for `make down` to look for.
    _backend_file(state).write_text(backend)
    try:
        deploy()
    except BaseException:
        # A failed `make up` leaves running only what was running before it.
        if started:
            stop(emulator, progress=lambda _line: None)
            _backend_file(state).unlink(missing_ok=True)
        raise
    if simulator_rate > 0:
        _start_simulator(state, simulator_rate)
    return backend


def check_endpoint_is_the_emulators(endpoint: str, emulator: EmulatorSettings) -> None:
    """On the embedded backend an AWS_ENDPOINT_URL, when set, must name the emulator that
    EMULATOR_PORT starts; the refusal says which of the two to change."""
    url = urlparse(endpoint)
    try:
        port = url.port
    except ValueError:
        port = None
    loopback = url.scheme == "http" and is_loopback_name(url.hostname or "")
    if loopback and port == emulator.port:
        return
    other_port = f", or set EMULATOR_PORT={port}" if loopback and port else ""
    raise StackError(
        f"AWS_ENDPOINT_URL={endpoint} is not the embedded backend, which EMULATOR_PORT={emulator.port} puts on "
        f"{emulator.endpoint}: unset AWS_ENDPOINT_URL (EMULATOR_PORT alone sets the endpoint){other_port}"
    )


def down(config: StackConfig, emulator: EmulatorSettings) -> None:
    state = Path(config.state_dir)
    if recorded_backend(config.state_dir) == Backend.LOCALSTACK:
        compose = find_compose()
        if compose is None:
            raise StackError(COMPOSE_MISSING)
        compose.run("down")
        _backend_file(state).unlink(missing_ok=True)
        return
    _stop_simulator(state)
    from emulator.lifecycle import stop

    try:
        stop(emulator)
    finally:
        # A stop that reports a failed save has still stopped everything.
        _backend_file(state).unlink(missing_ok=True)


def clean(config: StackConfig, emulator: EmulatorSettings) -> None:
    from emulator.lifecycle import EmulatorError

    try:
        down(config, emulator)
    except EmulatorError as error:
        # The state is wiped next: a save that failed loses nothing more.
        print(f"warning: {error}")
    shutil.rmtree(config.state_dir, ignore_errors=True)
    print(f"removed {config.state_dir}")


def backend_problems(config: StackConfig, emulator: EmulatorSettings) -> list[str]:
    """What is wrong with the embedded backend `make up` started, one line each."""
    if recorded_backend(config.state_dir) != Backend.EMBEDDED:
        return []
    from emulator.lifecycle import health_problems

    return health_problems(emulator)


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


def _compose_up(compose: Compose, endpoint: str | None) -> None:
    if compose.waits:
        compose.run("up", "-d", "--wait")
        return
    # v1 honours no depends_on condition reliably without --wait: one step at a time.
    compose.run("up", "-d", "localstack")
    wait_for_localstack(endpoint or "")
    compose.run("run", "--rm", "bootstrap")
    compose.run("up", "-d", "--no-deps", "ttl-trigger", "simulator")


def wait_for_localstack(endpoint: str, seconds: float = LOCALSTACK_HEALTH_SECONDS) -> None:
    url = endpoint.rstrip("/") + HEALTH_PATH
    print(f"waiting for LocalStack at {url} (its first start downloads DynamoDB Local)...")
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise StackError(f"LocalStack did not answer {url} within {seconds:.0f} s (docker-compose logs localstack)")
        time.sleep(0.5)


def _backend_file(state: Path) -> Path:
    return state / "backend"


def _simulator_pid_file(state: Path) -> Path:
    return state / "run" / "simulator.pid"
