"""The project's end-to-end tests run on the pytest plugin's fixtures (iot_pipeline_testing:
`iot_backend`, `iot_deploy`, `iot_stack`), always on a backend of their own: they deploy more
stacks, stop and kill processes, which they must never do to a stack `make up` runs."""

from __future__ import annotations

import pytest

from iot_pipeline_testing.plugin import FRESH_TTL_SWEEP_SECONDS, StackMode, deploy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def iot_stack_mode():
    return StackMode.FRESH


@pytest.fixture(scope="session")
def stack(iot_stack):
    return iot_stack


@pytest.fixture(scope="module")
def device_stack(tmp_path_factory):
    """device_stack(env) -> IotStack alone on a backend of its own. Every stack's topic rule
    takes every device's topic (`+/SENSOR/DAT`), as stacks in one AWS account and region do, so
    what devices publish here must reach no other stack. The backend stops with the test module,
    so it takes no CPU from the timing-sensitive tests after it."""
    from emulator.lifecycle import free_port, start, stop
    from emulator.settings import EmulatorSettings

    started = {}

    def deploy_alone(env: str):
        if env not in started:
            root = tmp_path_factory.mktemp(f"devices-{env}")
            backend = EmulatorSettings(
                port=free_port(), state_dir=str(root / "embedded"), ttl_sweep_seconds=FRESH_TTL_SWEEP_SECONDS
            )
            start(backend, progress=lambda _line: None)
            started[env] = backend, deploy(backend.endpoint, env, str(root / "stack"))
        return started[env][1]

    yield deploy_alone
    for backend, _stack in started.values():
        stop(backend, progress=lambda _line: None)
