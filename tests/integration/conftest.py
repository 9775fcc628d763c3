"""The embedded stack, started once per test run on a free port with its own state folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from botocore.config import Config

from aws_calls.sessions import ClientFactory, local_clients
from bootstrap.clients import client_factory
from bootstrap.config import StackConfig
from bootstrap.deploy import Deployer
from bootstrap.outputs import outputs
from bootstrap.stack import declare
from emulator.lifecycle import free_port, start, stop
from emulator.settings import EmulatorSettings

pytestmark = pytest.mark.integration

TTL_DELETION_DELAY_SECONDS = 3


@dataclass
class RunningStack:
    outputs: dict
    endpoint: str
    config: StackConfig
    client: ClientFactory = field(init=False)

    def __post_init__(self):
        self.client = local_clients(
            self.endpoint, config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32)
        )


@pytest.fixture(scope="session")
def embedded_backend(tmp_path_factory):
    state_root = tmp_path_factory.mktemp("state")
    # Expired items are deleted a few seconds after expiry, as on AWS (days there): no test may
    # count on a prompt deletion.
    settings = EmulatorSettings(
        port=free_port(),
        state_dir=str(state_root / "embedded"),
        ttl_sweep_seconds=0.5,
        ttl_deletion_delay_seconds=TTL_DELETION_DELAY_SECONDS,
    )
    start(settings, progress=lambda _line: None)
    yield settings
    stop(settings, progress=lambda _line: None)


def deploy_on(backend: EmulatorSettings, env: str, state_dir: str, **overrides: str) -> RunningStack:
    environment = {
        "STACK_ENV": env,
        "AWS_ENDPOINT_URL": backend.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "STATE_DIR": state_dir,
        "FUNCTION_TIMEOUT_SECONDS": "5",
        # No stream batching window: the tests wait on history and archive, and no test depends on it.
        "HISTORY_BUFFER_SECONDS": "1",
        "STREAM_BATCH_WINDOW_SECONDS": "0",
        **overrides,
    }
    config = StackConfig.from_env("local", environment)
    client = client_factory(config)
    stack = declare(config, client("sts").get_caller_identity()["Account"])
    deployer = Deployer(client)
    deployer.deploy(stack)
    values = outputs(stack, deployer.queue_url, deployer.iot_endpoint(stack))
    return RunningStack(values, backend.endpoint, config)


@pytest.fixture(scope="session")
def deploy_stack(embedded_backend, tmp_path_factory):
    """deploy_stack(env, **settings) -> RunningStack: a stack of its own in the shared emulator."""
    deployed: dict[str, RunningStack] = {}

    def deploy(env: str, **overrides: str) -> RunningStack:
        if env not in deployed:
            deployed[env] = deploy_on(embedded_backend, env, str(tmp_path_factory.mktemp(f"stack-{env}")), **overrides)
        return deployed[env]

    return deploy


@pytest.fixture(scope="module")
def device_stack(tmp_path_factory):
    """device_stack(env) -> RunningStack alone on a backend of its own. Every stack's topic rule
    takes every device's topic (`+/SENSOR/DAT`), as stacks in one AWS account and region do, so
    what devices publish here must reach no other stack. The backend stops with the test module,
    so it takes no CPU from the timing-sensitive tests after it."""
    started: dict[str, tuple[EmulatorSettings, RunningStack]] = {}

    def deploy(env: str) -> RunningStack:
        if env not in started:
            root = tmp_path_factory.mktemp(f"devices-{env}")
            backend = EmulatorSettings(port=free_port(), state_dir=str(root / "embedded"), ttl_sweep_seconds=0.5)
            start(backend, progress=lambda _line: None)
            started[env] = backend, deploy_on(backend, env, str(root / "stack"))
        return started[env][1]

    yield deploy
    for backend, _stack in started.values():
        stop(backend, progress=lambda _line: None)


@pytest.fixture(scope="session")
def stack(deploy_stack):
    return deploy_stack("it")


def wait_for(condition, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Poll until `condition()` returns something truthy; fail with `message` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}; last value: {last!r}")
