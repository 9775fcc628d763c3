"""Sending a planned run at a steady rate through one transport (`Transport`: SQS, MQTT or HTTPS,
a module each), from enough concurrent senders to hold the rate. Batches are released on a fixed
schedule, so the rate holds over the run instead of drifting with call latency."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from aws_calls.batching import Failure
from simulator.payloads import Outgoing

BATCH = 10
PROGRESS_EVERY_SECONDS = 5.0


class Transport(Protocol):
    def send(self, messages: list[Outgoing]) -> list[Failure]:
        """Deliver the messages; returns those it could not, each Failure's entry {"Id": "<index>"}."""

    @property
    def retries(self) -> int:
        """Tries beyond the first so far (backoffs, or MQTT reconnects)."""


class RetryCounter:
    """The `sleep` of send_with_retries, which sleeps once before each try after the first: so
    it counts the retries."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.count = 0
        self._sleep = sleep
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
        self._sleep(seconds)


@dataclass
class Tally:
    sent: Counter = field(default_factory=Counter)  # by kind
    per_device: Counter = field(default_factory=Counter)
    failed: int = 0
    errors: Counter = field(default_factory=Counter)
    delivered: list[Outgoing] = field(default_factory=list)
    elapsed: float = 0.0
    retries: int = 0
    # Stopped by Ctrl-C: what was handed to the senders was still sent and counted.
    interrupted: bool = False
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


def send_run(
    transport: Transport,
    batches: Iterator[list[Outgoing]],
    rate: float,
    senders: int,
    progress: Callable[[Tally, float], None] | None = None,
    bursts: Callable[[float], int] = lambda _elapsed: 0,
    started_sending: Callable[[], None] = lambda: None,
) -> Tally:
    """Send every batch, releasing batch n at start + n * 10 / rate; returns what was sent.

    `bursts(elapsed)` says how many batches beyond the schedule are due now (a burst): they are
    released at once, on top of the steady rate. `progress` is called every few seconds and at
    the end. Ctrl-C stops the release of batches and returns the tally (`interrupted`).
    `started_sending` is called once the senders run: from then on Ctrl-C is a tally's end, not
    an interrupted thread start."""
    tally = Tally()
    work: queue.Queue = queue.Queue(maxsize=senders * 4)

    def sender() -> None:
        while (messages := work.get()) is not None:
            tally.record(messages, transport.send(messages))

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    last_report = started

    def report_progress() -> None:
        nonlocal last_report
        last_report = time.monotonic()
        tally.retries = transport.retries
        if progress:
            progress(tally, last_report - started)

    scheduled = 0
    try:
        started_sending()
        for messages in batches:
            if bursts(time.monotonic() - started) <= 0:
                release_at = started + scheduled * BATCH / rate
                scheduled += 1
                while (delay := release_at - time.monotonic()) > 0:
                    time.sleep(min(delay, 0.2))
                    if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                        report_progress()
            work.put(messages)
            if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                report_progress()
    except KeyboardInterrupt:
        tally.interrupted = True
        # Batches not yet taken by a sender are not sent: only what is under way finishes.
        while not work.empty():
            work.get_nowait()
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    tally.elapsed = time.monotonic() - started
    report_progress()
    return tally
