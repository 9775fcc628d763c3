"""DynamoDB Streams GetRecords records, in their JSON wire form -> the records Lambda delivers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.dynamodb_item_size import stream_record_size

# A StreamRecord's members in the order AWS's events (and boto3's parse) have them.
STREAM_RECORD_MEMBERS = (
    "ApproximateCreationDateTime",
    "Keys",
    "NewImage",
    "OldImage",
    "SequenceNumber",
    "SizeBytes",
    "StreamViewType",
)


def lambda_stream_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """The wire record carries what Lambda sends (binary as base64, numbers as strings), but for
    its creation time: epoch seconds that Lambda's events carry as a float (1693997155.0)."""
    wire = record["dynamodb"]
    change = {member: wire[member] for member in STREAM_RECORD_MEMBERS if member in wire}
    if "ApproximateCreationDateTime" in change:
        change["ApproximateCreationDateTime"] = float(change["ApproximateCreationDateTime"])
    if not change.get("SizeBytes"):
        change["SizeBytes"] = stream_record_size(change)
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
