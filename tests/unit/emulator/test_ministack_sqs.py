"""Contract of the SQS patches, on MiniStack's own queue records, in process."""

import asyncio
import importlib
import json
import time

import pytest

from emulator.ministack import sqs as sqs_patches
from emulator.ministack import ttl
from emulator.ministack.registry import PatchRegistry


@pytest.fixture
def sqs():
    ttl.import_dynamodb()
    module = importlib.import_module("ministack.services.sqs")
    module.reset()
    registry = PatchRegistry()
    registry.apply(sqs_patches.DELETE_MESSAGE_BATCH_IN_ONE_PASS)
    registry.apply(sqs_patches.RECEIVE_WITHOUT_FULL_SCANS)
    yield module
    registry.undo()
    module.reset()


def call(sqs, action, **data):
    headers = {"x-amz-target": f"AmazonSQS.{action}", "host": "localhost:4566"}
    status, _headers, body = asyncio.run(sqs.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    assert status == 200, body
    return json.loads(body) if body else {}


def queue(sqs, name, count=0, **attributes):
    url = call(sqs, "CreateQueue", QueueName=name, Attributes=attributes)["QueueUrl"]
    for first in range(0, count, 10):
        entries = [{"Id": str(n), "MessageBody": f"m{n}"} for n in range(first, min(count, first + 10))]
        call(sqs, "SendMessageBatch", QueueUrl=url, Entries=entries)
    return url, sqs._get_q(url)


class CountingHandleReads(dict):
    reads = 0

    def __getitem__(self, key):
        if key == "receipt_handle":
            CountingHandleReads.reads += 1
        return super().__getitem__(key)


class Unreadable(dict):
    """A message the receive must not reach."""

    def __getitem__(self, key):
        raise AssertionError(f"read {key!r} of a message past the batch")

    get = __getitem__


def test_delete_message_batch_looks_at_each_message_once_and_fails_unknown_handles(sqs):
    url, record = queue(sqs, "deletes", count=5)
    received = call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=3)["Messages"]
    record["messages"] = [CountingHandleReads(m) for m in record["messages"]]
    CountingHandleReads.reads = 0
    entries = [{"Id": f"e{n}", "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)]
    result = sqs._HANDLERS["DeleteMessageBatch"]({"Entries": [*entries, {"Id": "bad", "ReceiptHandle": "x"}]}, url)
    assert result["Successful"] == [{"Id": "e0"}, {"Id": "e1"}, {"Id": "e2"}]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in result["Failed"]] == [
        ("bad", "ReceiptHandleIsInvalid", True)
    ]
    assert CountingHandleReads.reads == 5  # each message looked at once, not once per entry
    assert sorted(m["body"] for m in record["messages"]) == ["m3", "m4"]


def test_delete_message_batch_reads_no_further_into_the_queue_than_its_last_message(sqs):
    url, record = queue(sqs, "drain", count=30)
    received = call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    kept_between = record["messages"][1:9:2]  # the batch deletes every other message of the first 10
    entries = [{"Id": f"e{n}", "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received[::2])]
    backlog = record["messages"][10:]
    record["messages"] = [*record["messages"][:10], Unreadable(), *backlog]
    result = call(sqs, "DeleteMessageBatch", QueueUrl=url, Entries=entries)
    assert sorted(s["Id"] for s in result["Successful"]) == ["e0", "e1", "e2", "e3", "e4"]
    assert not result.get("Failed")
    # The batch's last message was the 9th: the rest of the queue is kept, in order, unread.
    assert record["messages"][:4] == kept_between
    assert isinstance(record["messages"][5], Unreadable) and record["messages"][6:] == backlog
    assert len(record["messages"]) == 30 - 5 + 1


def test_receive_reads_no_further_into_the_queue_than_the_batch(sqs):
    url, record = queue(sqs, "backlog", count=5)
    call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=1)
    record["messages"].append(Unreadable())
    bodies = [m["Body"] for m in call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=2)["Messages"]]
    assert bodies == ["m1", "m2"]
    assert [m["Body"] for m in call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=2)["Messages"]] == [
        "m3",
        "m4",
    ]


def test_a_message_at_max_receive_count_moves_to_the_dead_letter_queue_at_its_receive_attempt(sqs):
    _dlq_url, dlq = queue(sqs, "parked")
    policy = json.dumps({"maxReceiveCount": 1, "deadLetterTargetArn": dlq["attributes"]["QueueArn"]})
    url, record = queue(sqs, "redriven", count=2, RedrivePolicy=policy)
    first = call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    call(sqs, "ChangeMessageVisibility", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs._collect_msgs(record, 10, 30)
    assert [m["body"] for m in again] == ["m1"]
    assert [m["body"] for m in record["messages"]] == ["m1"]
    [parked] = dlq["messages"]
    assert parked["body"] == "m0" and parked["receipt_handle"] is None
    assert parked["sys"]["DeadLetterQueueSourceArn"] == record["attributes"]["QueueArn"]


def test_a_queue_whose_dead_letter_queue_is_gone_keeps_redelivering(sqs):
    dlq_url, dlq = queue(sqs, "gone")
    policy = json.dumps({"maxReceiveCount": 1, "deadLetterTargetArn": dlq["attributes"]["QueueArn"]})
    _url, record = queue(sqs, "orphan", count=1, RedrivePolicy=policy)
    call(sqs, "DeleteQueue", QueueUrl=dlq_url)
    for _ in range(3):
        [message] = sqs._collect_msgs(record, 10, 0)
    assert message["receive_count"] == 3


def test_fifo_queues_keep_ministacks_own_receive_and_sweep(sqs):
    url = call(sqs, "CreateQueue", QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for n, group in enumerate(["a", "b", "a"]):
        call(sqs, "SendMessage", QueueUrl=url, MessageBody=f"m{n}", MessageGroupId=group, MessageDeduplicationId=str(n))
    record = sqs._get_q(url)
    assert [m["body"] for m in sqs._collect_msgs(record, 10, 30)] == ["m0", "m1", "m2"]
    assert sqs._collect_msgs(record, 10, 30) == []


def test_retention_is_checked_at_most_every_few_seconds(sqs, monkeypatch):
    _url, record = queue(sqs, "retained", count=2, MessageRetentionPeriod="60")
    record["messages"][0]["sent_at"] = time.time() - 120
    sqs._expire_retained(record)
    assert [m["body"] for m in record["messages"]] == ["m1"]
    record["messages"][0]["sent_at"] = time.time() - 120
    sqs._expire_retained(record)
    assert [m["body"] for m in record["messages"]] == ["m1"]
    monkeypatch.setattr(sqs_patches, "RETENTION_CHECK_SECONDS", 0.0)
    sqs._expire_retained(record)
    assert record["messages"] == []
