"""TTL in place of MiniStack's reaper: the reaper never starts, and the sweep applies DynamoDB's rules
on an in-memory table, also while writes change it."""

import asyncio
import json
import threading

from emulator.ministack import ttl
from emulator.ministack.registry import PatchRegistry
from emulator.ttl_rules import FIVE_YEARS_SECONDS, TTL_IDENTITY

NOW = 1_800_000_000
TABLE = "readings"


async def request(dynamodb, action, **data):
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = await dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {})
    assert status == 200, body
    return json.loads(body)


def call(dynamodb, action, **data):
    return asyncio.run(request(dynamodb, action, **data))


def ttl_table(dynamodb):
    call(
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
    call(
        dynamodb, "UpdateTimeToLive", TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


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


def test_the_sweep_deletes_only_past_epoch_second_numbers_and_writes_a_ttl_stream_record(dynamodb):
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

    assert asyncio.run(ttl.sweep_expired_items(NOW)) == 1

    assert items(dynamodb) == {(i["device"]["S"], 1) for i in kept}
    [removal] = removals(dynamodb)
    assert removal["userIdentity"] == TTL_IDENTITY
    assert removal["dynamodb"]["Keys"] == {"device": {"S": "expired"}, "at": {"N": "1"}}
    assert removal["dynamodb"]["OldImage"]["ttl"] == {"N": str(NOW - 60)}


def test_with_a_deletion_delay_an_expired_item_stays_readable_until_the_delay_has_passed(dynamodb):
    ttl_table(dynamodb)
    call(dynamodb, "PutItem", TableName=TABLE, Item=item("expired", 1, {"N": str(NOW - 60)}))

    assert asyncio.run(ttl.sweep_expired_items(NOW, deletion_delay=3600)) == 0
    assert items(dynamodb) == {("expired", 1)} and removals(dynamodb) == []
    assert asyncio.run(ttl.sweep_expired_items(NOW + 3540, deletion_delay=3600)) == 1
    assert items(dynamodb) == set() and len(removals(dynamodb)) == 1


def test_the_sweep_never_raises_while_writes_change_the_table_between_its_chunks(dynamodb, monkeypatch):
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
            swept += await ttl.sweep_expired_items(NOW)
            await asyncio.sleep(0)
        return swept + await ttl.sweep_expired_items(NOW)

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


def test_a_table_deleted_during_its_sweep_is_left_alone(dynamodb, monkeypatch):
    monkeypatch.setattr(ttl, "SWEEP_CHUNK", 1)
    ttl_table(dynamodb)
    for at in range(3):
        call(dynamodb, "PutItem", TableName=TABLE, Item=item("d", at, {"N": str(NOW - 60)}))

    async def sweep_while_the_table_goes():
        sweep = asyncio.create_task(ttl.sweep_expired_items(NOW))
        await asyncio.sleep(0)
        await request(dynamodb, "DeleteTable", TableName=TABLE)
        return await sweep

    assert asyncio.run(sweep_while_the_table_goes()) == 1
