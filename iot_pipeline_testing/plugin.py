"""The pytest plugin (entry point `pytest11`: installing the project is enough).

Fixtures:

| fixture          | scope   | what it is                                                                         |
|------------------|---------|------------------------------------------------------------------------------------|
| `iot_stack`      | session | an `IotStack`: the stack `make up` runs, or a fresh one (`--iot-stack`, below)     |
| `iot_backend`    | session | a fresh embedded backend on a free port with its own state folder, stopped after    |
| `iot_deploy`     | session | `iot_deploy(env, **settings)`: a stack of its own in `iot_backend`                  |
| `iot_stack_mode` | session | the `--iot-stack` choice; a conftest may override it for its folder                 |

`--iot-stack` (ini `iot_stack`): `auto` (default) uses the stack that answers on EMULATOR_PORT
and whose outputs `make outputs` prints (STATE_DIR/outputs.json), else deploys a fresh one;
`running` requires that stack; `fresh` always deploys a stack of its own. With pytest-xdist
each worker has its own fresh backend, as session fixtures are per worker. A fresh backend
deletes expired items FRESH_TTL_DELETION_DELAY_SECONDS after expiry, not at the next sweep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum

import pytest

from iot_pipeline_testing.stack import IotStack

# Timers shortened for tests: no test waits on a batching window or a buffer's full interval.
FRESH_STACK_SETTINGS = {
    "FUNCTION_TIMEOUT_SECONDS": "5",
    "HISTORY_BUFFER_SECONDS": "1",
    "STREAM_BATCH_WINDOW_SECONDS": "0",
}
FRESH_TTL_SWEEP_SECONDS = 0.5
# Expired items are deleted a few seconds after expiry, as on AWS (days there): no test may count
# on a prompt deletion.
FRESH_TTL_DELETION_DELAY_SECONDS = 3.0


class StackMode(StrEnum):
    AUTO = "auto"
    RUNNING = "running"
    FRESH = "fresh"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iot-pipeline")
    help_text = "iot_stack: auto (the running stack if one answers, else a fresh one), running or fresh"
    group.addoption("--iot-stack", choices=list(StackMode), help=help_text)
    parser.addini("iot_stack", help_text, default=StackMode.AUTO)


def deploy(endpoint: str, env: str, state_dir: str, settings: Mapping[str, str] = FRESH_STACK_SETTINGS) -> IotStack:
    """Deploy stack `env` on `endpoint` through the bootstrap's CloudFormation deploy: the one
    deploy call of the plugin."""
    from bootstrap.cloudformation import deploy_stack
    from bootstrap.config import DeployTarget, StackConfig

    config = StackConfig.from_env(
        DeployTarget.LOCAL,
        {
            "STACK_ENV": env,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "STATE_DIR": state_dir,
            **settings,
        },
    )
    return IotStack(deploy_stack(config, progress=lambda _line: None).outputs, endpoint, config)


def running_stack(env: Mapping[str, str] = os.environ) -> IotStack | None:
    """The stack `make up` runs from this folder, when one answers on EMULATOR_PORT; None when
    nothing answers. Another stack's backend on the port is a usage error, never used."""
    from bootstrap.backend_check import Answerer, check_backend, what_answers
    from bootstrap.config import DeployTarget, StackConfig
    from bootstrap.local_stack import StackError, recorded_backend
    from bootstrap.outputs import outputs_path
    from emulator.settings import EmulatorSettings
    from env_settings.reader import SettingError

    try:
        config = StackConfig.from_env(DeployTarget.LOCAL, env)
        emulator = EmulatorSettings.from_env(env)
        if not config.endpoint or what_answers(config.endpoint).answerer == Answerer.NOTHING:
            return None
        check_backend(config.endpoint, recorded_backend(config.state_dir), emulator, "test")
    except (SettingError, StackError) as error:
        raise pytest.UsageError(f"iot_stack: {error}") from None
    path = outputs_path(config.state_dir)
    if not path.exists():
        raise pytest.UsageError(f"iot_stack: {config.endpoint} answers but {path} does not exist: run `make deploy`")
    return IotStack(json.loads(path.read_text()), config.endpoint, config)


@pytest.fixture(scope="session")
def iot_stack_mode(pytestconfig: pytest.Config) -> StackMode:
    return StackMode(pytestconfig.getoption("iot_stack") or pytestconfig.getini("iot_stack"))


@pytest.fixture(scope="session")
def iot_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A fresh embedded backend (EmulatorSettings) on a free port, stopped after the session."""
    from emulator.lifecycle import free_port, start, stop
    from emulator.settings import EmulatorSettings

    root = tmp_path_factory.mktemp("iot-backend")
    settings = EmulatorSettings(
        port=free_port(),
        state_dir=str(root / "embedded"),
        ttl_sweep_seconds=FRESH_TTL_SWEEP_SECONDS,
        ttl_deletion_delay_seconds=FRESH_TTL_DELETION_DELAY_SECONDS,
    )
    start(settings, progress=lambda _line: None)
    yield settings
    stop(settings, progress=lambda _line: None)


@pytest.fixture(scope="session")
def iot_deploy(iot_backend, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., IotStack]:
    """iot_deploy(env, **settings) -> IotStack: a stack of its own in the session's backend
    (each env deployed once; `settings` are the bootstrap's, e.g. STREAM_RETRY_ATTEMPTS="1")."""
    deployed: dict[str, IotStack] = {}

    def deploy_env(env: str, **settings: str) -> IotStack:
        if env not in deployed:
            state_dir = str(tmp_path_factory.mktemp(f"stack-{env}"))
            deployed[env] = deploy(iot_backend.endpoint, env, state_dir, {**FRESH_STACK_SETTINGS, **settings})
        return deployed[env]

    return deploy_env


@pytest.fixture(scope="session")
def iot_stack(request: pytest.FixtureRequest, iot_stack_mode: StackMode) -> IotStack:
    """The pipeline under test; see the module's doc for which one."""
    if iot_stack_mode != StackMode.FRESH:
        found = running_stack()
        if found:
            return found
        if iot_stack_mode == StackMode.RUNNING:
            raise pytest.UsageError("iot_stack: --iot-stack=running, but no stack answers: start one with `make up`")
    deploy_env = request.getfixturevalue("iot_deploy")
    return deploy_env(os.environ.get("STACK_ENV") or "dev")
