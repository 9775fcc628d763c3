"""Nothing is lost: for a simulated run with a known mix, every message ends where it should."""

import json
import signal
import threading
from collections import Counter

import pytest

from emulator.lifecycle import start
from handlers.core.ingest_rules import REJECTION_CODES
from iot_pipeline_testing import wait_for
from simulator.__main__ import main as simulate
from tests.integration.helpers import end_process

pytestmark = pytest.mark.integration


def run_simulator(stack, monkeypatch, tmp_path, *arguments, via="sqs"):
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)
    report_path = tmp_path / "report.json"
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(stack.outputs))
    assert simulate(["--via", via, "--outputs", str(outputs), "--report", str(report_path), *arguments]) == 0
    return json.loads(report_path.read_text())


def dlq_messages(stack):
    sqs, messages = stack.client("sqs"), {}
    for _ in range(200):
        batch = sqs.receive_message(
            QueueUrl=stack.outputs["dlq_url"],
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
            messages[attributes["source_message_id"]] = attributes
    return messages


def assert_balanced(stack, report, *, redelivered=False):
    """Every message stored, filtered or parked, every expiry archived, every change in the history.

    With `redelivered`, a crash made SQS deliver some messages again, as it may on AWS (delivery is
    at least once): a backdated reading stored a second time expires a second time, and that second
    expiry is a change of its own. Stream batches are at least once too: a batch invoked but not yet
    checkpointed when the data plane died is read again, in other boundaries, so its archive entries
    may be written twice (readers de-duplicate by event_id). The books then balance per reading."""
    expected = report["expected"]
    wait_for(
        lambda: stack.queue_depth(stack.outputs["queue_url"]) == 0, timeout=60, message="the ingest queue to drain"
    )
    wait_for(
        lambda: len(stack.table_items()) == expected["table_items"],
        timeout=60,
        message=f"{expected['table_items']} live items in the table",
    )
    wait_for(
        lambda: stack.archived_item_count() >= expected["archive"]["items"],
        timeout=60,
        message=f"{expected['archive']['items']} archived items",
    )
    wanted_changes = {"INSERT": expected["readings"]["stored"], "REMOVE": expected["readings"]["expired"]}
    wait_for(
        lambda: history_changes(stack, per_reading=redelivered) == wanted_changes,
        timeout=60,
        message=f"history changes {wanted_changes}",
    )

    items = stack.table_items()
    assert len({(i["deviceID"]["S"], i["createdAt"]["N"]) for i in items}) == len(items) == expected["table_items"]
    parked = dlq_messages(stack)
    assert len(parked) == expected["dead_letter_queue"]["visible"]
    assert all(p["error_code"] in REJECTION_CODES and p["error_reason"] for p in parked.values())
    sent_malformed = Counter(
        {kind.split(":", 1)[1]: n for kind, n in report["messages_per_kind"].items() if kind.startswith("malformed:")}
    )
    assert Counter(p["error_code"] for p in parked.values()) == sent_malformed
    archived = [entry for _, _, entry in stack.archived_items()]
    archived_readings = {(e["keys"]["deviceID"]["S"], e["keys"]["createdAt"]["N"]) for e in archived}
    assert len(archived_readings) == expected["archive"]["items"]
    if not redelivered:
        assert len(archived) == len({e["event_id"] for e in archived}) == expected["archive"]["items"], (
            "each expiry archived once"
        )
    rule_errors = stack.drain(stack.outputs["iot_errors_queue_url"])
    assert len(rule_errors) == expected["iot_errors_queue"]["visible"]
    assert all(json.loads(m["Body"])["failures"][0]["errorMessage"] for m in rule_errors)
    # Every message published is accounted for, exactly once.
    assert sum(expected["messages"].values()) == report["messages_sent"]
    assert expected["history"]["lines"] == sum(wanted_changes.values())


def history_changes(stack, *, per_reading):
    """How many distinct changes of each action the history holds, counted by stream event, or
    by reading when a reading may have been stored (and expired) more than once."""
    lines = stack.history_lines()
    if per_reading:
        distinct = {(line["action"], line["keys"]["deviceID"], line["keys"]["createdAt"]) for line in lines}
    else:
        distinct = {(line["action"], line["event_id"]) for line in lines}
    return dict(Counter(action for action, *_ in distinct))


def test_a_simulated_run_balances_exactly(iot_deploy, monkeypatch, tmp_path):
    stack = iot_deploy("acct")
    report = run_simulator(
        stack,
        monkeypatch,
        tmp_path,
        "--count",
        "400",
        "--rate",
        "300",
        "--devices",
        "30",
        "--bad-ratio",
        "0.1",
        "--backdate-ratio",
        "0.1",
        "--seed",
        "11",
    )
    assert report["messages_sent"] == 400 and report["messages_not_sent"] == 0
    assert report["expected"]["messages"]["filtered"] > 0 and report["expected"]["messages"]["dead_lettered"] > 0
    assert_balanced(stack, report)


def test_a_run_published_over_mqtt_by_every_device_balances_exactly(device_stack, monkeypatch, tmp_path):
    stack = device_stack("acct")
    report = run_simulator(
        stack,
        monkeypatch,
        tmp_path,
        *("--count", "400", "--rate", "300", "--devices", "40", "--bad-ratio", "0.1", "--backdate-ratio", "0.1"),
        *("--seed", "13"),
        via="mqtt",
    )
    assert report["via"] == "mqtt" and report["messages_sent"] == 400 and report["messages_not_sent"] == 0
    assert len(report["messages_per_device"]) == 40
    assert report["expected"]["messages"]["dead_lettered"] > 0 and report["expected"]["messages"]["iot_errors"] > 0
    assert_balanced(stack, report)


def test_the_books_still_balance_when_the_data_plane_is_killed_mid_run(iot_deploy, iot_backend, monkeypatch, tmp_path):
    # A short function timeout keeps the queue's visibility timeout (6x) short, so messages the
    # killed data plane had taken come back within seconds.
    stack = iot_deploy("crash", FUNCTION_TIMEOUT_SECONDS="1")
    killer = threading.Timer(1.0, end_process, args=(iot_backend, signal.SIGKILL))
    killer.start()
    report = run_simulator(
        stack,
        monkeypatch,
        tmp_path,
        "--count",
        "400",
        "--rate",
        "200",
        "--devices",
        "30",
        "--bad-ratio",
        "0.05",
        "--backdate-ratio",
        "0.1",
        "--seed",
        "12",
    )
    killer.join()
    start(iot_backend, progress=lambda _line: None)
    assert_balanced(stack, report, redelivered=True)
