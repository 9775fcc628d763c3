"""Contract of the journal's hooks, on MiniStack's own state, in process: what each choke point
journals, replayed onto the snapshot taken before, gives the state back exactly; twice gives the
same; and a checkpoint leaves one generation."""

import asyncio
import base64
import importlib
import json
from types import SimpleNamespace

import pytest

from device_data.table import key_definition
from emulator.expiry_index import ExpiryIndex
from emulator.firehose_buffer import FirehoseBuffers
from emulator.journal_file import generation_path, generations, read_generation
from emulator.ministack import compact, persistence, ttl
from emulator.ministack import journal as journal_module
from emulator.ministack import sqs as sqs_patches
from emulator.ministack.journal import Entry, Journal, LinkedImage
from emulator.ministack.registry import PatchRegistry
from emulator.ministack.saves import SaveLog, saves_known
from emulator.ttl_rules import TTL_IDENTITY

TABLE = "readings"
ACCOUNT, REGION = "000000000000", "us-east-1"
STREAM = {"name": "history", "destinations": [{"id": "d1", "config": {}}]}


@pytest.fixture
def stack(tmp_path, monkeypatch):
    dynamodb = ttl.import_dynamodb()
    sqs = importlib.import_module("ministack.services.sqs")
    saved = importlib.import_module("ministack.core.persistence")
    monkeypatch.setattr(saved, "PERSIST_STATE", True)
    monkeypatch.setattr(saved, "STATE_DIR", str(tmp_path / "state"))
    dynamodb.reset()
    sqs.reset()
    journal = Journal(tmp_path / "journal", 1024 * 1024, sync=False)
    registry = PatchRegistry()
    expiries = ExpiryIndex()
    for patch in (
        persistence.STREAM_RECORDS_PERSISTED,
        sqs_patches.DELETE_MESSAGE_BATCH_IN_ONE_PASS,
        sqs_patches.RECEIVE_WITHOUT_FULL_SCANS,
        compact.COMPACT_ITEMS_AND_STREAMS,
        ttl.expiries_indexed(expiries),
        saves_known(SaveLog(), sync=False),
        journal_module.journaled(journal),
    ):
        registry.apply(patch)
    journal.start()
    buffers = FirehoseBuffers(lambda stream, destination, body, _oldest: None)
    buffers.log = journal
    yield SimpleNamespace(journal=journal, expiries=expiries, dynamodb=dynamodb, sqs=sqs, buffers=buffers, saved=saved)
    registry.undo()
    dynamodb.reset()
    sqs.reset()


def dynamodb_call(dynamodb, action, **data):
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = asyncio.run(dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    assert status == 200, body
    return json.loads(body) if body else {}


def sqs_call(sqs, action, **data):
    headers = {"x-amz-target": f"AmazonSQS.{action}", "host": "localhost:4566"}
    status, _headers, body = asyncio.run(sqs.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    assert status == 200, body
    return json.loads(body) if body else {}


def create_table(dynamodb, view="NEW_AND_OLD_IMAGES"):
    dynamodb_call(
        dynamodb,
        "CreateTable",
        TableName=TABLE,
        **key_definition(),
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )


def reading(n, device="dev-1"):
    return {"deviceID": {"S": device}, "createdAt": {"N": str(1000 + n)}, "temperature": {"N": "21.5"}}


def snapshot(stack):
    """What MiniStack's files would hold now, through the same JSON encoding."""
    saved = stack.saved
    return {
        name: json.loads(
            json.dumps(module.get_state(), default=saved._json_default), object_hook=saved._json_object_hook
        )
        for name, module in (("dynamodb", stack.dynamodb), ("sqs", stack.sqs))
    }


def restart_from(stack, files):
    """As a start after a kill: MiniStack loads its files, then the journal is replayed."""
    stack.journal.writer.flush()
    stack.dynamodb.reset()
    stack.sqs.reset()
    stack.dynamodb.load_persisted_state(files["dynamodb"])
    stack.sqs.load_persisted_state(files["sqs"])
    recovery = stack.journal.recover(stack.buffers)
    compact.after_load()
    return recovery


def dynamodb_state(dynamodb):
    items = {
        key: {pk: dict(by_sort_key) for pk, by_sort_key in table["items"].items()}
        for key, table in dynamodb._tables.all_items()
    }
    streams = {key: list(records) for key, records in dynamodb._stream_records.all_items()}
    return items, streams


def sqs_state(sqs):
    fields = ("id", "body", "receipt_handle", "visible_at", "receive_count", "first_receive_at")
    return {
        queue["attributes"]["QueueArn"].rsplit(":", 1)[1]: [tuple(m.get(f) for f in fields) for m in queue["messages"]]
        for _key, queue in sqs._queues.all_items()
    }


def entries(journal):
    journal.writer.flush()
    return [
        e
        for g in generations(journal.directory)
        for r in read_generation(generation_path(journal.directory, g))
        for e in r
    ]


def test_item_writes_and_their_stream_records_replay_onto_the_snapshot_exactly_and_twice_the_same(stack):
    create_table(stack.dynamodb)
    files = snapshot(stack)
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item=reading(0))
    dynamodb_call(
        stack.dynamodb,
        "BatchWriteItem",
        RequestItems={TABLE: [{"PutRequest": {"Item": reading(n)}} for n in range(1, 26)]},
    )
    dynamodb_call(
        stack.dynamodb,
        "UpdateItem",
        TableName=TABLE,
        Key={"deviceID": {"S": "dev-1"}, "createdAt": {"N": "1001"}},
        UpdateExpression="SET temperature = :t",
        ExpressionAttributeValues={":t": {"N": "30"}},
    )
    dynamodb_call(
        stack.dynamodb, "DeleteItem", TableName=TABLE, Key={"deviceID": {"S": "dev-1"}, "createdAt": {"N": "1002"}}
    )
    before = dynamodb_state(stack.dynamodb)
    assert [r["eventName"] for r in before[1][(ACCOUNT, REGION, TABLE)]][-3:] == ["INSERT", "MODIFY", "REMOVE"]

    recovery = restart_from(stack, files)
    assert dynamodb_state(stack.dynamodb) == before
    # The UpdateItem's record carries a copy of the old item, so it is journaled whole.
    assert recovery.entries == {"P": 27, "R": 1, "S": 2, "s": 26}
    assert type(stack.dynamodb._stream_records.get_scoped(ACCOUNT, REGION, TABLE)) is compact.CompactRecords

    restart_from(stack, files)
    stack.journal.recover(stack.buffers)
    assert dynamodb_state(stack.dynamodb) == before


def test_records_in_the_snapshot_of_a_table_the_journal_does_not_touch_come_back_as_they_were(stack):
    create_table(stack.dynamodb)
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item=reading(0))
    services = {"dynamodb": stack.dynamodb.get_state, "sqs": stack.sqs.get_state}
    asyncio.run(stack.journal.checkpoint(stack.buffers, lambda: services))
    sqs_call(
        stack.sqs,
        "SendMessage",
        QueueUrl=sqs_call(stack.sqs, "CreateQueue", QueueName="q")["QueueUrl"],
        MessageBody="m",
    )
    before = dynamodb_state(stack.dynamodb)
    restart_from(stack, {name: stack.saved.load_state(name) for name in services})
    assert dynamodb_state(stack.dynamodb) == before


def test_a_record_whose_images_are_the_item_just_written_is_journaled_without_them(stack):
    create_table(stack.dynamodb)
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item=reading(0))
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item={**reading(0), "temperature": {"N": "22"}})
    first, second = [e for e in entries(stack.journal) if e[0] in (Entry.STREAM_RECORD, Entry.PACKED_STREAM_RECORD)]
    # The table's first record, in the list MiniStack made, is a dict; the next one is packed.
    assert first[0] == Entry.STREAM_RECORD and first[5] == LinkedImage.NEW
    assert "NewImage" not in first[4]["dynamodb"] and "OldImage" not in first[4]["dynamodb"]
    assert second[0] == Entry.PACKED_STREAM_RECORD and second[5] == LinkedImage.OLD | LinkedImage.NEW
    assert not any(isinstance(field, dict) for field in second[4]), "no image among the record's fields"


def test_the_ttl_sweeps_removals_and_their_records_replay_with_the_service_identity(stack):
    create_table(stack.dynamodb)
    dynamodb_call(
        stack.dynamodb,
        "UpdateTimeToLive",
        TableName=TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiredAt"},
    )
    files = snapshot(stack)
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item={**reading(0), "expiredAt": {"N": "1"}})
    assert asyncio.run(ttl.sweep_expired_items(stack.expiries, now=10.0)) == 1
    before = dynamodb_state(stack.dynamodb)
    restart_from(stack, files)
    after = dynamodb_state(stack.dynamodb)
    assert after == before
    removal = after[1][(ACCOUNT, REGION, TABLE)][-1]
    assert removal["eventName"] == "REMOVE" and removal["userIdentity"] == TTL_IDENTITY


def test_messages_sent_received_deleted_redriven_and_purged_replay_with_their_handles(stack):
    sqs = stack.sqs
    dlq_url = sqs_call(sqs, "CreateQueue", QueueName="parked")["QueueUrl"]
    dlq_arn = sqs._get_q(dlq_url)["attributes"]["QueueArn"]
    policy = json.dumps({"maxReceiveCount": 1, "deadLetterTargetArn": dlq_arn})
    url = sqs_call(sqs, "CreateQueue", QueueName="ingest", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    purged_url = sqs_call(sqs, "CreateQueue", QueueName="purged")["QueueUrl"]
    files = snapshot(stack)
    sqs_call(sqs, "SendMessageBatch", QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(6)])
    sqs_call(sqs, "SendMessage", QueueUrl=purged_url, MessageBody="gone")
    sqs_call(sqs, "PurgeQueue", QueueUrl=purged_url)
    received = sqs_call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=4)["Messages"]
    sqs_call(sqs, "DeleteMessage", QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    sqs_call(
        sqs,
        "DeleteMessageBatch",
        QueueUrl=url,
        Entries=[{"Id": "a", "ReceiptHandle": received[1]["ReceiptHandle"]}, {"Id": "b", "ReceiptHandle": "nope"}],
    )
    sqs_call(
        sqs, "ChangeMessageVisibility", QueueUrl=url, ReceiptHandle=received[2]["ReceiptHandle"], VisibilityTimeout=0
    )
    sqs_call(
        sqs,
        "ChangeMessageVisibilityBatch",
        QueueUrl=url,
        Entries=[{"Id": "c", "ReceiptHandle": received[3]["ReceiptHandle"], "VisibilityTimeout": 0}],
    )
    # m2 and m3 are visible again at their second receive: they move to the dead-letter queue.
    again = sqs_call(sqs, "ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in again) == ["m4", "m5"]
    before = sqs_state(sqs)
    assert [m[1] for m in before["parked"]] == ["m2", "m3"] and before["purged"] == []

    restart_from(stack, files)
    assert sqs_state(sqs) == before
    sqs_call(sqs, "DeleteMessage", QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])


def test_firehose_records_not_yet_in_s3_come_back_to_the_buffers_and_delivered_ones_do_not(stack):
    firehose = importlib.import_module("ministack.services.firehose")
    firehose._streams.set_scoped(ACCOUNT, REGION, "history", STREAM)
    try:
        destination = STREAM["destinations"][0]
        stack.buffers.add(STREAM, destination, [b"a\n"])
        stack.buffers.flush_all()
        stack.buffers.add(STREAM, destination, [b"b\n", b"c\n"])
        restored = FirehoseBuffers(lambda stream, destination, body, _oldest: None)
        stack.journal.writer.flush()
        stack.journal.recover(restored)
        assert [(r.stream, r.destination, r.payloads) for r in restored.pending()] == [
            ("history", "d1", [b"b\n", b"c\n"])
        ]
        added = [e for e in entries(stack.journal) if e[0] == Entry.FIREHOSE_ADDED]
        assert [base64.b64decode(p) for e in added for p in e[4]] == [b"a\n", b"b\n", b"c\n"]
    finally:
        firehose._streams.pop_scoped(ACCOUNT, REGION, "history", None)


def test_items_swapped_wholesale_ask_for_a_checkpoint(stack):
    create_table(stack.dynamodb)
    stack.dynamodb._items_replaced(stack.dynamodb._tables.get(TABLE))
    assert stack.journal.checkpoint_needed


@pytest.mark.parametrize("started_by", ["stacks", "handlers", "changesets"])
def test_a_cloudformation_stack_task_asks_for_a_checkpoint_when_it_ends_not_before(stack, started_by):
    """CloudFormation creates resources after CreateStack is answered: what a complete stack made
    must be in a snapshot before the next answer, or a kill loses the queues and tables it built."""
    module = importlib.import_module(f"ministack.services.cloudformation.{started_by}")
    seen_while_running = []

    async def stack_task():
        seen_while_running.append(stack.journal.checkpoint_needed)

    async def run():
        module._create_stack_task_in_region(stack_task(), None, None)
        while not seen_while_running or not stack.journal.checkpoint_needed:
            await asyncio.sleep(0)

    asyncio.run(asyncio.wait_for(run(), 5))
    assert seen_while_running == [False]
    assert stack.journal.checkpoint_needed


def test_a_checkpoint_writes_the_snapshot_and_leaves_one_generation_that_replays_onto_it(stack):
    create_table(stack.dynamodb)
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item=reading(0))
    stack.buffers.add(STREAM, STREAM["destinations"][0], [b"pending\n"])
    services = {"dynamodb": stack.dynamodb.get_state, "sqs": stack.sqs.get_state}
    asyncio.run(stack.journal.checkpoint(stack.buffers, lambda: services))
    assert generations(stack.journal.directory) == [stack.journal.writer.generation]
    [pending] = entries(stack.journal)
    assert pending[0] == Entry.FIREHOSE_PENDING and base64.b64decode(pending[1][0][3][0]) == b"pending\n"
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item=reading(1))
    before = dynamodb_state(stack.dynamodb)
    files = {name: stack.saved.load_state(name) for name in ("dynamodb", "sqs")}
    restart_from(stack, files)
    assert dynamodb_state(stack.dynamodb) == before


def test_a_checkpoint_whose_snapshot_cannot_be_written_keeps_the_older_generations(stack, tmp_path, monkeypatch):
    create_table(stack.dynamodb)
    dynamodb_call(stack.dynamodb, "PutItem", TableName=TABLE, Item=reading(0))
    (tmp_path / "blocked").write_text("a file where the state folder should be")
    monkeypatch.setattr(stack.saved, "STATE_DIR", str(tmp_path / "blocked"))
    kept = generations(stack.journal.directory)
    with pytest.raises(journal_module.CheckpointFailed, match="dynamodb"):
        asyncio.run(stack.journal.checkpoint(stack.buffers, lambda: {"dynamodb": stack.dynamodb.get_state}))
    assert set(kept) < set(generations(stack.journal.directory))
    assert stack.journal.failure is None and "dynamodb" in stack.journal.status()["last_checkpoint_error"]
