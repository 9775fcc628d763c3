"""TTL in place of MiniStack's reaper: the reaper never starts, and the sweep applies DynamoDB's rules
on an in-memory table, also while writes change it."""

import asyncio
import importlib
import json
import threading

import pytest

from emulator.expiry_index import ExpiryIndex
from emulator.ministack import compact, persistence, ttl
from emulator.ministack.registry import MinistackDiffers, PatchRegistry
from emulator.ttl_rules import FIVE_YEARS_SECONDS, TTL_IDENTITY, expires_at

NOW = 1_800_000_000
TABLE = "readings"


@pytest.fixture
def expiries(dynamodb):
    """An expiry index fed by MiniStack's _set_item, applied as install() applies it (after compact)."""
    index = ExpiryIndex()
    registry = PatchRegistry()
    for patch in (persistence.STREAM_RECORDS_PERSISTED, compact.COMPACT_ITEMS_AND_STREAMS, ttl.expiries_indexed(index)):
        registry.apply(patch)
    yield index
    registry.undo()


async def request(dynamodb, action, **data):
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = await dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {})
    assert status == 200, body
    return json.loads(body)


def call(dynamodb, action, **data):
    return asyncio.run(request(dynamodb, action, **data))


async def create_ttl_table(dynamodb):
    await request(
        dynamodb,
        "CreateTable",
        TableName=TABLE,
        KeySchema=[{"AttributeName": "device", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "device", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    await request(
        dynamodb, "UpdateTimeToLive", TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


def ttl_table(dynamodb):
    asyncio.run(create_ttl_table(dynamodb))


def item(device, at, ttl_value):
    return {"device": {"S": device}, "at": {"N": str(at)}, "ttl": ttl_value}


def items(dynamodb):
    return {(i["device"]["S"], int(i["at"]["N"])) for i in call(dynamodb, "Scan", TableName=TABLE)["Items"]}


def removals(dynamodb):
    return [r for r in dynamodb._stream_records.get(TABLE, []) if r["eventName"] == "REMOVE"]


def test_ministacks_reaper_thread_is_created_but_never_started():
    ttl.import_dynamodb()
    assert all(thread.name != ttl.REAPER_THREAD for thread in threading.enumerate())
    registry = PatchRegistry()
    registry.apply(ttl.REAPER_NEVER_STARTS)
    original = registry.applied[0].originals[ttl.REAPER]
    assert ttl.REAPER.read() is not original
    registry.undo()
    assert ttl.REAPER.read() is original


def test_the_sweep_deletes_only_past_epoch_second_numbers_and_writes_a_ttl_stream_record(dynamodb, expiries):
    ttl_table(dynamodb)
    kept = [
        item("future", 1, {"N": str(NOW + 60)}),
        item("string", 1, {"S": str(NOW - 60)}),
        item("milliseconds", 1, {"N": str((NOW - 60) * 1000)}),
        item("ancient", 1, {"N": str(NOW - FIVE_YEARS_SECONDS - 60)}),
        {"device": {"S": "no-ttl"}, "at": {"N": "1"}},
    ]
    for written in [*kept, item("expired", 1, {"N": str(NOW - 60)})]:
        call(dynamodb, "PutItem", TableName=TABLE, Item=written)

    assert asyncio.run(ttl.sweep_expired_items(expiries, NOW)) == 1

    assert items(dynamodb) == {(i["device"]["S"], 1) for i in kept}
    [removal] = removals(dynamodb)
    assert removal["userIdentity"] == TTL_IDENTITY
    assert removal["dynamodb"]["Keys"] == {"device": {"S": "expired"}, "at": {"N": "1"}}
    assert removal["dynamodb"]["OldImage"]["ttl"] == {"N": str(NOW - 60)}


def test_with_a_deletion_delay_an_expired_item_stays_readable_until_the_delay_has_passed(dynamodb, expiries):
    ttl_table(dynamodb)
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("expired", 1, {"N": str(NOW - 60)}))

    assert asyncio.run(ttl.sweep_expired_items(expiries, NOW, deletion_delay=3600)) == 0
    assert items(dynamodb) == {("expired", 1)} and removals(dynamodb) == []
    assert asyncio.run(ttl.sweep_expired_items(expiries, NOW + 3540, deletion_delay=3600)) == 1
    assert items(dynamodb) == set() and len(removals(dynamodb)) == 1


def test_the_sweep_never_raises_while_writes_change_the_table_between_its_chunks(dynamodb, expiries, monkeypatch):
    # Small chunks, so the writes land between them: new partitions, new sort keys, whole partitions gone.
    monkeypatch.setattr(ttl, "SWEEP_CHUNK", 3)
    ttl_table(dynamodb)
    expired, fresh = {"N": str(NOW - 60)}, {"N": str(NOW + 60)}

    async def writes():
        for n in range(300):
            device = f"d{n % 7}"
            await request(dynamodb, "PutItem", TableName=TABLE, Item=item(device, n, expired if n % 2 else fresh))
            if n % 11 == 0:
                for at in range(max(0, n - 20), n):
                    await request(
                        dynamodb, "DeleteItem", TableName=TABLE, Key={"device": {"S": device}, "at": {"N": str(at)}}
                    )
            await asyncio.sleep(0)

    async def sweeps(writing):
        swept = 0
        while not writing.done():
            swept += await ttl.sweep_expired_items(expiries, NOW)
            await asyncio.sleep(0)
        return swept + await ttl.sweep_expired_items(expiries, NOW)

    async def concurrently():
        writing = asyncio.create_task(writes())
        swept = await sweeps(writing)
        await writing
        return swept

    swept = asyncio.run(concurrently())

    remaining = call(dynamodb, "Scan", TableName=TABLE)["Items"]
    assert remaining and all(i["ttl"] == fresh for i in remaining)
    by_ttl = [r for r in removals(dynamodb) if r.get("userIdentity") == TTL_IDENTITY]
    assert swept == len(by_ttl) > 0
    assert all(r["dynamodb"]["OldImage"]["ttl"] == expired for r in by_ttl)


def test_a_table_deleted_during_its_sweep_is_left_alone(dynamodb, expiries, monkeypatch):
    monkeypatch.setattr(ttl, "SWEEP_CHUNK", 1)
    ttl_table(dynamodb)
    for at in range(3):
        call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", at, {"N": str(NOW - 60)}))

    async def sweep_while_the_table_goes():
        sweep = asyncio.create_task(ttl.sweep_expired_items(expiries, NOW))
        await asyncio.sleep(0)
        await request(dynamodb, "DeleteTable", TableName=TABLE)
        return await sweep

    assert asyncio.run(sweep_while_the_table_goes()) == 1


def sweep(expiries, now):
    return asyncio.run(ttl.sweep_expired_items(expiries, now))


@pytest.fixture
def judged(monkeypatch):
    """How many items each sweep reads and judges."""
    counted = []

    def counting(value):
        counted.append(value)
        return expires_at(value)

    monkeypatch.setattr(ttl, "expires_at", counting)
    return counted


def test_the_index_wraps_compacts_set_item_only_and_undo_puts_the_original_back(dynamodb):
    original = ttl.SET_ITEM.read()
    with pytest.raises(MinistackDiffers, match="dynamodb-ttl-expiry-index"):
        PatchRegistry().apply(ttl.expiries_indexed(ExpiryIndex()))
    assert ttl.SET_ITEM.read() is original
    registry = PatchRegistry()
    registry.apply(persistence.STREAM_RECORDS_PERSISTED)
    registry.apply(compact.COMPACT_ITEMS_AND_STREAMS)
    below = ttl.SET_ITEM.read()
    registry.apply(ttl.expiries_indexed(ExpiryIndex()))
    assert ttl.SET_ITEM.read() is not below
    registry.undo()
    assert ttl.SET_ITEM.read() is original


def test_after_its_first_full_read_a_sweep_reads_only_the_items_due(dynamodb, expiries, judged):
    ttl_table(dynamodb)
    for at in range(50):
        call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", at, {"N": str(NOW + 3600)}))
    assert sweep(expiries, NOW) == 0 and len(judged) == 50
    judged.clear()
    assert sweep(expiries, NOW + 1) == 0 and judged == []

    call(dynamodb, "PutItem", TableName=TABLE, Item=item("put", 1, {"N": str(NOW + 5)}))
    call(
        dynamodb,
        "BatchWriteItem",
        RequestItems={TABLE: [{"PutRequest": {"Item": item("batch", at, {"N": str(NOW + 6)})}} for at in range(3)]},
    )
    call(
        dynamodb,
        "UpdateItem",
        TableName=TABLE,
        Key={"device": {"S": "d"}, "at": {"N": "0"}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "ttl"},
        ExpressionAttributeValues={":t": {"N": str(NOW + 7)}},
    )
    assert sweep(expiries, NOW + 10) == 5 and len(judged) == 5
    assert ("put", 1) not in items(dynamodb) and ("d", 0) not in items(dynamodb) and len(items(dynamodb)) == 49
    assert all(r["userIdentity"] == TTL_IDENTITY for r in removals(dynamodb))


def test_items_restored_from_a_snapshot_expire(dynamodb, expiries):
    ttl_table(dynamodb)
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", 1, {"N": str(NOW + 60)}))
    assert sweep(expiries, NOW) == 0
    saved = importlib.import_module("ministack.core.persistence")
    state = json.loads(
        json.dumps(dynamodb.get_state(), default=saved._json_default), object_hook=saved._json_object_hook
    )
    dynamodb.reset()
    # Restored as a start restores them: not through _set_item.
    dynamodb.load_persisted_state(state)
    compact.after_load()

    assert sweep(expiries, NOW + 61) == 1
    assert items(dynamodb) == set()


def test_ttl_enabled_or_moved_to_another_attribute_on_a_populated_table_expires_what_is_there(dynamodb, expiries):
    ttl_table(dynamodb)
    call(
        dynamodb,
        "UpdateTimeToLive",
        TableName=TABLE,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"},
    )
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("by-ttl", 1, {"N": str(NOW - 60)}))
    call(
        dynamodb,
        "PutItem",
        TableName=TABLE,
        Item={**item("by-other", 1, {"N": str(NOW + 60)}), "other": {"N": str(NOW - 1)}},
    )
    assert sweep(expiries, NOW) == 0

    call(
        dynamodb, "UpdateTimeToLive", TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    assert sweep(expiries, NOW) == 1 and items(dynamodb) == {("by-other", 1)}

    call(
        dynamodb,
        "UpdateTimeToLive",
        TableName=TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "other"},
    )
    assert sweep(expiries, NOW) == 1 and items(dynamodb) == set()


def test_items_replaced_wholesale_are_read_again(dynamodb, expiries):
    ttl_table(dynamodb)
    assert sweep(expiries, NOW) == 0
    table = dynamodb._tables.get(TABLE)
    # As MiniStack's PartiQL transaction rollback does.
    table["items"] = type(table["items"])(dict, {"d": {"1": item("d", 1, {"N": str(NOW - 60)})}})
    dynamodb._items_replaced(table)
    assert sweep(expiries, NOW) == 1


def test_an_item_rewritten_with_a_later_or_no_expiry_is_judged_as_it_is_now(dynamodb, expiries):
    ttl_table(dynamodb)
    assert sweep(expiries, NOW) == 0
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("later", 1, {"N": str(NOW + 10)}))
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("never", 1, {"N": str(NOW + 10)}))
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("later", 1, {"N": str(NOW + 100)}))
    call(dynamodb, "PutItem", TableName=TABLE, Item={"device": {"S": "never"}, "at": {"N": "1"}})

    assert sweep(expiries, NOW + 20) == 0 and items(dynamodb) == {("later", 1), ("never", 1)}
    assert sweep(expiries, NOW + 100) == 1 and items(dynamodb) == {("never", 1)}
    assert expiries.of(dynamodb._tables.get(TABLE)).entries == 0


def test_an_item_deleted_before_its_expiry_leaves_nothing_to_delete(dynamodb, expiries):
    ttl_table(dynamodb)
    assert sweep(expiries, NOW) == 0
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", 1, {"N": str(NOW + 10)}))
    call(dynamodb, "DeleteItem", TableName=TABLE, Key={"device": {"S": "d"}, "at": {"N": "1"}})

    assert sweep(expiries, NOW + 20) == 0
    assert [r.get("userIdentity") for r in removals(dynamodb)] == [None]
    assert expiries.of(dynamodb._tables.get(TABLE)).entries == 0


def test_an_item_too_old_to_expire_is_deleted_by_a_sweep_at_an_earlier_time(dynamodb, expiries):
    ttl_table(dynamodb)
    too_old = NOW - FIVE_YEARS_SECONDS - 60
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", 1, {"N": str(too_old)}))
    assert sweep(expiries, NOW) == 0
    assert sweep(expiries, NOW) == 0
    assert sweep(expiries, too_old) == 1


def test_entries_left_by_rewrites_are_dropped_by_reading_the_table_again(dynamodb, expiries):
    ttl_table(dynamodb)
    assert sweep(expiries, NOW) == 0
    for n in range(2000):
        call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", 1, {"N": str(NOW + 10 + n)}))
    table = dynamodb._tables.get(TABLE)
    assert expiries.of(table).entries == 2000

    assert sweep(expiries, NOW) == 0
    assert expiries.of(table).entries == 1
    assert sweep(expiries, NOW + 2009) == 1


def test_a_table_replaced_during_a_sweep_of_its_due_entries_is_left_alone(dynamodb, expiries, monkeypatch):
    monkeypatch.setattr(ttl, "SWEEP_CHUNK", 1)
    ttl_table(dynamodb)
    assert sweep(expiries, NOW) == 0
    for at in range(3):
        call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", at, {"N": str(NOW + 10)}))

    async def sweep_while_the_table_is_replaced():
        sweeping = asyncio.create_task(ttl.sweep_expired_items(expiries, NOW + 20))
        await asyncio.sleep(0)
        await request(dynamodb, "DeleteTable", TableName=TABLE)
        await create_ttl_table(dynamodb)
        return await sweeping

    assert asyncio.run(sweep_while_the_table_is_replaced()) == 1
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("new", 1, {"N": str(NOW + 10)}))
    assert sweep(expiries, NOW + 20) == 1 and items(dynamodb) == set()
