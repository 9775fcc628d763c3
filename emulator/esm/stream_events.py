"""DynamoDB Streams GetRecords output (as boto3 parses it) -> the records Lambda delivers."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from emulator.dynamodb_item_size import stream_record_size


def lambda_stream_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    change = _wire_json(record["dynamodb"])
    if not change.get("SizeBytes"):
        change["SizeBytes"] = stream_record_size(record["dynamodb"])
    event = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
    identity = record.get("userIdentity")
    if identity:
        event["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return event


def _wire_json(value: Any) -> Any:
    """boto3's parsed values back to the JSON Lambda sends: epoch-second numbers, base64 binary."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {key: _wire_json(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_wire_json(member) for member in value]
    return value
