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
  a response Lambda cannot read (unknown or missing identifier) fails the whole batch.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "MaximumRecordAgeInSecondsExceeded"
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

    pending: deque[tuple[list[dict[str, Any]], int]] = deque([(list(records), 0)])
    while pending:
        batch, retries = pending.popleft()
        if config.maximum_record_age_seconds >= 0:
            oldest_allowed = now() - config.maximum_record_age_seconds
            too_old = [r for r in batch if r["dynamodb"]["ApproximateCreationDateTime"] < oldest_allowed]
            if too_old:
                discard(too_old, RECORD_AGE_EXCEEDED, None, retries)
                batch = [r for r in batch if r not in too_old]
                if not batch:
                    continue
        result = invoke(batch)
        if result.error == NOT_INVOKED:
            sleep(1.0)
            pending.appendleft((batch, retries))
            continue
        failed_from = _first_failed(batch, result, config)
        if failed_from is None:
            continue
        batch = batch[failed_from:]
        if config.bisect_on_error and len(batch) > 1:
            half = len(batch) // 2
            pending.extendleft([(batch[half:], retries), (batch[:half], retries)])
            continue
        if 0 <= config.maximum_retry_attempts <= retries:
            discard(batch, RETRY_ATTEMPTS_EXHAUSTED, result, retries + 1)
            continue
        sleep(min(1.0, 0.05 * 2**retries))
        pending.appendleft((batch, retries + 1))
    return discarded


def _first_failed(batch: list[dict[str, Any]], result: InvokeResult, config: StreamMappingConfig) -> int | None:
    """Index of the first record to retry, or None when the whole batch succeeded."""
    if result.error:
        return 0
    if not config.report_batch_item_failures:
        return None
    positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(batch)}
    reported = reported_failures(result, positions)
    if reported is None:
        return 0
    return min(positions[identifier] for identifier in reported) if reported else None


def reported_failures(result: InvokeResult, known: Iterable[str]) -> set[str] | None:
    """The identifiers a partial batch response ({"batchItemFailures": [{"itemIdentifier": ...}]})
    reports as failed; empty when the batch succeeded. None when it names an identifier that is
    empty or not in the batch, which Lambda treats as the whole batch failing. Used by the SQS
    and the stream mappings alike."""
    try:
        response = json.loads(result.payload or b"null")
    except ValueError:
        return set()
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return set()
    known, reported = set(known), set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in known:
            return None
        reported.add(identifier)
    return reported


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
    record = {
        "requestContext": {
            "requestId": result.request_id if result else "",
            "functionArn": config.function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": {
            "statusCode": result.status_code if result else 0,
            "executedVersion": "$LATEST",
            "functionError": (result.error or "") if result else "",
        },
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
