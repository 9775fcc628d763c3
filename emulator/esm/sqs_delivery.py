"""Lambda's SQS event source, pure parts: the event it builds and what it deletes afterwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.esm.batch_response import reported_failures
from emulator.esm.stream_delivery import InvokeResult


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message (its JSON wire form) as the record Lambda puts in the event
    (camelCase attributes)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _camel_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        # The digest SendMessage returned for the attributes; null when there are none.
        "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def records_to_delete(
    records: list[dict[str, Any]], result: InvokeResult, report_batch_item_failures: bool
) -> list[dict[str, Any]]:
    """Which messages the invocation consumed. An error consumes none (they come back after the
    visibility timeout); ReportBatchItemFailures keeps the reported ones, and a response Lambda
    cannot read as a partial batch response (`batch_response`) keeps them all."""
    if result.error:
        return []
    if not report_batch_item_failures:
        return list(records)
    reported = reported_failures(result.payload, (record["messageId"] for record in records))
    if reported is None:
        return []
    return [record for record in records if record["messageId"] not in reported]


def _camel_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as ReceiveMessage's JSON carries it (binary as base64), camelCased."""
    attribute = {
        "stringValue": value.get("StringValue"),
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value.get("DataType"),
    }
    if "BinaryValue" in value:
        attribute["binaryValue"] = value["BinaryValue"]
        del attribute["stringValue"]
    elif attribute["stringValue"] is None:
        del attribute["stringValue"]
    return attribute
