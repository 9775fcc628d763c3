"""Sending a planned run to SQS at a steady rate: SendMessageBatch (10 per call) from enough
concurrent senders to hold the rate, entries SQS reports as failed sent again with backoff,
throttling backed off. Batches are released on a fixed schedule, so the rate holds over the run
instead of drifting with call latency."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from aws_calls.batching import Failure, RetryPolicy, send_with_retries, sqs_batch_failures
from aws_calls.errors import is_transient
from simulator.payloads import Outgoing

BATCH = 10


@dataclass
class Tally:
    sent: Counter = field(default_factory=Counter)  # by kind
    per_device: Counter = field(default_factory=Counter)
    failed: int = 0
    errors: Counter = field(default_factory=Counter)
    delivered: list[Outgoing] = field(default_factory=list)
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, messages: list[Outgoing], failures: list[Failure]) -> None:
        failed_ids = {failure.entry["Id"] for failure in failures}
        with self.lock:
            for index, message in enumerate(messages):
                if str(index) in failed_ids:
                    self.failed += 1
                    continue
                self.sent[message.kind] += 1
                self.per_device[message.device_id] += 1
                self.delivered.append(message)
            for failure in failures:
                self.errors[failure.code] += 1

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def senders_for(rate: float) -> int:
    """Concurrent senders enough to hold `rate` (a SendMessageBatch takes a few ms here)."""
    return max(2, min(32, int(rate // 150) + 2))


# Devices keep trying longer than the functions do: a reading not sent is lost for good.
SEND_RETRY = RetryPolicy(attempts=8)


def send_run(
    sqs,
    queue_url: str,
    batches: Iterator[list[Outgoing]],
    rate: float,
    senders: int,
    progress: Callable[[Tally, float], None] | None = None,
    retry: RetryPolicy = SEND_RETRY,
    bursts: Callable[[float], int] = lambda _elapsed: 0,
) -> Tally:
    """Send every batch, releasing batch n at start + n * 10 / rate; returns what was sent.

    `bursts(elapsed)` says how many batches beyond the schedule are due now (a burst): they are
    released at once, on top of the steady rate."""
    tally = Tally()
    work: queue.Queue = queue.Queue(maxsize=senders * 4)

    def sender() -> None:
        while (messages := work.get()) is not None:
            entries = [{"Id": str(index), "MessageBody": message.body} for index, message in enumerate(messages)]
            try:
                failures = send_with_retries(
                    lambda batch: sqs_batch_failures(batch, sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)),
                    entries,
                    retry,
                    is_transient,
                )
            except (ClientError, BotoCoreError) as error:
                failures = [Failure(entry, type(error).__name__, str(error), retryable=False) for entry in entries]
            tally.record(messages, failures)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    last_report = started
    scheduled = 0
    for messages in batches:
        if bursts(time.monotonic() - started) <= 0:
            release_at = started + scheduled * BATCH / rate
            scheduled += 1
            while (delay := release_at - time.monotonic()) > 0:
                time.sleep(min(delay, 0.2))
        work.put(messages)
        if progress and time.monotonic() - last_report >= 1:
            last_report = time.monotonic()
            progress(tally, last_report - started)
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    tally.elapsed = time.monotonic() - started
    if progress:
        progress(tally, tally.elapsed)
    return tally
