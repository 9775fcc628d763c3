"""One setting moves the stack: every local tool derives its endpoint from AWS_ENDPOINT_URL, else
EMULATOR_PORT, in aws_calls.sessions; the emulator's processes get their settings from the value."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError

import simulator.__main__ as simulator_cli
import simulator.transports as simulator_transports
from aws_calls.sessions import local_endpoint
from bootstrap.config import StackConfig
from bootstrap.local_stack import StackError, check_endpoint_is_the_emulators
from emulator import lifecycle
from emulator.settings import EmulatorSettings, LogLevel
from env_settings.reader import SettingError


def test_emulator_port_alone_moves_the_bootstrap_the_simulator_and_the_emulator(monkeypatch):
    env = {"EMULATOR_PORT": "4567"}
    assert local_endpoint(env) == "http://127.0.0.1:4567"
    assert StackConfig.from_env("local", env).endpoint == "http://127.0.0.1:4567"
    assert EmulatorSettings.from_env(env).endpoint == "http://127.0.0.1:4567"

    used = []

    def clients(endpoint, region, config):
        used.append(endpoint)
        raise BotoCoreError()

    monkeypatch.setenv("EMULATOR_PORT", "4567")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(simulator_transports, "local_clients", clients)
    # main() makes SIGTERM end the simulator; not this test run.
    monkeypatch.setattr(simulator_cli.signal, "signal", lambda *_: None)
    queue_url = "http://127.0.0.1:4567/000000000000/q"
    assert simulator_cli.main(["--count", "1", "--via", "sqs", "--queue-url", queue_url]) == 1
    assert used == ["http://127.0.0.1:4567"]


def test_without_either_setting_the_endpoint_is_localstacks_port():
    assert local_endpoint({}) == StackConfig.from_env("local", {}).endpoint == "http://127.0.0.1:4566"


def test_an_explicit_aws_endpoint_url_wins_over_emulator_port():
    env = {"AWS_ENDPOINT_URL": "http://localstack:4566", "EMULATOR_PORT": "4567"}
    assert local_endpoint(env) == StackConfig.from_env("local", env).endpoint == "http://localstack:4566"


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_a_port_outside_tcps_range_is_a_setting_error(port):
    with pytest.raises(SettingError, match=f"EMULATOR_PORT={port} is not a TCP port"):
        local_endpoint({"EMULATOR_PORT": port})


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4567", "http://localhost:4567", "http://127.0.0.1:4567/"])
def test_an_aws_endpoint_url_naming_the_emulator_agrees_with_emulator_port(endpoint):
    check_endpoint_is_the_emulators(endpoint, EmulatorSettings(port=4567))


@pytest.mark.parametrize(
    ("endpoint", "advice"),
    [
        (
            "http://127.0.0.1:4566",
            "unset AWS_ENDPOINT_URL (EMULATOR_PORT alone sets the endpoint), or set EMULATOR_PORT=4566",
        ),
        ("http://localstack:4567", "unset AWS_ENDPOINT_URL (EMULATOR_PORT alone sets the endpoint)"),
        ("https://127.0.0.1:4567", "unset AWS_ENDPOINT_URL (EMULATOR_PORT alone sets the endpoint)"),
    ],
)
def test_an_aws_endpoint_url_that_disagrees_with_emulator_port_is_refused_saying_which_to_change(endpoint, advice):
    with pytest.raises(StackError) as refused:
        check_endpoint_is_the_emulators(endpoint, EmulatorSettings(port=4567))
    message = str(refused.value)
    assert "\n" not in message and message.endswith(advice)
    assert f"AWS_ENDPOINT_URL={endpoint}" in message and "EMULATOR_PORT=4567" in message


def test_the_settings_survive_the_trip_to_the_emulators_processes(tmp_path):
    settings = EmulatorSettings(
        port=4571,
        region="eu-west-1",
        state_dir=str(tmp_path / "embedded"),
        ttl_sweep_seconds=0.25,
        log_level=LogLevel.DEBUG,
        extra_cors_allowed_origins=("http://a.example:3000", "https://b.example"),
    )
    assert EmulatorSettings.from_env(settings.environment()) == settings
    assert settings.environment()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4571"


def test_spawned_processes_take_every_setting_from_the_value_not_the_shell(tmp_path, monkeypatch):
    """Settings built in code win over what the shell exported, the functions' endpoint included."""
    spawned = {}

    class Process:
        pid = 12345

    def popen(command, **options):
        spawned.update(options["env"])
        return Process()

    for name, value in {
        "EMULATOR_PORT": "4566",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "EXTRA_CORS_ALLOWED_ORIGINS": "http://shell.example",
        "TTL_SWEEP_SECONDS": "9",
        "STATE_DIR": "/somewhere/else",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(lifecycle.subprocess, "Popen", popen)
    settings = EmulatorSettings(
        port=4572, state_dir=str(tmp_path / "embedded"), extra_cors_allowed_origins=("http://code.example",)
    )
    paths = lifecycle.Paths(tmp_path / "embedded")
    for folder in ("run", "logs"):
        (paths.root / folder).mkdir(parents=True)
    lifecycle._spawn(paths, "api", settings)
    assert EmulatorSettings.from_env(spawned) == settings
    assert spawned["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4572"
    assert spawned["PATH"] == os.environ["PATH"]


@pytest.mark.parametrize(
    "command",
    [["bootstrap", "status"], ["simulator", "--count", "1"], ["emulator", "status"]],
    ids=["bootstrap", "simulator", "emulator"],
)
def test_a_bad_emulator_port_is_one_line_and_exit_2_in_every_cli(command, tmp_path):
    env = {**os.environ, "EMULATOR_PORT": "http", "STATE_DIR": str(tmp_path)}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert (result.returncode, result.stderr) == (2, "error: EMULATOR_PORT='http' is not a whole number\n")
