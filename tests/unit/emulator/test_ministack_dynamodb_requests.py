"""In process: UpdateItem, validation, read capacity and wording patches on MiniStack's DynamoDB."""

import asyncio
import importlib
import json

import pytest

from emulator.ministack import dynamodb_capacity, dynamodb_updates, dynamodb_validation, dynamodb_wording, ttl
from emulator.ministack.registry import PatchRegistry

TABLE = "requests"
PATCHES = (
    dynamodb_updates.UPDATES_AS_DYNAMODB,
    dynamodb_validation.REFUSED_AS_DYNAMODB,
    dynamodb_validation.LEGACY_EXPECTED_VALUE,
    dynamodb_capacity.READS_BILLED_BY_SIZE,
    dynamodb_wording.AWS_WORDING,
)


@pytest.fixture
def dynamodb():
    module = ttl.import_dynamodb()
    module.reset()
    registry = PatchRegistry()
    for patch in PATCHES:
        registry.apply(patch)
    call(module, "CreateTable", **table_request())
    yield module
    registry.undo()
    module.reset()


def table_request(**more):
    return {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        **more,
    }


def answer(dynamodb, action, **data):
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = asyncio.run(dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    return status, json.loads(body)


def call(dynamodb, action, **data):
    status, body = answer(dynamodb, action, **data)
    assert status == 200, body
    return body


def refused(dynamodb, action, **data):
    status, body = answer(dynamodb, action, **data)
    assert status == 400 and body["__type"].endswith("ValidationException"), body
    return body["message"]


def item(dynamodb):
    return call(dynamodb, "GetItem", TableName=TABLE, Key={"pk": {"S": "k"}}).get("Item")


def test_remove_of_two_list_elements_removes_both_original_positions(dynamodb):
    listed = {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]}
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "k"}, "l": listed})
    call(dynamodb, "UpdateItem", TableName=TABLE, Key={"pk": {"S": "k"}}, UpdateExpression="REMOVE l[0], l[1]")
    assert item(dynamodb)["l"] == {"L": [{"S": "c"}]}


def test_an_invalid_update_expression_is_refused_and_changes_nothing(dynamodb):
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"N": "1"}})
    message = refused(
        dynamodb,
        "UpdateItem",
        TableName=TABLE,
        Key={"pk": {"S": "k"}},
        UpdateExpression="SET v = :x REMOVE v",
        ExpressionAttributeValues={":x": {"N": "2"}},
    )
    assert message.startswith("Invalid UpdateExpression: Two document paths overlap")
    assert item(dynamodb)["v"] == {"N": "1"}


def test_number_sets_compare_members_by_value(dynamodb):
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "k"}, "ns": {"NS": ["1", "2"]}})
    call(
        dynamodb,
        "UpdateItem",
        TableName=TABLE,
        Key={"pk": {"S": "k"}},
        UpdateExpression="ADD ns :x",
        ExpressionAttributeValues={":x": {"NS": ["2.0"]}},
    )
    assert sorted(item(dynamodb)["ns"]["NS"]) == ["1", "2"]


def test_ttl_enabled_twice_is_refused_and_a_disabled_ttl_names_no_attribute(dynamodb):
    spec = {"Enabled": True, "AttributeName": "expiredAt"}
    call(dynamodb, "UpdateTimeToLive", TableName=TABLE, TimeToLiveSpecification=spec)
    assert refused(dynamodb, "UpdateTimeToLive", TableName=TABLE, TimeToLiveSpecification=spec)
    call(dynamodb, "UpdateTimeToLive", TableName=TABLE, TimeToLiveSpecification={**spec, "Enabled": False})
    described = call(dynamodb, "DescribeTimeToLive", TableName=TABLE)
    assert described["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}


def test_stream_changes_that_change_nothing_are_refused(dynamodb):
    streaming = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert refused(dynamodb, "UpdateTable", TableName=TABLE, StreamSpecification={"StreamEnabled": False})
    call(dynamodb, "UpdateTable", TableName=TABLE, StreamSpecification=streaming)
    assert refused(dynamodb, "UpdateTable", TableName=TABLE, StreamSpecification=streaming)
    disabled = call(dynamodb, "UpdateTable", TableName=TABLE, StreamSpecification={"StreamEnabled": False})
    assert "StreamSpecification" not in disabled["TableDescription"]


def test_an_empty_write_request_an_or_key_condition_and_a_key_filter_are_refused(dynamodb):
    assert refused(dynamodb, "BatchWriteItem", RequestItems={TABLE: [{}]})
    values = {":k": {"S": "k"}}
    assert refused(dynamodb, "Query", TableName=TABLE, KeyConditionExpression="pk = :k OR pk = :k",
                   ExpressionAttributeValues=values)  # fmt: skip
    assert refused(dynamodb, "Query", TableName=TABLE, KeyConditionExpression="pk = :k", FilterExpression="pk = :k",
                   ExpressionAttributeValues=values)  # fmt: skip


def test_legacy_expected_with_value_and_operator_compares_with_the_value(dynamodb):
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"N": "5"}})
    expected = {"v": {"Value": {"N": "5"}, "ComparisonOperator": "EQ"}}
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"N": "6"}}, Expected=expected)
    status, body = answer(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "k"}}, Expected=expected)
    assert status == 400 and body["__type"].endswith("ConditionalCheckFailedException")


def test_reads_are_billed_by_item_size(dynamodb):
    call(dynamodb, "PutItem", TableName=TABLE, Item={"pk": {"S": "k"}, "v": {"S": "x" * 9000}})
    got = call(dynamodb, "GetItem", TableName=TABLE, Key={"pk": {"S": "k"}}, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"]["CapacityUnits"] == 1.5
    batch = call(
        dynamodb,
        "BatchGetItem",
        RequestItems={TABLE: {"Keys": [{"pk": {"S": "k"}}, {"pk": {"S": "none"}}], "ConsistentRead": True}},
        ReturnConsumedCapacity="TOTAL",
    )
    assert batch["ConsumedCapacity"] == [{"TableName": TABLE, "CapacityUnits": 3.0}]


def test_a_failed_transaction_condition_is_worded_as_aws_words_it(dynamodb):
    check = {"TableName": TABLE, "Key": {"pk": {"S": "none"}}, "ConditionExpression": "attribute_exists(pk)"}
    status, body = answer(dynamodb, "TransactWriteItems", TransactItems=[{"ConditionCheck": check}])
    assert status == 400
    assert body["CancellationReasons"] == [
        {"Code": "ConditionalCheckFailed", "Message": dynamodb_wording.CONDITION_FAILED_REASON}
    ]


def test_a_missing_stream_is_worded_as_aws_words_it():
    ttl.import_dynamodb()
    streams = importlib.import_module("ministack.services.dynamodb_streams")
    registry = PatchRegistry()
    registry.apply(dynamodb_wording.AWS_WORDING)
    try:
        arn = "arn:aws:dynamodb:us-east-1:000000000000:table/none/stream/2026-01-01T00:00:00.000"
        status, _headers, body = streams._describe_stream({"StreamArn": arn})
    finally:
        registry.undo()
    assert status == 400 and json.loads(body)["message"] == dynamodb_wording.stream_not_found(arn)
