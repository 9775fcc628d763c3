"""EMULATOR_PORT alone moves a stack, and a second stack on the machine cannot act on the first:
the CLI run as `make` runs it, without AWS_ENDPOINT_URL."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator.identity import ensure_identity
from emulator.lifecycle import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(module, *arguments, **settings):
    """`python -m <module> <arguments>` with `settings` and no AWS_ENDPOINT_URL from this shell."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", **settings}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["deploy", "teardown"])
def test_a_second_stack_refuses_to_act_on_the_first_stacks_emulator(command, stack, iot_backend, tmp_path):
    # The second stack has the first one's name, ran `make up` once, and forgot its EMULATOR_PORT:
    # acting would deploy over, or delete, the first stack's resources.
    (tmp_path / "backend").write_text("embedded")
    ensure_identity(str(tmp_path / "embedded"))
    result = run(
        "bootstrap",
        command,
        STACK_ENV=stack.config.env,
        STATE_DIR=str(tmp_path),
        EMULATOR_PORT=str(iot_backend.port),
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(
        f"error: refusing to {command}: {iot_backend.endpoint} is answered by the embedded backend of "
        f"{iot_backend.state_dir}, not by this stack's embedded backend ({tmp_path / 'embedded'})"
    )
    assert result.stderr.count("\n") == 1
    assert stack.client("dynamodb").describe_table(TableName=stack.outputs["table"])["Table"]["TableStatus"]
    # The stack's queue URL names the emulator as localhost, ListQueues as the caller's host: the name is the queue.
    queue = stack.outputs["queue_url"].rsplit("/", 1)[1]
    assert stack.client("sqs").get_queue_url(QueueName=queue)["QueueUrl"].endswith(f"/{queue}")


def test_emulator_port_alone_points_status_and_the_simulator_at_that_stack(stack, iot_backend):
    settings = {
        "STACK_ENV": stack.config.env,
        "STATE_DIR": str(Path(iot_backend.state_dir).parent),
        "EMULATOR_PORT": str(iot_backend.port),
    }
    status = run("bootstrap", "status", **settings)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["endpoint"] == iot_backend.endpoint
    assert isinstance(report["table_items"], int) and set(report["ingest_queue"]) == {"visible", "in_flight"}

    # A queue of its own, so the shared stack's counts stay as the other tests expect them.
    queue_url = stack.client("sqs").create_queue(QueueName="one-port-simulator")["QueueUrl"]
    sent = run("simulator", "--count", "5", "--rate", "100", "--queue-url", queue_url, **settings)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["messages_sent"] == 5
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "5"


@pytest.mark.parametrize("command", ["deploy", "status", "teardown", "logs"])
def test_with_nothing_listening_each_command_fails_fast_saying_make_up(command, tmp_path):
    port = free_port()
    started = time.monotonic()
    result = run("bootstrap", command, STATE_DIR=str(tmp_path), EMULATOR_PORT=str(port))
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert result.stderr == (
        f"error: nothing answers on http://127.0.0.1:{port} (connection refused): start the stack with `make up`\n"
    )
    # 0.3 s measured; the bound leaves room for a loaded machine.
    assert elapsed < 5
