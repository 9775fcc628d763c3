"""Delivering one batch of DynamoDB stream records to a function, as Lambda does.

- An error (or a ReportBatchItemFailures response naming a record) is retried; with
  BisectBatchOnFunctionError the failing batch is split in two first, and splitting does not use
  up the retry quota (AWS: "splitting a batch does not count towards the retry quota").
- After MaximumRetryAttempts retries (-1: no limit), or once a record is older than
  MaximumRecordAgeInSeconds (-1: no limit), the records are discarded and an invocation record
  describing them goes to the on-failure destination.
- An invoke that never reached the function (the API unreachable, a throttle) is retried until
  the records are too old, without using up the retry quota (AWS: "if the event source mapping
  cannot invoke the function due to throttling or other issues, it retries until the records
  expire or exceed the maximum age").
- A ReportBatchItemFailures response checkpoints everything before the first reported record;
  a response Lambda cannot read (`batch_response`) fails the whole batch.

The invocation record follows AWS's recordings (LocalStack's AWS-validated snapshots of
`test_dynamodb_report_batch_item_failure_scenarios` and `test_kinesis_maximum_record_age_exceeded`):
`responseContext.functionError` is null when the function returned normally (a partial batch
response failed the batch); a `RecordAgeExceeded` record has no `responseContext`; and
`approximateInvokeCount` counts the attempt that gave up, so it is 1 for records too old before
their first invocation.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emulator.esm.batch_response import reported_failures

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"
# The `error` of an invoke that did not reach the function.
NOT_INVOKED = "InvokeFailed"


@dataclass(frozen=True)
class StreamMappingConfig:
    function_arn: str
    stream_arn: str
    maximum_retry_attempts: int = -1
    maximum_record_age_seconds: int = -1
    bisect_on_error: bool = False
    report_batch_item_failures: bool = False

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> StreamMappingConfig:
        return cls(
            function_arn=mapping["FunctionArn"],
            stream_arn=mapping["EventSourceArn"],
            maximum_retry_attempts=int(mapping.get("MaximumRetryAttempts", -1)),
            maximum_record_age_seconds=int(mapping.get("MaximumRecordAgeInSeconds", -1)),
            bisect_on_error=bool(mapping.get("BisectBatchOnFunctionError", False)),
            report_batch_item_failures="ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []),
        )


@dataclass(frozen=True)
class InvokeResult:
    """What one invocation came to: `error` is Lambda's FunctionError ("Unhandled") or None."""

    request_id: str
    status_code: int
    error: str | None
    payload: bytes


@dataclass(frozen=True)
class Discarded:
    records: list[dict[str, Any]]
    condition: str
    result: InvokeResult | None
    invoke_count: int


Invoke = Callable[[list[dict[str, Any]]], InvokeResult]


def deliver_stream_batch(
    records: Sequence[dict[str, Any]],
    shard_id: str,
    config: StreamMappingConfig,
    invoke: Invoke,
    on_failure: Callable[[dict[str, Any]], None],
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Discarded]:
    """Deliver `records` in order until each is processed or discarded; returns the discards.

    When this returns, every record of the batch may be checkpointed.
    """
    discarded: list[Discarded] = []

    def discard(batch: list[dict[str, Any]], condition: str, result: InvokeResult | None, invoke_count: int) -> None:
        discarded.append(Discarded(batch, condition, result, invoke_count))
        on_failure(failure_record(batch, shard_id, config, condition, result, invoke_count, now()))

    # (records, retries so far, the last invocation's result)
    pending: deque[tuple[list[dict[str, Any]], int, InvokeResult | None]] = deque([(list(records), 0, None)])
    while pending:
        batch, retries, last = pending.popleft()
        if config.maximum_record_age_seconds >= 0:
            oldest_allowed = now() - config.maximum_record_age_seconds
            too_old = [r for r in batch if r["dynamodb"]["ApproximateCreationDateTime"] < oldest_allowed]
            if too_old:
                discard(too_old, RECORD_AGE_EXCEEDED, last, retries + 1)
                batch = [r for r in batch if r not in too_old]
                if not batch:
                    continue
        result = invoke(batch)
        if result.error == NOT_INVOKED:
            sleep(1.0)
            pending.appendleft((batch, retries, last))
            continue
        failed_from = _first_failed(batch, result, config)
        if failed_from is None:
            continue
        batch = batch[failed_from:]
        if config.bisect_on_error and len(batch) > 1:
            half = len(batch) // 2
            pending.extendleft([(batch[half:], retries, result), (batch[:half], retries, result)])
            continue
        if 0 <= config.maximum_retry_attempts <= retries:
            discard(batch, RETRY_ATTEMPTS_EXHAUSTED, result, retries + 1)
            continue
        sleep(min(1.0, 0.05 * 2**retries))
        pending.appendleft((batch, retries + 1, result))
    return discarded


def _first_failed(batch: list[dict[str, Any]], result: InvokeResult, config: StreamMappingConfig) -> int | None:
    """Index of the first record to retry, or None when the whole batch succeeded."""
    if result.error:
        return 0
    if not config.report_batch_item_failures:
        return None
    positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(batch)}
    reported = reported_failures(result.payload, positions)
    if reported is None:
        return 0
    return min(positions[identifier] for identifier in reported) if reported else None


def failure_record(
    batch: list[dict[str, Any]],
    shard_id: str,
    config: StreamMappingConfig,
    condition: str,
    result: InvokeResult | None,
    invoke_count: int,
    now: float,
) -> dict[str, Any]:
    """The invocation record Lambda sends to an on-failure destination for a stream batch."""
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    record: dict[str, Any] = {
        "requestContext": {
            # Records too old for a first invocation still get a request id of their own.
            "requestId": result.request_id if result else str(uuid.uuid4()),
            "functionArn": config.function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        }
    }
    if condition != RECORD_AGE_EXCEEDED and result:
        record["responseContext"] = {
            "statusCode": result.status_code,
            "executedVersion": "$LATEST",
            "functionError": result.error,
        }
    record |= {
        "version": "1.0",
        "timestamp": _iso(now, milliseconds=True),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
            "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
            "batchSize": len(batch),
            "streamArn": config.stream_arn,
        },
    }
    return record


def _iso(epoch_seconds: float, milliseconds: bool = False) -> str:
    moment = datetime.fromtimestamp(float(epoch_seconds), UTC)
    if milliseconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
