"""Stream records in process: SizeBytes, no record for an unchanged item, PartiQL writes recorded."""

import asyncio
import json

import pytest

from emulator.ministack import dynamodb_records, ttl
from emulator.ministack.registry import PatchRegistry

TABLE = "records"


@pytest.fixture
def dynamodb():
    module = ttl.import_dynamodb()
    module.reset()
    registry = PatchRegistry()
    for patch in (
        dynamodb_records.SIZE_BYTES,
        dynamodb_records.UNCHANGED_WRITES_NO_RECORD,
        dynamodb_records.PARTIQL_WRITES_RECORDED,
    ):
        registry.apply(patch)
    yield module
    registry.undo()
    module.reset()


def call(dynamodb, action, **data):
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = asyncio.run(dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    assert status == 200, body
    return json.loads(body)


def streamed_table(dynamodb):
    call(
        dynamodb,
        "CreateTable",
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def records(dynamodb):
    return [(r["eventName"], r["dynamodb"]["SizeBytes"]) for r in dynamodb._stream_records.get(TABLE, [])]


def test_records_carry_the_size_of_keys_and_images_and_an_unchanged_set_writes_none(dynamodb):
    streamed_table(dynamodb)
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "a"}, "ss": {"SS": ["x", "y"]}})
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "a"}, "ss": {"SS": ["y", "x"]}})
    assert records(dynamodb) == [("INSERT", 3 + 3 + 4)]


def test_partiql_writes_write_insert_modify_and_remove_records(dynamodb):
    streamed_table(dynamodb)
    call(dynamodb, "ExecuteStatement", Statement=f"INSERT INTO \"{TABLE}\" VALUE {{'pk': 'a', 'v': 1}}")
    call(dynamodb, "ExecuteStatement", Statement=f"UPDATE \"{TABLE}\" SET v = 2 WHERE pk = 'a'")
    call(dynamodb, "BatchExecuteStatement", Statements=[{"Statement": f"DELETE FROM \"{TABLE}\" WHERE pk = 'a'"}])
    assert records(dynamodb) == [("INSERT", 3 + 3 + 3), ("MODIFY", 3 + 6 + 6), ("REMOVE", 3 + 6)]


def test_the_patches_come_off():
    registry = PatchRegistry()
    registry.apply(dynamodb_records.SIZE_BYTES)
    original = registry.applied[0].originals[dynamodb_records.BUILD_CHANGE_RECORD]
    registry.undo()
    assert dynamodb_records.BUILD_CHANGE_RECORD.read() is original
