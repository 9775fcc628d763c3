"""`python -m bootstrap up` / `down` on the LocalStack path, driven through a fake `docker` on PATH
(tests/fake_docker/docker) that records its arguments: no Docker engine is needed."""

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.local_stack import Backend, choose_backend, compose_service_running

ROOT = Path(__file__).resolve().parents[3]
FAKE_DOCKER = ROOT / "tests" / "fake_docker" / "docker"


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """A PATH holding only the fake docker, docker-compose and the python3 it runs on."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "docker-compose"):
        (bin_dir / name).symlink_to(FAKE_DOCKER)
    (bin_dir / "python3").symlink_to(sys.executable)
    log = tmp_path / "docker.log"
    log.touch()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    return log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def compose_calls(log: Path) -> list[list[str]]:
    return [call for call in calls(log) if call[0] == "docker-compose" or call[1:2] == ["compose"]]


def bootstrap(command: str, tmp_path: Path, port: int = 4566, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "BACKEND": "localstack",
        "STATE_DIR": str(tmp_path / "state"),
        "EMULATOR_PORT": str(port),
        "FAKE_OUTPUTS": str(tmp_path / "state" / "outputs.json"),
        **env,
    }
    environment.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bootstrap", command],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def localstack_health():
    """A server on a free port that answers /_localstack/health as LocalStack does."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"services": {"sqs": "running"}}).encode()
            self.send_response(200 if self.path == "/_localstack/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_compose_v2_starts_the_stack_with_wait_as_this_user_and_down_stops_it(fake_docker, tmp_path):
    up = bootstrap("up", tmp_path)
    assert up.returncode == 0, up.stderr
    assert "localstack backend" in up.stdout and "http://127.0.0.1:4566" in up.stdout
    assert "http://localstack:4566" not in up.stdout, "the host cannot resolve the compose service's name"
    assert Path(f"{fake_docker}.users").read_text() == f"{os.getuid()}:{os.getgid()}\n"
    assert bootstrap("down", tmp_path).returncode == 0
    assert compose_calls(fake_docker) == [
        ["docker", "compose", "version", "--short"],
        ["docker", "compose", "up", "-d", "--wait"],
        ["docker", "compose", "version", "--short"],
        ["docker", "compose", "down"],
    ]


def test_compose_v1_runs_without_wait_and_polls_localstacks_health(fake_docker, tmp_path, localstack_health):
    up = bootstrap("up", tmp_path, port=localstack_health, FAKE_COMPOSE="v1")
    assert up.returncode == 0, up.stderr
    assert f"waiting for LocalStack at http://127.0.0.1:{localstack_health}/_localstack/health" in up.stdout
    assert bootstrap("down", tmp_path, FAKE_COMPOSE="v1").returncode == 0
    used = [call for call in compose_calls(fake_docker) if call[1] != "version" and call[1:2] != ["compose"]]
    assert used == [
        ["docker-compose", "up", "-d", "localstack"],
        ["docker-compose", "run", "--rm", "bootstrap"],
        ["docker-compose", "up", "-d", "--no-deps", "ttl-trigger", "simulator"],
        ["docker-compose", "down"],
    ]
    assert not any("--wait" in call for call in calls(fake_docker))


def test_compose_v1_gives_up_in_one_line_when_localstack_never_answers(fake_docker, tmp_path, monkeypatch):
    from bootstrap import local_stack

    with pytest.raises(local_stack.StackError, match=r"LocalStack did not answer http://127\.0\.0\.1:\d+"):
        local_stack.wait_for_localstack(f"http://127.0.0.1:{free_port()}", seconds=0.5)


def test_without_compose_up_says_in_one_line_what_to_install_and_starts_nothing(fake_docker, tmp_path):
    up = bootstrap("up", tmp_path, FAKE_COMPOSE="none")
    assert up.returncode == 2
    [line] = up.stderr.splitlines()
    assert line.startswith("error: Docker answers but Docker Compose does not: install the Compose plugin")
    assert not any(call[1:] and call[1] in ("up", "compose") and "up" in call for call in calls(fake_docker))
    assert not (tmp_path / "state" / "backend").exists()


def test_auto_without_compose_picks_the_embedded_backend_and_says_why(fake_docker, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_COMPOSE", "none")
    assert choose_backend(Backend.AUTO) == Backend.EMBEDDED
    assert "Docker Compose does not" in capsys.readouterr().err


def test_after_a_failed_up_down_still_stops_what_compose_started(fake_docker, tmp_path):
    up = bootstrap("up", tmp_path, FAKE_UP_EXIT="1")
    assert up.returncode == 2
    assert up.stderr.splitlines()[-1] == "error: docker compose up -d --wait failed (exit 1)"
    assert (tmp_path / "state" / "backend").read_text() == "localstack"
    assert bootstrap("down", tmp_path).returncode == 0
    assert compose_calls(fake_docker)[-1] == ["docker", "compose", "down"]
    assert not (tmp_path / "state" / "backend").exists()


def test_sim_rate_zero_reaches_compose_and_the_welcome_says_no_simulator(fake_docker, tmp_path):
    up = bootstrap("up", tmp_path, SIM_RATE="0")
    assert up.returncode == 0, up.stderr
    assert "not started (SIM_RATE=0)" in up.stdout


@pytest.mark.parametrize("flavour", ["v2", "v1"])
def test_status_asks_compose_whether_the_simulator_runs(fake_docker, monkeypatch, flavour):
    monkeypatch.setenv("FAKE_COMPOSE", flavour)
    monkeypatch.setenv("FAKE_RUNNING", "localstack,simulator")
    assert compose_service_running("simulator")
    monkeypatch.setenv("FAKE_RUNNING", "localstack")
    assert not compose_service_running("simulator")
