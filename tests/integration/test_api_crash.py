"""Nothing acknowledged is lost when the API process, or the function workers, are killed (kill -9)
in the middle of a run, on a backend of its own (killing it must not disturb the other tests).
(The data plane killed mid-run: test_accounting.py and test_restarts.py.)"""

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from device_data.messages import MessageFate
from emulator.lifecycle import Paths, free_port, proc_stat, process_alive, stop
from emulator.settings import EmulatorSettings
from iot_pipeline_testing import wait_for
from iot_pipeline_testing.plugin import FRESH_STACK_SETTINGS, deploy
from simulator.fleet import make_fleet
from simulator.payloads import Outgoing, Plan, PlanSettings

pytestmark = pytest.mark.integration

MESSAGES = 200
BATCH = 10
# One in this many is a message the ingest function must park: each one's body is its own, so
# the dead-letter queue can be counted by body.
MALFORMED_EVERY = 15
# After the restart: how long the devices may take to have every message acknowledged.
SEND_DEADLINE_SECONDS = 60
FUNCTION_TIMEOUT_SECONDS = 3


@pytest.fixture(scope="module")
def own_backend(tmp_path_factory):
    settings = EmulatorSettings(
        port=free_port(), state_dir=str(tmp_path_factory.mktemp("killed") / "embedded"), ttl_sweep_seconds=0.5
    )
    start_with_the_cli(settings)
    yield settings
    stop(settings, progress=lambda _line: None)


@pytest.fixture(scope="module")
def crash_stack(own_backend, tmp_path_factory):
    # Functions get 3 s: 1 s timed out every cold start on a busy machine. A message whose
    # invocation a kill cut off comes back after the queue's visibility timeout, which the stack
    # sets to 6 times that (AWS's guidance); twice is enough here, and a message handled twice
    # is counted once (the books count readings by identity), so the tests wait 6 s, not 18 s.
    state_dir = str(tmp_path_factory.mktemp("crash"))
    settings = {**FRESH_STACK_SETTINGS, "FUNCTION_TIMEOUT_SECONDS": str(FUNCTION_TIMEOUT_SECONDS)}
    stack = deploy(own_backend.endpoint, "crash", state_dir, settings)
    stack.client("sqs").set_queue_attributes(
        QueueUrl=stack.outputs["queue_url"], Attributes={"VisibilityTimeout": str(2 * FUNCTION_TIMEOUT_SECONDS)}
    )
    return stack


def start_with_the_cli(settings):
    environment = {
        **os.environ,
        "EMULATOR_PORT": str(settings.port),
        "STATE_DIR": str(Path(settings.state_dir).parent),
        "TTL_SWEEP_SECONDS": str(settings.ttl_sweep_seconds),
    }
    subprocess.run([sys.executable, "-m", "emulator", "start"], env=environment, check=True, capture_output=True)


def planned_run(seed):
    rng = random.Random(seed)
    plan = Plan(make_fleet(30, 0.1, rng), PlanSettings(backdate_ratio=0.1, plain_json_ratio=0.2), rng)
    messages = [message for batch in plan.batches(MESSAGES, BATCH) for message in batch]
    for n in range(0, MESSAGES, MALFORMED_EVERY):
        body = f"not a reading {seed}-{n}"
        messages[n] = Outgoing(body, "", "malformed:not_base64", MessageFate.DEAD_LETTERED, ())
    return messages


class Producer(threading.Thread):
    """As a device does: each batch again until SQS has acknowledged every message of it (through
    the kill: the API refuses connections while it restarts). It sends the first half, waits for
    `go`, then sends the rest: the kill comes as the second half starts."""

    def __init__(self, sqs, queue_url, messages):
        super().__init__(daemon=True)
        self.sqs, self.queue_url, self.messages = sqs, queue_url, messages
        self.acknowledged: set[int] = set()
        self.half_sent, self.go, self.give_up = threading.Event(), threading.Event(), threading.Event()

    def run(self):
        for first in range(0, len(self.messages), BATCH):
            if first == len(self.messages) // 2:
                self.half_sent.set()
                self.go.wait()
            self.send(range(first, min(first + BATCH, len(self.messages))))

    def send(self, numbers):
        pending = {str(n): self.messages[n].body for n in numbers}
        while pending and not self.give_up.is_set():
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[{"Id": n, "MessageBody": body} for n, body in pending.items()]
                )
            except (BotoCoreError, ClientError):
                self.give_up.wait(0.1)
                continue
            for sent in response.get("Successful", []):
                self.acknowledged.add(int(sent["Id"]))
                del pending[sent["Id"]]


def parked_bodies(stack):
    sqs, bodies = stack.client("sqs"), set()
    while batch := sqs.receive_message(
        QueueUrl=stack.outputs["dlq_url"], MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages", []):
        bodies |= {message["Body"] for message in batch}
    return bodies


def control_plane(stack):
    lambda_ = stack.client("lambda")
    return {
        "queues": sorted(stack.client("sqs").list_queues()["QueueUrls"]),
        "functions": sorted(f["FunctionName"] for f in lambda_.list_functions()["Functions"]),
        "mappings": sorted(m["UUID"] for m in lambda_.list_event_source_mappings()["EventSourceMappings"]),
        "table": stack.client("dynamodb").describe_table(TableName=stack.outputs["table"])["Table"]["LatestStreamArn"],
    }


def function_workers(settings, env):
    """The pids of the stack's function workers: children of the API process, each running its
    function's code extracted under the state folder."""
    api = int(Paths(Path(settings.state_dir)).pid_file("api").read_text())
    workers = []
    for entry in Path("/proc").iterdir():
        fields = proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and int(fields[1]) == api:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            if f"ministack-lambda-{env}-" in command:
                workers.append(int(entry.name))
    return workers


def kill_api(settings):
    pid = int(Paths(Path(settings.state_dir)).pid_file("api").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), timeout=10, interval=0.05, message=f"the API process {pid} to die")


def test_nothing_acknowledged_is_lost_when_the_api_process_is_killed_mid_run(own_backend, crash_stack):
    """SIGKILL of the API process while devices send and every function works, restart with
    `python -m emulator start`, then the books balance exactly: what was stored (in the table, or
    archived once its TTL passed) + what was filtered + what was parked == what was sent."""
    stack = crash_stack
    before = control_plane(stack)
    messages = planned_run(21)
    producer = Producer(stack.client("sqs"), stack.outputs["queue_url"], messages)
    producer.start()
    wait_for(
        lambda: producer.half_sent.is_set() and stack.table_items(),
        timeout=30,
        interval=0.05,
        message="the run under way: half the messages sent and readings stored",
    )
    producer.go.set()
    kill_api(own_backend)
    acknowledged_at_kill = len(producer.acknowledged)
    start_with_the_cli(own_backend)
    producer.join(timeout=SEND_DEADLINE_SECONDS)
    producer.give_up.set()
    assert acknowledged_at_kill < MESSAGES, "the kill came mid-run"
    assert len(producer.acknowledged) == MESSAGES, "the queue took messages again after the restart"
    assert control_plane(stack) == before, "queues, functions, mappings and the stream kept"
    assert_the_books_balance(stack, messages)


def test_nothing_is_lost_when_the_function_workers_are_killed_mid_run(own_backend, crash_stack):
    """SIGKILL of every function worker (ingest, history, archive) while they work: MiniStack
    starts new ones, the batches they had are delivered again, and the books balance exactly."""
    stack = crash_stack
    messages = planned_run(22)
    producer = Producer(stack.client("sqs"), stack.outputs["queue_url"], messages)
    producer.start()
    wait_for(
        lambda: producer.half_sent.is_set() and len(function_workers(own_backend, "crash")) >= 2,
        timeout=30,
        interval=0.05,
        message="the run under way: half the messages sent and the functions at work",
    )
    killed = function_workers(own_backend, "crash")
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    producer.go.set()
    producer.join(timeout=SEND_DEADLINE_SECONDS)
    producer.give_up.set()
    assert len(producer.acknowledged) == MESSAGES
    assert_the_books_balance(stack, messages)


def assert_the_books_balance(stack, messages):
    """SQS delivers at least once, on AWS as here: a batch whose answer a kill cut off is sent
    again by the device (a second message for the same reading), and a message the ingest
    function had handled but not yet deleted is handled again. So the books count this run's
    readings by their identity, not messages: items by (deviceID, createdAt), parked messages by
    their body (each malformed one is unique), history lines by (action, keys)."""
    keys = {key for m in messages for key in m.keys}
    stored = {key for m in messages if m.fate == MessageFate.STORED for key in m.keys}
    expired = {key for m in messages if m.fate == MessageFate.STORED and m.expired for key in m.keys}
    malformed = {m.body for m in messages if m.fate == MessageFate.DEAD_LETTERED}
    wait_for(lambda: stack.queue_depth(stack.outputs["queue_url"]) == 0, timeout=60, message="the queue to drain")

    def table_keys():
        return {(i["deviceID"]["S"], int(i["createdAt"]["N"])) for i in stack.table_items()} & keys

    def archived_keys():
        entries = stack.archived_items()
        return {(e["keys"]["deviceID"]["S"], int(e["keys"]["createdAt"]["N"])) for _, _, e in entries} & keys

    def history_keys():
        return {
            (line["action"], line["keys"]["deviceID"], int(line["keys"]["createdAt"])) for line in stack.history_lines()
        }

    wait_for(lambda: table_keys() == stored - expired, timeout=60, message="every live reading in the table")
    wait_for(lambda: archived_keys() >= expired, timeout=60, message="every expired reading archived")
    changes = {("INSERT", *key) for key in stored} | {("REMOVE", *key) for key in expired}
    wait_for(lambda: history_keys() >= changes, timeout=60, message="a history line for every change")
    assert archived_keys() == expired

    parked = parked_bodies(stack) & {m.body for m in messages}
    assert parked == malformed
    filtered = [m for m in messages if m.fate == MessageFate.FILTERED]
    assert not {key for m in filtered for key in m.keys} & (table_keys() | archived_keys())
    stored_messages = [m for m in messages if m.fate == MessageFate.STORED]
    assert len(stored_messages) + len(filtered) + len(parked) == MESSAGES
