"""DynamoDB requests MiniStack accepts and AWS refuses, refused with a ValidationException.

UpdateTimeToLive that changes nothing (enabling an enabled TTL, on any attribute, or disabling a
disabled one); DescribeTimeToLive naming the attribute of a disabled TTL; UpdateTable enabling a
stream that is enabled, or without a view type, or disabling one that is not; a BatchWriteItem
WriteRequest with neither a put nor a delete; an OR in a KeyConditionExpression; a Query filter on
a key attribute; CreateTable with a stream but no view type. A disabled stream leaves no
StreamSpecification in the table's description. A legacy `Expected` with `Value` and
`ComparisonOperator` compares with the value (MiniStack answers HTTP 500).
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from emulator.dynamodb_request_rules import (
    filter_on_key_error,
    key_condition_error,
    stream_update_error,
    ttl_update_error,
    write_request_error,
)
from emulator.ministack.registry import Originals, Patch, Target

DYNAMODB = "ministack.services.dynamodb"
UPDATE_TTL = Target(DYNAMODB, "_update_ttl")
DESCRIBE_TTL = Target(DYNAMODB, "_describe_ttl")
UPDATE_TABLE = Target(DYNAMODB, "_update_table")
CREATE_TABLE = Target(DYNAMODB, "_create_table")
DESCRIBE_TABLE = Target(DYNAMODB, "_describe_table")
EVALUATE_EXPECTED = Target(DYNAMODB, "_evaluate_expected")
BATCH_WRITE_ITEM = Target(DYNAMODB, "_batch_write_item")
QUERY = Target(DYNAMODB, "_query")
RESOLVE_INDEX_KEYS = Target(DYNAMODB, "_resolve_index_keys")


def _refusing(originals: Originals) -> dict[Target, Any]:
    dynamodb = importlib.import_module(DYNAMODB)

    def without_disabled_stream(response: Any, member: str) -> Any:
        """A disabled stream leaves no StreamSpecification in the table's description (its ARN stays)."""
        status, headers, body = response
        if status != 200:
            return response
        described = json.loads(body)
        table = described.get(member) or {}
        if (table.get("StreamSpecification") or {}).get("StreamEnabled") is False:
            del table["StreamSpecification"]
            return status, headers, json.dumps(described)
        return response

    def refused(message: str) -> Any:
        return dynamodb.error_response_json("ValidationException", message, 400)

    def table_of(data: dict[str, Any]) -> Any:
        return dynamodb._tables.get(dynamodb._normalize_table_name(data.get("TableName")))

    def update_ttl(data: dict[str, Any]) -> Any:
        if table_of(data) is not None:
            name = dynamodb._normalize_table_name(data.get("TableName"))
            specification = data.get("TimeToLiveSpecification") or {}
            error = ttl_update_error(
                dynamodb._ttl_settings.get(name),
                bool(specification.get("Enabled")),
                str(specification.get("AttributeName") or ""),
            )
            if error:
                return refused(error)
        return originals[UPDATE_TTL](data)

    def describe_ttl(data: dict[str, Any]) -> Any:
        status, headers, body = originals[DESCRIBE_TTL](data)
        if status == 200:
            described = json.loads(body)
            description = described["TimeToLiveDescription"]
            if description.get("TimeToLiveStatus") == "DISABLED":
                description.pop("AttributeName", None)
                body = json.dumps(described)
        return status, headers, body

    def update_table(data: dict[str, Any]) -> Any:
        table = table_of(data)
        requested = data.get("StreamSpecification")
        if table is not None and requested is not None:
            error = stream_update_error(table.get("StreamSpecification"), requested or {})
            if error:
                return refused(error)
        return without_disabled_stream(originals[UPDATE_TABLE](data), "TableDescription")

    def describe_table(data: dict[str, Any]) -> Any:
        return without_disabled_stream(originals[DESCRIBE_TABLE](data), "Table")

    def create_table(data: dict[str, Any]) -> Any:
        requested = data.get("StreamSpecification") or {}
        if requested.get("StreamEnabled") and "StreamViewType" not in requested:
            return refused(stream_update_error(None, requested) or "")
        return originals[CREATE_TABLE](data)

    def batch_write_item(data: dict[str, Any]) -> Any:
        error = write_request_error(data.get("RequestItems") or {})
        return refused(error) if error else originals[BATCH_WRITE_ITEM](data)

    def query(data: dict[str, Any]) -> Any:
        table = table_of(data)
        error = key_condition_error(data.get("KeyConditionExpression") or "")
        if table is not None and not error and data.get("FilterExpression"):
            keys = dynamodb._resolve_index_keys(table, data.get("IndexName"))[:2]
            error = filter_on_key_error(
                data["FilterExpression"], data.get("ExpressionAttributeNames") or {}, [k for k in keys if k]
            )
        return refused(error) if error else originals[QUERY](data)

    return {
        UPDATE_TTL: update_ttl,
        DESCRIBE_TTL: describe_ttl,
        UPDATE_TABLE: update_table,
        CREATE_TABLE: create_table,
        DESCRIBE_TABLE: describe_table,
        BATCH_WRITE_ITEM: batch_write_item,
        QUERY: query,
    }


REFUSED_AS_DYNAMODB = Patch(
    name="dynamodb-requests-refused-as-aws",
    summary=(
        "TTL and stream changes that change nothing, empty WriteRequests, OR in key conditions and Query filters "
        "on key attributes, streams without a view type are refused"
    ),
    targets={
        UPDATE_TTL: "e8243a4fbbb8997d50df7a01ceccf9841238b74356b22756a0c1cd71c8dc1056",
        DESCRIBE_TTL: "79fa8065eb758162ba697dd2759e4ec05de5ddcca2e5da38d4f7d88fef4a22c0",
        UPDATE_TABLE: "dd1170ef031cfbe4b01d0c725f77612fa0b46399680c93378fc8bc71b28eea41",
        CREATE_TABLE: "a0f15611329ac2db3754ae236e3ea9e889d209436660a8dcd1edd7fcf02bf681",
        DESCRIBE_TABLE: "5349afe9bf82b3a63b76356c298e2710fe8a9460b9c5fac9b32ca2977419af42",
        BATCH_WRITE_ITEM: "7c31fe8286aeea2e0e9d3ea4a5ece83405bec494491bb8cffa41669bdcfb3429",
        QUERY: "50c2e7ec69e93ea3dd17cf40c93704d421071193dfb1d749bb33a55e94bae56b",
    },
    relies_on={RESOLVE_INDEX_KEYS: "b8b98638729f99845e386561a9b50783a2432e905f170495e36fc06982892120"},
    build=_refusing,
)


def _expected_value_compared(originals: Originals) -> dict[Target, Any]:
    evaluate = originals[EVALUATE_EXPECTED]

    def evaluate_expected(item: Any, expected: Any, conditional_operator: str = "AND") -> Any:
        rewritten = {
            name: {**condition, "AttributeValueList": [condition["Value"]]}
            if isinstance(condition, dict)
            and "ComparisonOperator" in condition
            and "Value" in condition
            and "AttributeValueList" not in condition
            else condition
            for name, condition in (expected or {}).items()
        }
        return evaluate(item, rewritten, conditional_operator)

    return {EVALUATE_EXPECTED: evaluate_expected}


LEGACY_EXPECTED_VALUE = Patch(
    name="dynamodb-legacy-expected-value-with-operator",
    summary="A legacy Expected condition with Value and ComparisonOperator compares with Value (not HTTP 500)",
    targets={EVALUATE_EXPECTED: "352f88f7a0dd791a87063928e0e51472dea3f40ef1e4e055310c30d46224b712"},
    build=_expected_value_compared,
)
