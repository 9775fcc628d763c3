"""Firehose BufferingHints: records collect per destination and reach S3 as one object when the
buffer holds SizeInMBs or is IntervalInSeconds old, whichever comes first (AWS's defaults:
5 MiB, 300 s).

Acknowledged records wait here for up to the interval, so a `BufferLog` (the journal) is told
of every record added and every buffer delivered, and a restart `restore`s what was not
delivered. Buffers are delivered by the flusher thread only (`flush_due`, `flush_all`): there
the S3 write is done when delivery returns, so a buffer is logged delivered only once its
object is written. A delivery that fails leaves the buffer to be tried again.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_SECONDS = 300

# deliver(stream, destination, body, oldest_arrival): writes one object under AWS's key layout,
# whose time is the arrival (epoch seconds) of the oldest record in it; raises if it could not.
Deliver = Callable[[dict[str, Any], dict[str, Any], bytes, float], None]


@dataclass(frozen=True)
class BufferedRecords:
    """Records of one buffer, named as the journal keeps them: stream and destination by name."""

    stream: str
    destination: str
    buffer: int
    payloads: list[bytes]


class BufferLog(Protocol):
    def added(self, records: BufferedRecords) -> None:
        """`records.payloads` were added to buffer `records.buffer` (called under the buffers' lock)."""

    def delivered(self, buffer: int) -> None:
        """Buffer `buffer` is in S3."""


@dataclass
class _Buffer:
    serial: int
    stream: dict[str, Any]
    destination: dict[str, Any]
    size_limit: int
    interval: float
    opened_at: float
    # Wall clock (epoch seconds) when its first record arrived: the object key's time.
    oldest_arrival: float
    payloads: list[bytes] = field(default_factory=list)
    size: int = 0

    def records(self) -> BufferedRecords:
        return BufferedRecords(self.stream["name"], self.destination.get("id", ""), self.serial, list(self.payloads))


class DeliveryFailed(Exception):
    """Some buffers could not be written to S3; they are kept and tried again."""


class FirehoseBuffers:
    def __init__(
        self,
        deliver: Deliver,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self._deliver = deliver
        self._clock = clock
        self._wall_clock = wall_clock
        self._open: dict[tuple[str, str], _Buffer] = {}
        # Full or due, waiting for the flusher (or for another try after a failed delivery).
        self._sealed: dict[int, _Buffer] = {}
        self._next_serial = 1
        self._lock = threading.Lock()
        # Held while buffers are delivered: `paused` keeps deliveries out of a checkpoint.
        self._delivering = threading.Lock()
        self._last_failure: str | None = None
        self.log: BufferLog | None = None

    def add(self, stream: dict[str, Any], destination: dict[str, Any], payloads: list[bytes]) -> None:
        key = (stream["name"], destination.get("id", ""))
        with self._lock:
            buffer = self._open.get(key)
            if buffer is None:
                hints = destination.get("config", {}).get("BufferingHints") or {}
                buffer = self._open[key] = _Buffer(
                    self._next_serial,
                    stream,
                    destination,
                    size_limit=int(hints.get("SizeInMBs", DEFAULT_SIZE_MB)) * 1024 * 1024,
                    interval=float(hints.get("IntervalInSeconds", DEFAULT_INTERVAL_SECONDS)),
                    opened_at=self._clock(),
                    oldest_arrival=self._wall_clock(),
                )
                self._next_serial += 1
            buffer.payloads.extend(payloads)
            buffer.size += sum(len(payload) for payload in payloads)
            if self.log is not None:
                self.log.added(BufferedRecords(key[0], key[1], buffer.serial, list(payloads)))
            if buffer.size >= buffer.size_limit:
                self._sealed[buffer.serial] = self._open.pop(key)

    def flush_due(self) -> int:
        """Deliver every full buffer and every buffer whose interval has passed; returns how many
        objects were written. Raises DeliveryFailed (once per distinct failure) when S3 refuses."""
        now = self._clock()
        with self._lock:
            for key in [key for key, buffer in self._open.items() if now - buffer.opened_at >= buffer.interval]:
                buffer = self._open.pop(key)
                self._sealed[buffer.serial] = buffer
        return self._deliver_sealed()

    def flush_all(self) -> int:
        with self._lock:
            for buffer in self._open.values():
                self._sealed[buffer.serial] = buffer
            self._open = {}
        return self._deliver_sealed(always_raise=True)

    def pending_records(self) -> int:
        with self._lock:
            return sum(len(buffer.payloads) for buffer in itertools.chain(self._open.values(), self._sealed.values()))

    def pending(self) -> list[BufferedRecords]:
        """Every record not yet in S3, by buffer."""
        with self._lock:
            return [buffer.records() for buffer in itertools.chain(self._sealed.values(), self._open.values())]

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No buffer is delivered meanwhile (records may still be added)."""
        with self._delivering:
            yield

    def restore(self, stream: dict[str, Any], destination: dict[str, Any], records: BufferedRecords) -> None:
        """Take back a buffer that was not delivered before a crash: it keeps its number (the
        journal names it) and goes out with the next flush."""
        with self._lock:
            self._sealed[records.buffer] = _Buffer(
                records.buffer,
                stream,
                destination,
                size_limit=0,
                interval=0.0,
                opened_at=self._clock(),
                # The journal keeps no arrival times: the object is keyed at the restart.
                oldest_arrival=self._wall_clock(),
                payloads=list(records.payloads),
                size=sum(len(payload) for payload in records.payloads),
            )
            self._next_serial = max(self._next_serial, records.buffer + 1)

    def _deliver_sealed(self, always_raise: bool = False) -> int:
        delivered = 0
        with self._delivering:
            with self._lock:
                todo = list(self._sealed.values())
            for buffer in todo:
                try:
                    self._deliver(buffer.stream, buffer.destination, b"".join(buffer.payloads), buffer.oldest_arrival)
                except Exception as error:
                    failure = f"{len(buffer.payloads)} records of {buffer.stream['name']} not delivered: {error}"
                    if always_raise or failure != self._last_failure:
                        self._last_failure = failure
                        raise DeliveryFailed(failure) from error
                    return delivered
                with self._lock:
                    del self._sealed[buffer.serial]
                    if self.log is not None:
                        self.log.delivered(buffer.serial)
                delivered += 1
        if delivered:
            self._last_failure = None
        return delivered
