"""DynamoDB Streams -> Firehose: every change as one JSON line of the history.

Delivery is all or nothing per invocation: entries Firehose did not accept are retried with
backoff, and if any are still left the invocation raises, so the event source mapping
retries the batch (and, with bisect and an on-failure destination, isolates a bad record).
Lines already delivered may then arrive twice; readers de-duplicate by `event_id`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from aws_calls.batching import Failure, chunks, send_with_retries
from aws_calls.errors import is_transient
from handlers.aws import client
from handlers.core.history_lines import encode_history_line, history_line
from handlers.core.stream_records import StreamRecord
from handlers.settings import HistorySettings

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

logger = Logger(service="history")

PUT_BATCH_RECORDS = 500
PUT_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1_000 * 1024


class DeliveryFailed(Exception):
    """History lines that Firehose did not accept after every retry."""


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    deliver(event["Records"], HistorySettings.from_env())
    return {"batchItemFailures": []}


def deliver(records: list[StreamRecord], settings: HistorySettings) -> None:
    lines = [
        encode_history_line(history_line(record, settings.ttl_attribute, settings.removals_without_identity))
        for record in records
    ]
    oversized = [record["eventID"] for record, line in zip(records, lines, strict=True) if len(line) > MAX_RECORD_BYTES]
    if oversized:
        raise DeliveryFailed(f"history lines over Firehose's {MAX_RECORD_BYTES}-byte record limit: {oversized}")
    firehose = client("firehose")
    failures: list[Failure] = []
    for group in chunks(lines, PUT_BATCH_RECORDS, PUT_BATCH_BYTES):
        failures += send_with_retries(
            lambda batch: _put_record_batch(firehose, settings.delivery_stream_name, batch),
            group,
            settings.retry,
            is_transient,
        )
    if failures:
        codes = sorted({failure.code for failure in failures})
        logger.error("history lines not delivered", extra={"failed": len(failures), "of": len(lines), "codes": codes})
        raise DeliveryFailed(f"{len(failures)} of {len(lines)} history lines not delivered ({', '.join(codes)})")


def _put_record_batch(firehose: FirehoseClient, stream: str, lines: list[bytes]) -> list[Failure]:
    response = firehose.put_record_batch(DeliveryStreamName=stream, Records=[{"Data": line} for line in lines])
    if not response.get("FailedPutCount"):
        return []
    return [
        Failure(line, result["ErrorCode"], result.get("ErrorMessage", ""))
        for line, result in zip(lines, response["RequestResponses"], strict=True)
        if result.get("ErrorCode")
    ]
