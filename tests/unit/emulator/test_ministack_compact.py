"""Compact stream records and shared values: every reader of a table's stream records sees the
records MiniStack built, and 100,000 readings fit the memory budget."""

import asyncio
import copy
import gc
import importlib
import json
import tracemalloc

import pytest

from emulator.expiry_index import ExpiryIndex
from emulator.ministack import compact, dynamodb_records, persistence, saves, ttl
from emulator.ministack.compact import CompactRecords
from emulator.ministack.registry import PatchRegistry

ACCOUNT, REGION = "000000000000", "us-east-1"
# The budget: 150 MB of API memory per 100,000 readings with their stream records.
BYTES_PER_READING = 1500


@pytest.fixture
def patched(dynamodb):
    registry = PatchRegistry()
    registry.apply(persistence.STREAM_RECORDS_PERSISTED)
    # As the API applies it: records carry their real SizeBytes (a packed record once needed 0).
    registry.apply(dynamodb_records.SIZE_BYTES)
    registry.apply(compact.COMPACT_ITEMS_AND_STREAMS)
    yield dynamodb
    registry.undo()


def call(module, prefix, action, **data):
    headers = {"x-amz-target": f"{prefix}.{action}"}
    status, _headers, body = asyncio.run(module.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    assert status == 200, body
    return json.loads(body) if body else {}


def table(dynamodb, name, view, sort_key=True):
    keys = [{"AttributeName": "deviceID", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "deviceID", "AttributeType": "S"}]
    if sort_key:
        keys.append({"AttributeName": "createdAt", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "createdAt", "AttributeType": "N"})
    call(
        dynamodb,
        "DynamoDB_20120810",
        "CreateTable",
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )


def reading(n, devices=500):
    device = f"dev-{n % devices:04d}"
    created = 1_760_000_000_000 + n * 1000
    return {
        "deviceID": {"S": device},
        "createdAt": {"N": str(created)},
        "expiredAt": {"N": str(created // 1000 + 86400 * 30)},
        "sensorID": {"S": device + "-sen"},
        "topic": {"S": device + "/SENSOR/DAT"},
        "client_id": {"S": device},
        # Numbers as DynamoDB keeps them (no trailing zeros), so a stored item equals its reading.
        "temperature": {"N": f"{20 + (n % 1000) / 100:g}"},
        "humidity": {"N": f"{40 + (n % 300) / 10:g}"},
        "battery": {"N": f"{3.7 - (n % 500) / 1000:g}"},
    }


def every_kind_of_record(dynamodb):
    """Records of every shape MiniStack writes, in plain lists (no patch applied)."""
    for view in ("NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"):
        name = f"t_{view.lower()}"
        table(dynamodb, name, view)
        call(dynamodb, "DynamoDB_20120810", "PutItem", TableName=name, Item=reading(1))
        call(dynamodb, "DynamoDB_20120810", "PutItem", TableName=name, Item={**reading(1), "battery": {"N": "1"}})
        call(
            dynamodb,
            "DynamoDB_20120810",
            "UpdateItem",
            TableName=name,
            Key={"deviceID": reading(1)["deviceID"], "createdAt": reading(1)["createdAt"]},
            UpdateExpression="SET humidity = :h",
            ExpressionAttributeValues={":h": {"N": "50"}},
        )
        call(
            dynamodb,
            "DynamoDB_20120810",
            "DeleteItem",
            TableName=name,
            Key={"deviceID": reading(1)["deviceID"], "createdAt": reading(1)["createdAt"]},
        )
    table(dynamodb, "t_hash_only", "NEW_AND_OLD_IMAGES", sort_key=False)
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="t_hash_only", Item={"deviceID": {"S": "d"}})
    call(
        dynamodb,
        "DynamoDB_20120810",
        "UpdateTimeToLive",
        TableName="t_hash_only",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiredAt"},
    )
    expiring = {"deviceID": {"S": "e"}, "expiredAt": {"N": "1"}}
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="t_hash_only", Item=expiring)
    assert asyncio.run(ttl.sweep_expired_items(ExpiryIndex(), now=10.0)) == 1
    records = [record for _key, stream in dynamodb._stream_records.all_items() for record in stream]
    records.append({"eventID": "hand-built", "dynamodb": {"SequenceNumber": "1"}})
    return records


def test_every_read_of_packed_records_gives_the_records_ministack_built(dynamodb):
    built = every_kind_of_record(dynamodb)
    expected = copy.deepcopy(built)
    assert {r["eventName"] for r in expected[:-1]} == {"INSERT", "MODIFY", "REMOVE"}
    assert any("userIdentity" in r for r in expected)
    packed = CompactRecords(built)
    # The pipeline's kinds are packed (images in the record); others are kept as they are.
    kinds = [
        (r.get("eventSourceARN", ""), type(p) is tuple) for r, p in zip(expected, list.__iter__(packed), strict=True)
    ]
    assert all(tuple_ for arn, tuple_ in kinds if "t_new_and_old_images" in arn or "t_hash_only" in arn)
    assert len(packed) == len(expected)
    assert list(packed) == expected and [packed[i] for i in range(-len(packed), len(packed))] == expected * 2
    assert packed[3:9] == expected[3:9] and packed[-2:] == expected[-2:]
    # The same JSON text, key order included: the snapshot and GetRecords answer as before.
    assert json.dumps(list(packed)) == json.dumps(expected)
    assert [packed.sequence_number(i) for i in range(len(packed))] == [
        r["dynamodb"]["SequenceNumber"] for r in expected
    ]
    del packed[:4]
    assert list(packed) == expected[4:]


def test_streams_and_the_snapshot_read_the_live_compact_records_as_before(patched):
    dynamodb = patched
    streams = importlib.import_module("ministack.services.dynamodb_streams")
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    for n in range(0, 30, 10):
        items = [{"PutRequest": {"Item": reading(n + k)}} for k in range(10)]
        call(dynamodb, "DynamoDB_20120810", "BatchWriteItem", RequestItems={"readings": items})
    records = dynamodb._stream_records.get("readings")
    assert type(records) is CompactRecords and len(records) == 30
    stored = dynamodb._tables.get("readings")["items"]["dev-0001"]["1760000001000"]
    assert records[1]["dynamodb"]["NewImage"] is stored

    arn = dynamodb._tables.get("readings")["LatestStreamArn"]
    described = call(streams, "DynamoDBStreams_20120810", "DescribeStream", StreamArn=arn)["StreamDescription"]
    [shard] = described["Shards"]
    assert shard["SequenceNumberRange"]["StartingSequenceNumber"] == records[0]["dynamodb"]["SequenceNumber"]
    iterator = call(
        streams,
        "DynamoDBStreams_20120810",
        "GetShardIterator",
        StreamArn=arn,
        ShardId=shard["ShardId"],
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=records[9]["dynamodb"]["SequenceNumber"],
    )["ShardIterator"]
    page = call(streams, "DynamoDBStreams_20120810", "GetRecords", ShardIterator=iterator, Limit=100)["Records"]
    assert page == [{k: v for k, v in r.items() if k != "eventSourceARN"} for r in records[10:]]

    # The snapshot names the item a record's image is, instead of a copy of it.
    [[_account, _region, name, saved]] = dynamodb.get_state()[persistence.STREAM_RECORDS_KEY]
    referenced = [{**r, "dynamodb": {**r["dynamodb"], "NewImage": compact.ITEM_REFERENCE}} for r in records]
    assert name == "readings" and saved == referenced


def test_records_past_retention_are_still_trimmed(patched):
    dynamodb = patched
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="readings", Item=reading(0))
    records = dynamodb._stream_records.get("readings")
    old = records[0]
    old["dynamodb"]["ApproximateCreationDateTime"] = 1
    dynamodb._stream_records.set_scoped(ACCOUNT, REGION, "readings", CompactRecords([old]))
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="readings", Item=reading(1))
    assert [r["dynamodb"]["Keys"]["createdAt"]["N"] for r in dynamodb._stream_records.get("readings")] == [
        "1760000001000"
    ]
    assert dynamodb._trimmed_count("readings") == 1


def test_stored_items_share_their_small_values_and_stay_equal_to_what_was_written(patched):
    dynamodb = patched
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="readings", Item=reading(0))
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="readings", Item=reading(500))
    items = dynamodb._tables.get("readings")["items"]["dev-0000"]
    first, second = items["1760000000000"], items["1760000500000"]
    assert first == reading(0) and second == reading(500)
    assert first["deviceID"] is second["deviceID"] and first["createdAt"] is not second["createdAt"]


def test_after_a_restart_the_records_share_their_images_with_the_items_again(patched):
    dynamodb = patched
    saved = importlib.import_module("ministack.core.persistence")
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="readings", Item=reading(0))
    before = list(dynamodb._stream_records.get("readings"))
    files = json.loads(
        json.dumps(dynamodb.get_state(), default=saved._json_default), object_hook=saved._json_object_hook
    )
    dynamodb.reset()
    dynamodb.load_persisted_state(files)
    compact.after_load()
    records = dynamodb._stream_records.get("readings")
    assert type(records) is CompactRecords and list(records) == before
    item = dynamodb._tables.get("readings")["items"]["dev-0000"]["1760000000000"]
    assert records[0]["dynamodb"]["NewImage"] is item


def write_readings(dynamodb, first, count):
    for n in range(first, first + count, 25):
        items = [{"PutRequest": {"Item": reading(n + k)}} for k in range(25)]
        call(dynamodb, "DynamoDB_20120810", "BatchWriteItem", RequestItems={"readings": items})


def traced(work):
    """Bytes still allocated after `work()`, garbage collected."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    work()
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used


def restart(dynamodb):
    saved = importlib.import_module("ministack.core.persistence")
    text = json.dumps(dynamodb.get_state(), default=saved._json_default)
    dynamodb.reset()
    dynamodb.load_persisted_state(json.loads(text, object_hook=saved._json_object_hook))
    compact.after_load()


def test_each_reading_with_its_stream_record_fits_the_memory_budget(patched):
    table(patched, "readings", "NEW_AND_OLD_IMAGES")
    # The fleet's repeated values are shared once; what grows with readings is measured after.
    write_readings(patched, 0, 2000)
    assert traced(lambda: write_readings(patched, 2000, 5000)) / 5000 < BYTES_PER_READING
    records = patched._stream_records["readings"]
    assert all(type(compact.stored_record(records, n)) is tuple for n in range(len(records)))
    assert all(patched._stream_records["readings"][n]["dynamodb"]["SizeBytes"] > 0 for n in (0, -1))


def test_a_restart_does_not_grow_the_memory_readings_take(patched):
    gc.collect()
    tracemalloc.start()
    try:
        table(patched, "readings", "NEW_AND_OLD_IMAGES")
        write_readings(patched, 0, 5000)
        gc.collect()
        written = tracemalloc.get_traced_memory()[0]
        restart(patched)
        gc.collect()
        restarted = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert restarted < 1.05 * written


def test_the_snapshot_encoded_from_the_live_tables_is_the_one_from_ministacks_copy(patched, monkeypatch):
    """A checkpoint encodes the live tables (no deep copy of the data); the file it writes reads
    back as the one MiniStack's get_state gives, item references included, over several chunks."""
    dynamodb = patched
    monkeypatch.setattr(compact, "RECORDS_PER_CHUNK", 7)
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    table(dynamodb, "devices", "KEYS_ONLY", sort_key=False)
    write_readings(dynamodb, 0, 50)
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="readings", Item={**reading(0), "battery": {"N": "1"}})
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="devices", Item={"deviceID": {"S": "dev-0001"}})
    items_before = copy.deepcopy(dynamodb._tables.get("readings")["items"])
    live = json.loads(saves.encode_state(compact.DYNAMODB_STATE, compact.LiveState().read()))
    copied = json.loads(saves.encode_state(compact.DYNAMODB_STATE, dynamodb.get_state()))
    assert live == copied
    assert any(
        record["dynamodb"].get("NewImage") == compact.ITEM_REFERENCE
        for _scope in live["payload"][persistence.STREAM_RECORDS_KEY]
        for record in _scope[3]
    )
    assert dynamodb._tables.get("readings")["items"] == items_before, "the live tables are left as they were"


def checkpoint(live, dynamodb, monkeypatch):
    """The snapshot `live` reads, as its file reads back, and how many records it unpacked to
    encode them; checked against MiniStack's get_state, and byte for byte against a snapshot
    encoded afresh (nothing kept from before)."""
    unpacked = []
    unpack = compact.unpack
    with monkeypatch.context() as counting:
        counting.setattr(compact, "unpack", lambda packed: unpacked.append(packed) or unpack(packed))
        encoded = saves.encode_state(compact.DYNAMODB_STATE, live.read())
    assert encoded == saves.encode_state(compact.DYNAMODB_STATE, compact.LiveState().read())
    snapshot = json.loads(encoded)
    assert snapshot == json.loads(saves.encode_state(compact.DYNAMODB_STATE, dynamodb.get_state()))
    return snapshot, len(unpacked)


def saved_records(snapshot, table_name):
    [records] = [s[3] for s in snapshot["payload"][persistence.STREAM_RECORDS_KEY] if s[2] == table_name]
    return records


def key_of(n):
    return {"deviceID": reading(n)["deviceID"], "createdAt": reading(n)["createdAt"]}


def test_a_checkpoint_encodes_only_the_records_changed_since_the_last_and_its_snapshot_is_ministacks(
    patched, monkeypatch
):
    """Checkpoints in a row with, between them, records appended, items overwritten, updated and
    deleted (their records' references become full images) and records trimmed from the front:
    each snapshot is the one MiniStack's get_state gives, and each unpacks only what changed."""
    dynamodb = patched
    monkeypatch.setattr(compact, "RECORDS_PER_CHUNK", 7)
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    table(dynamodb, "devices", "KEYS_ONLY", sort_key=False)
    write_readings(dynamodb, 0, 50)
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="devices", Item={"deviceID": {"S": "dev-0001"}})
    live = compact.LiveState()

    first, unpacked = checkpoint(live, dynamodb, monkeypatch)
    assert unpacked == 51
    # Records 17, 24 and 38 are written as their items, which are about to change.
    assert [saved_records(first, "readings")[n]["dynamodb"]["NewImage"] for n in (17, 24, 38)] == [
        compact.ITEM_REFERENCE
    ] * 3
    assert checkpoint(live, dynamodb, monkeypatch) == (first, 0)

    # The ten oldest records age past retention: MiniStack's trim takes them at the next append.
    records = dynamodb._stream_records.get("readings")
    for n in range(10):
        aged = compact.stored_record(records, n)
        list.__setitem__(records, n, (*aged[:2], 1, *aged[3:]))
    write_readings(dynamodb, 50, 25)
    assert records is dynamodb._stream_records.get("readings") and len(records) == 65
    # A new dict under the same keys (PutItem), a deep copy changed (UpdateItem), no item (DeleteItem).
    call(dynamodb, "DynamoDB_20120810", "PutItem", TableName="readings", Item={**reading(17), "battery": {"N": "1"}})
    call(
        dynamodb,
        "DynamoDB_20120810",
        "UpdateItem",
        TableName="readings",
        Key=key_of(24),
        UpdateExpression="SET humidity = :h",
        ExpressionAttributeValues={":h": {"N": "50"}},
    )
    call(dynamodb, "DynamoDB_20120810", "DeleteItem", TableName="readings", Key=key_of(38))

    second, unpacked = checkpoint(live, dynamodb, monkeypatch)
    saved = saved_records(second, "readings")
    assert [saved[n - 10]["dynamodb"]["NewImage"] for n in (17, 24, 38)] == [reading(17), reading(24), reading(38)]
    # Chunks held records 0-6, 7-13, ..., 42-48, 49. Re-encoded: 10-13 (the rest of a trimmed
    # chunk), 14-20, 21-27 and 35-41 (an item they name was replaced), 49 with the 28 appended.
    assert unpacked == 4 + 3 * 7 + 1 + 28
    assert checkpoint(live, dynamodb, monkeypatch) == (second, 0)


def test_after_a_reset_or_a_table_made_again_no_encoded_record_from_before_is_used(patched, monkeypatch):
    dynamodb = patched
    monkeypatch.setattr(compact, "RECORDS_PER_CHUNK", 7)
    live = compact.LiveState()
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    write_readings(dynamodb, 0, 25)
    checkpoint(live, dynamodb, monkeypatch)

    dynamodb.reset()
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    write_readings(dynamodb, 25, 25)
    snapshot, unpacked = checkpoint(live, dynamodb, monkeypatch)
    assert unpacked == 25 and len(saved_records(snapshot, "readings")) == 25

    call(dynamodb, "DynamoDB_20120810", "DeleteTable", TableName="readings")
    table(dynamodb, "readings", "NEW_AND_OLD_IMAGES")
    write_readings(dynamodb, 0, 25)
    snapshot, unpacked = checkpoint(live, dynamodb, monkeypatch)
    assert unpacked == 25 and saved_records(snapshot, "readings")[0]["dynamodb"]["Keys"] == key_of(0)


def test_what_checkpoints_keep_of_the_records_between_them_is_small_beside_the_memory_budget(patched):
    table(patched, "readings", "NEW_AND_OLD_IMAGES")
    write_readings(patched, 0, 5000)
    live = compact.LiveState()
    # The records' JSON (500 bytes each) is kept compressed, with where each record's item is.
    assert traced(live.read) / 5000 < BYTES_PER_READING / 10


def test_a_journaled_record_keeps_its_size_and_entries_from_before_read_as_size_zero(patched):
    table(patched, "readings", "NEW_AND_OLD_IMAGES")
    write_readings(patched, 0, 1)
    stored = compact.stored_record(patched._stream_records["readings"], 0)
    fields = compact.journal_fields(stored)
    old, new = stored[compact.PACKED_OLD], stored[compact.PACKED_NEW]
    assert compact.from_journal_fields(fields, old, new) == stored
    earlier = compact.unpack(compact.from_journal_fields(fields[:6], old, new))
    assert earlier["dynamodb"]["SizeBytes"] == 0
