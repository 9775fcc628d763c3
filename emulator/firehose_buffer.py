"""Firehose BufferingHints: records collect per destination and reach S3 as one object when the
buffer holds SizeInMBs or is IntervalInSeconds old, whichever comes first (AWS's defaults:
5 MiB, 300 s)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_SECONDS = 300

# deliver(stream, destination, body, oldest_arrival): writes one object under AWS's key layout,
# whose time is the arrival (epoch seconds) of the oldest record in it.
Deliver = Callable[[dict[str, Any], dict[str, Any], bytes, float], None]


@dataclass
class _Buffer:
    stream: dict[str, Any]
    destination: dict[str, Any]
    size_limit: int
    interval: float
    opened_at: float
    oldest_arrival: float
    payloads: list[bytes] = field(default_factory=list)
    size: int = 0


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
        self._buffers: dict[tuple[str, str], _Buffer] = {}
        self._lock = threading.Lock()

    def add(self, stream: dict[str, Any], destination: dict[str, Any], payloads: list[bytes]) -> None:
        key = (stream["name"], destination.get("id", ""))
        with self._lock:
            buffer = self._buffers.get(key)
            if buffer is None:
                hints = destination.get("config", {}).get("BufferingHints") or {}
                buffer = self._buffers[key] = _Buffer(
                    stream,
                    destination,
                    size_limit=int(hints.get("SizeInMBs", DEFAULT_SIZE_MB)) * 1024 * 1024,
                    interval=float(hints.get("IntervalInSeconds", DEFAULT_INTERVAL_SECONDS)),
                    opened_at=self._clock(),
                    oldest_arrival=self._wall_clock(),
                )
            buffer.payloads.extend(payloads)
            buffer.size += sum(len(payload) for payload in payloads)
            full = buffer.size >= buffer.size_limit
            if full:
                del self._buffers[key]
        if full:
            self._flush(buffer)

    def flush_due(self) -> int:
        """Deliver every buffer whose interval has passed; returns how many objects were written."""
        now = self._clock()
        with self._lock:
            due = [key for key, buffer in self._buffers.items() if now - buffer.opened_at >= buffer.interval]
            buffers = [self._buffers.pop(key) for key in due]
        for buffer in buffers:
            self._flush(buffer)
        return len(buffers)

    def flush_all(self) -> int:
        with self._lock:
            buffers, self._buffers = list(self._buffers.values()), {}
        for buffer in buffers:
            self._flush(buffer)
        return len(buffers)

    def pending_records(self) -> int:
        with self._lock:
            return sum(len(buffer.payloads) for buffer in self._buffers.values())

    def _flush(self, buffer: _Buffer) -> None:
        self._deliver(buffer.stream, buffer.destination, b"".join(buffer.payloads), buffer.oldest_arrival)
