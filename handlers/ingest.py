"""SQS -> DynamoDB. Every message is stored, filtered on purpose, parked in the DLQ with its
reason, or reported in batchItemFailures for SQS to deliver again: none is dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from aws_calls.batching import Failure, chunks, error_code, send_with_retries, sqs_batch_failures
from aws_calls.errors import is_transient
from device_data.messages import MessageFate
from device_data.table import HASH_KEY, RANGE_KEY
from handlers.aws import client
from handlers.core.ingest_rules import (
    REJECTED_BY_DYNAMODB,
    REJECTION_CODES,
    UNPROCESSABLE_MESSAGE,
    RejectedMessage,
    item_key,
    message_items,
)
from handlers.core.sqs_outcome import SqsBatchOutcome
from handlers.settings import IngestSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(service="ingest")

BATCH_WRITE_LIMIT = 25
SEND_BATCH_LIMIT = 10
SEND_BATCH_BYTES = 256 * 1024
REASON_LIMIT = 1024
_serializer = TypeSerializer()

# The item's key as DynamoDB returns it in UnprocessedItems: ((name, type, value), ...), sorted.
TypedKey = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class PendingItem:
    """An item to write and the messages it came from (more than one when a later message
    overwrote the same key in this batch: last write wins)."""

    typed: Mapping[str, Any]
    message_ids: tuple[str, ...]

    @property
    def typed_key(self) -> TypedKey:
        return _typed_key(self.typed)


@dataclass(frozen=True)
class Rejection:
    record: dict[str, Any]
    code: str
    reason: str


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = IngestSettings.from_env()
    return ingest(event["Records"], settings, function_name=getattr(context, "function_name", "ingest"))


def ingest(records: list[dict[str, Any]], settings: IngestSettings, function_name: str) -> dict[str, Any]:
    outcome = SqsBatchOutcome([record["messageId"] for record in records])
    pending: dict[tuple[str, Decimal], PendingItem] = {}
    rejections: list[Rejection] = []
    for record in records:
        message_id = record["messageId"]
        try:
            result = message_items(record["body"], settings.rules)
            typed_items = [(item_key(item), _serializer.serialize(item)["M"]) for item in result.items]
        except RejectedMessage as rejected:
            rejections.append(Rejection(record, rejected.code, rejected.detail))
            continue
        except Exception as error:
            # No I/O happens above, so trying again cannot help; failing the batch would send this
            # message's good neighbours through every retry and into the DLQ without a reason.
            logger.exception("a message failed in a way the rules did not foresee", extra={"message_id": message_id})
            rejections.append(Rejection(record, UNPROCESSABLE_MESSAGE, f"{type(error).__name__}: {error}"))
            continue
        if result.filtered_client_id is not None:
            outcome.mark(message_id, MessageFate.FILTERED, result.filtered_client_id)
        for key, typed in typed_items:
            earlier = pending.pop(key, None)
            sources = (earlier.message_ids if earlier else ()) + (message_id,)
            pending[key] = PendingItem(typed, sources)

    by_id = {record["messageId"]: record for record in records}
    for failure in _write(list(pending.values()), settings):
        for message_id in failure.entry.message_ids:
            if failure.retryable:
                outcome.mark(message_id, MessageFate.RETRY, f"{failure.code}: {failure.message}")
            else:
                rejections.append(Rejection(by_id[message_id], REJECTED_BY_DYNAMODB, failure.message))
    _park(rejections, settings, function_name, outcome)
    _log_summary(outcome)
    return outcome.response()


def _write(items: list[PendingItem], settings: IngestSettings) -> list[Failure]:
    dynamodb = client("dynamodb")
    failures: list[Failure] = []
    for group in chunks(items, BATCH_WRITE_LIMIT):
        failures += send_with_retries(
            lambda entries: _batch_write(dynamodb, settings.table_name, entries),
            group,
            settings.retry,
            is_transient,
        )
    return failures


def _batch_write(dynamodb: DynamoDBClient, table: str, entries: list[PendingItem]) -> list[Failure]:
    try:
        response = dynamodb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": entry.typed}} for entry in entries]}
        )
    except ClientError as error:
        if error_code(error) != "ValidationException":
            raise
        # One invalid item fails the whole call; write one by one to find it and keep the rest.
        return [failure for entry in entries if (failure := _put_one(dynamodb, table, entry))]
    by_key = {entry.typed_key: entry for entry in entries}
    return [
        Failure(by_key[_typed_key(request["PutRequest"]["Item"])], "UnprocessedItems", "left unprocessed")
        for request in response.get("UnprocessedItems", {}).get(table, [])
    ]


def _put_one(dynamodb: DynamoDBClient, table: str, entry: PendingItem) -> Failure | None:
    try:
        dynamodb.put_item(TableName=table, Item=entry.typed)
    except ClientError as error:
        code = error_code(error)
        if code == "ValidationException":
            return Failure(entry, code, error.response["Error"].get("Message", ""), retryable=False)
        if is_transient(error):
            return Failure(entry, code, str(error))
        raise
    return None


def _park(rejections: list[Rejection], settings: IngestSettings, function_name: str, outcome: SqsBatchOutcome) -> None:
    """Send unstorable messages to the DLQ with their reason; a message that cannot be parked
    is retried instead, so SQS's own redrive policy still keeps it."""
    if not rejections:
        return
    if not settings.dlq_url:
        for rejection in rejections:
            outcome.mark(rejection.record["messageId"], MessageFate.RETRY, f"{rejection.code}; DLQ_URL is not set")
        logger.error("DLQ_URL is not set: unstorable messages are left on the queue", extra={"count": len(rejections)})
        return
    sqs = client("sqs")
    entries = [_dlq_entry(str(index), rejection, function_name) for index, rejection in enumerate(rejections)]
    failed: dict[str, Failure] = {}
    for group in chunks(entries, SEND_BATCH_LIMIT, SEND_BATCH_BYTES, size_of=lambda e: len(e["MessageBody"].encode())):
        for failure in send_with_retries(
            lambda batch: sqs_batch_failures(batch, sqs.send_message_batch(QueueUrl=settings.dlq_url, Entries=batch)),
            group,
            settings.retry,
            is_transient,
        ):
            failed[failure.entry["Id"]] = failure
    for entry, rejection in zip(entries, rejections, strict=True):
        message_id = rejection.record["messageId"]
        if entry["Id"] in failed:
            failure = failed[entry["Id"]]
            outcome.mark(message_id, MessageFate.RETRY, f"{rejection.code}; could not park: {failure.code}")
            continue
        outcome.mark(message_id, MessageFate.DEAD_LETTERED, rejection.code)
        logger.warning(
            "message parked in the dead-letter queue",
            extra={"message_id": message_id, "error_code": rejection.code, "reason": rejection.reason},
        )


def _dlq_entry(entry_id: str, rejection: Rejection, function_name: str) -> dict[str, Any]:
    reason = f"{REJECTION_CODES[rejection.code]}: {rejection.reason}"[:REASON_LIMIT]
    attributes = {
        "error_code": rejection.code,
        "error_reason": reason,
        "handler": function_name,
        "source_message_id": rejection.record["messageId"],
    }
    if rejection.record.get("eventSourceARN"):
        attributes["source_queue_arn"] = rejection.record["eventSourceARN"]
    return {
        "Id": entry_id,
        "MessageBody": rejection.record["body"],
        "MessageAttributes": {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
    }


def _typed_key(typed_item: Mapping[str, Any]) -> TypedKey:
    return tuple(sorted((name, *typed_item[name].items()) for name in (HASH_KEY, RANGE_KEY)))


def _log_summary(outcome: SqsBatchOutcome) -> None:
    counts = outcome.counts()
    if counts.get(MessageFate.RETRY):
        retried = {mid: reason for mid, reason in outcome.reasons.items() if outcome.fate(mid) == MessageFate.RETRY}
        logger.error("messages left on the queue for another try", extra={"counts": counts, "reasons": retried})
    elif counts.get(MessageFate.FILTERED) or counts.get(MessageFate.DEAD_LETTERED):
        logger.info("batch handled", extra={"counts": counts})
