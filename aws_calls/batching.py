"""Splitting work into calls that respect an API's per-call limits, and retrying partial failures."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

Entry = TypeVar("Entry")


def chunks(
    entries: Sequence[Entry],
    max_count: int,
    max_bytes: int | None = None,
    size_of: Callable[[Any], int] = len,
) -> Iterator[list[Entry]]:
    """Consecutive groups of at most `max_count` entries and `max_bytes` total size.

    An entry bigger than `max_bytes` on its own still gets a group of its own, so the API
    call can say what is wrong with it rather than the entry vanishing here.
    """
    group: list[Entry] = []
    group_bytes = 0
    for entry in entries:
        size = size_of(entry) if max_bytes is not None else 0
        if group and (len(group) == max_count or (max_bytes is not None and group_bytes + size > max_bytes)):
            yield group
            group, group_bytes = [], 0
        group.append(entry)
        group_bytes += size
    if group:
        yield group


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, as AWS's SDKs do."""

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass(frozen=True)
class Failure:
    """An entry the API did not accept; `retryable` False means trying again cannot help.
    `entry` is what the caller sent, of whatever type its API takes."""

    entry: Any
    code: str
    message: str = ""
    retryable: bool = True


def send_with_retries(
    send: Callable[[list[Entry]], list[Failure]],
    entries: list[Entry],
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> list[Failure]:
    """Send `entries`, then again only those that failed in a retryable way, with backoff.

    `send` returns the entries the API reported as failed (a partial failure); an exception
    for the whole call counts as every entry failing when `is_transient` says so, and is
    raised otherwise. Returns the failures left when the attempts run out.
    """
    pending = list(entries)
    final: list[Failure] = []
    for attempt in range(policy.attempts):
        if attempt:
            sleep(policy.delay(attempt))
        try:
            failures = send(pending)
        except Exception as error:
            if not is_transient(error):
                raise
            failures = [Failure(entry, error_code(error), str(error)) for entry in pending]
        final.extend(failure for failure in failures if not failure.retryable)
        retry = [failure for failure in failures if failure.retryable]
        if not retry:
            return final
        pending = [failure.entry for failure in retry]
    return final + retry


def error_code(error: BaseException) -> str:
    """The error code (`ThrottlingException`, ...) when there is one (botocore's, or the `code` of
    the data plane's client), else the type name."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else getattr(error, "code", None)
    return code if isinstance(code, str) and code else type(error).__name__


def sqs_batch_failures(entries: Sequence[Mapping[str, Any]], response: Mapping[str, Any]) -> list[Failure]:
    """The entries an SQS *Batch call (SendMessageBatch, DeleteMessageBatch) reported as failed.
    SQS marks the caller's mistakes with SenderFault; trying those again cannot help."""
    by_id = {entry["Id"]: entry for entry in entries}
    return [
        Failure(
            by_id[failed["Id"]],
            failed.get("Code", ""),
            failed.get("Message", ""),
            retryable=not failed.get("SenderFault"),
        )
        for failed in response.get("Failed", [])
    ]
