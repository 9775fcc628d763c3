"""Events shaped exactly as Lambda delivers them (SQS and DynamoDB Streams)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dev_ba_sqs"
STREAM_LABEL = "2023-10-04T05:40:00.000"
_sequence = itertools.count(100000000000000000000)


def stream_arn(table: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/{STREAM_LABEL}"


def b64_json(message: Any) -> str:
    return base64.b64encode(json.dumps(message).encode()).decode()


def sqs_record(body: str, message_id: str, receive_count: int = 1) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def sqs_event(*bodies: str) -> dict:
    return {"Records": [sqs_record(body, f"msg-{index}") for index, body in enumerate(bodies)]}


def stream_record(
    event_name: str,
    keys: dict,
    new_image: dict | None = None,
    old_image: dict | None = None,
    created: float = 1696398445.0,
    table: str = "sample-table",
    ttl_removal: bool = False,
    sequence_number: str | None = None,
) -> dict:
    change: dict[str, Any] = {"ApproximateCreationDateTime": created, "Keys": keys}
    if new_image is not None:
        change["NewImage"] = new_image
    if old_image is not None:
        change["OldImage"] = old_image
    change["SequenceNumber"] = sequence_number or str(next(_sequence))
    change["SizeBytes"] = len(json.dumps(change))
    change["StreamViewType"] = "NEW_AND_OLD_IMAGES"
    record = {
        "eventID": hashlib.md5(change["SequenceNumber"].encode()).hexdigest(),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": change,
        "eventSourceARN": stream_arn(table),
    }
    if ttl_removal:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return record


def device_item(device_id: str, created_at_ms: int, expired_at: int, **values: dict) -> dict:
    item = {
        "deviceID": {"S": device_id},
        "createdAt": {"N": str(created_at_ms)},
        "expiredAt": {"N": str(expired_at)},
        "sensorID": {"S": device_id + "-sen"},
    }
    item.update(values)
    return item


def device_keys(item: dict) -> dict:
    return {"deviceID": item["deviceID"], "createdAt": item["createdAt"]}
