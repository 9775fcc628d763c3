"""Where each stream consumer has got to: the last processed sequence number per shard.

A consumer is a function reading a stream, and its checkpoint file is named after both, not after
the mapping's UUID: a mapping deleted and created again (`make teardown && make up`, or through
the Lambda API) goes on where the old one stopped instead of replaying the stream. Files from
before, named by mapping UUID, are moved to the consumer's name when their mapping next starts.

A checkpoint is never skipped: one that cannot be written (a full disk) is retried until it is,
and the shard waits meanwhile; one that cannot be read is reported, and what happens next is
the user's choice (`LostCheckpoint`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeGuard

logger = logging.getLogger("emulator.esm")

FIRST_RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 5.0


class LostCheckpoint(StrEnum):
    """What the data plane does for a consumer whose checkpoint file cannot be read
    (STREAM_LOST_CHECKPOINT): `stop` reads nothing of that stream until the user chooses;
    `trim_horizon` reads the stream again from its oldest record (duplicates downstream);
    `latest` reads only records written from now on (the ones in between are never delivered)."""

    STOP = "stop"
    TRIM_HORIZON = "trim_horizon"
    LATEST = "latest"


class StartPosition(StrEnum):
    """Where a shard without a checkpoint is read from, after a LostCheckpoint choice."""

    TRIM_HORIZON = "TRIM_HORIZON"
    LATEST = "LATEST"


class ProblemKind(StrEnum):
    """The problems a mapping can have that the data plane reports in its status file."""

    CHECKPOINT_UNREADABLE = "checkpoint unreadable"
    CHECKPOINT_UNWRITABLE = "checkpoint unwritable"
    DUPLICATE_CONSUMER = "duplicate consumer"


class Problems:
    """One-line problems per mapping, shown in the data plane's status file until cleared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[tuple[str, ProblemKind], str] = {}

    def report(self, mapping_id: str, kind: ProblemKind, message: str) -> None:
        with self._lock:
            self._problems[(mapping_id, kind)] = message

    def clear(self, mapping_id: str | None = None, kind: ProblemKind | None = None) -> None:
        """Those of `mapping_id` (all mappings when None) of `kind` (all kinds when None)."""
        with self._lock:
            for key in [key for key in self._problems if mapping_id in (None, key[0]) and kind in (None, key[1])]:
                del self._problems[key]

    def lines(self) -> list[str]:
        with self._lock:
            return [f"mapping {mapping_id}: {message}" for (mapping_id, _), message in sorted(self._problems.items())]


@dataclass(frozen=True)
class Consumer:
    function_arn: str
    event_source_arn: str

    @property
    def file_name(self) -> str:
        """Readable (the function's name) and unique (a digest of both ARNs)."""
        digest = hashlib.sha256(f"{self.function_arn}\n{self.event_source_arn}".encode()).hexdigest()[:16]
        function = re.sub(r"[^A-Za-z0-9_.-]", "-", self.function_arn.split(":function:")[-1])
        return f"{function}.{digest}.json"

    def __str__(self) -> str:
        return f"{self.function_arn} on {self.event_source_arn}"


class UnreadableCheckpoint(Exception):
    """A checkpoint file that is there but cannot be used; the message is one line naming it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"checkpoint file {path} {reason}")
        self.path = path


class Checkpoints:
    """One consumer's positions, in a JSON file written atomically after every batch. `start`,
    once a LostCheckpoint choice is made, is where shards without a position are read from: it
    is kept in the file, so a restart before the first batch does not fall back to the mapping's
    StartingPosition (a replay of the stream, after choosing `latest`)."""

    def __init__(
        self,
        path: Path,
        consumer: Consumer,
        positions: dict[str, str],
        report: ProblemReport,
        stopping: threading.Event,
        start: StartPosition | None = None,
    ) -> None:
        self.path = path
        self.start = start
        self._consumer = consumer
        self._positions = positions
        self._report = report
        self._stopping = stopping
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, folder: Path, consumer: Consumer, mapping_id: str, report: ProblemReport, stopping: threading.Event
    ) -> Checkpoints:
        """The consumer's checkpoints; raises UnreadableCheckpoint when its file cannot be used."""
        path = folder / consumer.file_name
        legacy = folder / f"{mapping_id}.json"
        if path.exists():
            positions, start = _read_positions(path, consumer)
            return cls(path, consumer, positions, report, stopping, start)
        if not legacy.exists():
            return cls(path, consumer, {}, report, stopping)
        checkpoints = cls(path, consumer, _read_legacy_positions(legacy), report, stopping)
        if checkpoints._write_until_done(f"moving {legacy.name} to {path.name}"):
            legacy.unlink()
            logger.info("checkpoints of mapping %s moved to %s (kept per function and stream)", mapping_id, path)
        return checkpoints

    @classmethod
    def after_unreadable(
        cls,
        error: UnreadableCheckpoint,
        consumer: Consumer,
        start: StartPosition,
        report: ProblemReport,
        stopping: threading.Event,
    ) -> tuple[Checkpoints, Path]:
        """No positions, reading from `start`, with the unreadable file kept aside (returned) as
        evidence. Raises OSError when it cannot be moved."""
        path = error.path.parent / consumer.file_name
        aside = error.path.with_name(f"{error.path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
        error.path.replace(aside)
        checkpoints = cls(path, consumer, {}, report, stopping, start)
        checkpoints._write_until_done(f"reading from {start} waits")
        return checkpoints, aside

    def get(self, shard_id: str) -> str | None:
        with self._lock:
            return self._positions.get(shard_id)

    def save(self, shard_id: str, sequence_number: str) -> None:
        """Record the position; on a write error (a full disk) retry with backoff until it is
        written, so the shard waits rather than runs ahead of its checkpoint. When the worker
        stops first, the records after the last written position are delivered again."""
        with self._lock:
            self._positions[shard_id] = sequence_number
        self._write_until_done(f"shard {shard_id} waits")

    def _write_until_done(self, waiting: str) -> bool:
        delay = FIRST_RETRY_SECONDS
        failing = False
        while True:
            try:
                self._write()
            except OSError as error:
                message = (
                    f"cannot write checkpoint file {self.path} ({error.strerror or error}): {waiting}, "
                    f"trying again every {MAX_RETRY_SECONDS:g} s at most; nothing is skipped"
                )
                if not failing:
                    logger.error("%s", message)
                failing = True
                self._report(message)
                if self._stopping.wait(delay):
                    logger.error(
                        "stopped before checkpoint file %s could be written: the records after its last "
                        "written position are delivered again at the next start",
                        self.path,
                    )
                    return False
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            if failing:
                logger.warning("checkpoint file %s written again", self.path)
                self._report(None)
            return True

    def _write(self) -> None:
        with self._lock:
            content = json.dumps(
                {
                    "function_arn": self._consumer.function_arn,
                    "event_source_arn": self._consumer.event_source_arn,
                    "positions": self._positions,
                    **({"start": self.start} if self.start else {}),
                }
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(content)
            os.replace(temporary, self.path)


class ProblemReport:
    """Reports (a message) or clears (None) one problem of one mapping."""

    def __init__(self, problems: Problems, mapping_id: str, kind: ProblemKind) -> None:
        self._problems = problems
        self._mapping_id = mapping_id
        self._kind = kind

    def __call__(self, message: str | None) -> None:
        if message is None:
            self._problems.clear(self._mapping_id, self._kind)
        else:
            self._problems.report(self._mapping_id, self._kind, message)


def _read_positions(path: Path, consumer: Consumer) -> tuple[dict[str, str], StartPosition | None]:
    content = _read_json(path)
    positions = content.get("positions") if isinstance(content, dict) else None
    if not isinstance(content, dict) or not _is_positions(positions):
        raise UnreadableCheckpoint(path, "is not a checkpoint file (no positions by shard)")
    if (content.get("function_arn"), content.get("event_source_arn")) != (
        consumer.function_arn,
        consumer.event_source_arn,
    ):
        raise UnreadableCheckpoint(path, f"belongs to another consumer than {consumer}")
    start = content.get("start")
    if start is not None and start not in set(StartPosition):
        raise UnreadableCheckpoint(path, f"has an unknown start {start!r}")
    return positions, None if start is None else StartPosition(start)


def _read_legacy_positions(path: Path) -> dict[str, str]:
    content = _read_json(path)
    if not _is_positions(content):
        raise UnreadableCheckpoint(path, "is not a checkpoint file (no positions by shard)")
    return content


def _read_json(path: Path) -> object:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableCheckpoint(path, f"cannot be read ({getattr(error, 'strerror', None) or error})") from None
    try:
        content: object = json.loads(text)
    except ValueError as error:
        raise UnreadableCheckpoint(path, f"is not readable JSON ({error})") from None
    return content


def _is_positions(value: object) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
