"""The LocalStack path: the compose file checked by a real Compose parser, and the pipeline run
end to end on LocalStack through testcontainers where a Docker engine answers."""

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bootstrap.local_stack import docker_engine_answers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PINNED_IMAGE = "localstack/localstack:4.14.0"


def compose_config(**env) -> dict:
    if shutil.which("docker-compose"):
        command = ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"]
    else:
        pytest.skip("no Compose parser (docker-compose) here: `make compose-parser` installs Debian's")
    result = subprocess.run(command, check=False, capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_parses_and_wires_the_stack():
    config = compose_config()
    services = config["services"]
    assert set(services) == {"localstack", "bootstrap", "simulator", "ttl-trigger"}
    localstack = services["localstack"]
    assert localstack["image"] == PINNED_IMAGE
    assert any("4566" in str(port) for port in localstack["ports"])
    assert any("/var/run/docker.sock" in str(volume) for volume in localstack["volumes"])
    assert str(localstack["environment"]["DYNAMODB_REMOVE_EXPIRED_ITEMS"]) == "1"
    assert localstack["healthcheck"]["test"]
    assert services["bootstrap"]["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert services["simulator"]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    assert services["bootstrap"]["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert "_aws/dynamodb/expired" in " ".join(services["ttl-trigger"]["command"])


def test_emulator_port_moves_the_port_localstack_is_published_on():
    assert compose_config(EMULATOR_PORT="")["services"]["localstack"]["ports"] == ["127.0.0.1:4566:4566/tcp"]
    assert compose_config(EMULATOR_PORT="4567")["services"]["localstack"]["ports"] == ["127.0.0.1:4567:4566/tcp"]


def test_the_bootstrap_and_simulator_run_as_the_host_user_given_by_uid_and_gid():
    for service in ("bootstrap", "simulator"):
        assert compose_config(UID="1234", GID="5678")["services"][service]["user"] == "1234:5678"
        # bash does not export UID: without it Compose falls back to the usual first user.
        assert compose_config(UID="", GID="")["services"][service]["user"] == "1000:1000"


def test_functions_run_on_the_hosts_architecture():
    assert str(compose_config()["services"]["localstack"]["environment"]["LAMBDA_IGNORE_ARCHITECTURE"]) == "1"


def test_one_variable_picks_a_newer_localstack_image():
    config = compose_config(LOCALSTACK_IMAGE="localstack/localstack:4.20.0")
    assert config["services"]["localstack"]["image"] == "localstack/localstack:4.20.0"


def docker_host() -> str | None:
    """The engine the docker CLI talks to (DOCKER_HOST, else the current context's), which
    testcontainers' client does not read from contexts itself (rootless Docker, Colima)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    result = subprocess.run(
        ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


# The CI workflow's LocalStack job sets REQUIRE_LOCALSTACK=1: there a missing engine is a failure, not a skip.
@pytest.mark.skipif(
    not docker_engine_answers() and os.environ.get("REQUIRE_LOCALSTACK") != "1",
    reason="no Docker engine answers here: the LocalStack end-to-end test needs one",
)
def test_pipeline_runs_end_to_end_on_localstack(tmp_path, monkeypatch):
    from testcontainers.community.localstack import LocalStackContainer

    from bootstrap.clients import client_factory
    from bootstrap.cloudformation import deploy_stack
    from bootstrap.config import StackConfig
    from device_data.archive import RemovalsWithoutIdentity
    from env_settings.reader import SettingError

    host = docker_host()
    if host:
        monkeypatch.setenv("DOCKER_HOST", host)
    # LocalStack starts the functions' containers through the engine's socket, as the engine names it.
    socket = host.removeprefix("unix://") if host and host.startswith("unix://") else "/var/run/docker.sock"
    container = (
        LocalStackContainer(image=os.environ.get("LOCALSTACK_IMAGE", PINNED_IMAGE), region_name="us-east-1")
        .with_env("DYNAMODB_REMOVE_EXPIRED_ITEMS", "1")
        .with_env("LAMBDA_IGNORE_ARCHITECTURE", "1")
        .with_volume_mapping(socket, "/var/run/docker.sock", "rw")
    )
    container.start()
    try:
        try:
            config = StackConfig.from_env(
                "local",
                {
                    "AWS_ENDPOINT_URL": container.get_url(),
                    "STACK_ENV": "ls",
                    "STATE_DIR": str(tmp_path),
                    "HISTORY_BUFFER_SECONDS": "1",
                },
            )
        except SettingError as error:
            pytest.skip(f"the container is not on this machine's loopback: {error}")
        client = client_factory(config)
        values = deploy_stack(
            config, progress=lambda _line: None, removals_without_identity=RemovalsWithoutIdentity.TTL_IF_EXPIRED
        ).outputs
        body = base64.b64encode(
            json.dumps({"things_name": "ls-dev-1", "timestamp": int(time.time()), "data": {"t": 21.5}}).encode()
        ).decode()
        client("sqs").send_message(QueueUrl=values["queue_url"], MessageBody=body)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            items = client("dynamodb").scan(TableName=values["table"])["Items"]
            lines = client("s3").list_objects_v2(Bucket=values["history_bucket"]).get("KeyCount", 0)
            if items and lines:
                break
            time.sleep(1)
        assert items and items[0]["deviceID"] == {"S": "ls-dev-1"}
        assert lines, "the history reached S3"
    finally:
        # SIGTERM, not a kill: LocalStack then removes the function containers it started.
        container.get_wrapped_container().stop(timeout=30)
        container.stop()
