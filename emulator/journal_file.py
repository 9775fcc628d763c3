"""The journal's files: records of state changes, each checksummed, appended to preallocated
space, and read back with a torn last record told apart from corruption. Pure: no MiniStack,
no boto3; `emulator.ministack.journal` says what the entries mean.

A record is `<payload length: u32 LE><CRC-32 of the payload: u32 LE><payload>`, the payload a
JSON array of entries, all the entries one flush wrote. Records follow each other in a
generation file, `<directory>/<generation, 8 digits>.journal`; a zero length marks the end of
what was written (the rest of the file is reserved space, all zeros). A new generation starts at
each start and each checkpoint; older ones are removed once a snapshot holds what they record.

Space is reserved ahead (posix_fallocate): a write only ever goes into reserved space, so a full
disk shows when reserving, before a request is let in, not after it has changed the state.
write() is enough to survive a kill -9 (the kernel has the bytes once it returns); `sync` adds
fdatasync per write, for a power cut.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from emulator.lifecycle import EmulatorError

logger = logging.getLogger("emulator.journal")

HEADER = struct.Struct("<II")
SUFFIX = ".journal"
_NAME = re.compile(r"^(\d{8})\.journal$")
# No flush writes more than this (a request's entries are bounded by AWS's request limits, a
# checkpoint's first record by the Firehose buffers); a longer length read back is corruption.
MAX_RECORD_BYTES = 256 * 1024 * 1024
_SCAN_CHUNK = 1024 * 1024


class JournalCorrupt(EmulatorError):
    """A record before the last one fails its checksum: the start stops rather than load less."""


class JournalWriteFailed(Exception):
    """A record could not be written: what it holds is not durable."""


class NoJournalSpace(Exception):
    """The space a request may need could not be reserved: it must not be let in."""


class FileOps(Protocol):
    """The three calls the writer makes to the disk (tests give one that fails)."""

    def allocate(self, fd: int, offset: int, length: int) -> None: ...

    def write(self, fd: int, data: bytes, offset: int) -> int: ...

    def sync(self, fd: int) -> None: ...


class OsFileOps:
    def allocate(self, fd: int, offset: int, length: int) -> None:
        os.posix_fallocate(fd, offset, length)

    def write(self, fd: int, data: bytes, offset: int) -> int:
        return os.pwrite(fd, data, offset)

    def sync(self, fd: int) -> None:
        os.fdatasync(fd)


def generation_path(directory: Path, generation: int) -> Path:
    return directory / f"{generation:08d}{SUFFIX}"


def generations(directory: Path) -> list[int]:
    """The generation numbers present, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(int(match[1]) for name in os.listdir(directory) if (match := _NAME.match(name)))


def record(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode(entries: list[Any], default: Callable[[Any], Any] | None = None) -> bytes:
    try:
        return orjson.dumps(entries, default=default)
    except TypeError:
        # What orjson does not take (an int past 64 bits, a lone surrogate) the json module does.
        return json.dumps(entries, separators=(",", ":"), check_circular=False, default=default).encode()


def decode(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)


@dataclass
class ReadResult:
    records: int = 0
    torn_at: int | None = None


def read_generation(path: Path, result: ReadResult | None = None) -> Iterator[list[Any]]:
    """Each record's entries, in order. A torn last record (a write cut short, with nothing but
    reserved zeros after it) is dropped with a warning; a bad record that has data after it
    raises JournalCorrupt, naming the file and the byte."""
    result = result if result is not None else ReadResult()
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        position = 0
        while position + HEADER.size <= size:
            header = file.read(HEADER.size)
            length, checksum = HEADER.unpack(header)
            if length == 0 and checksum == 0:
                return
            end = position + HEADER.size + length
            body = file.read(length) if length <= MAX_RECORD_BYTES and end <= size else b""
            if len(body) == length and zlib.crc32(body) == checksum:
                try:
                    entries = decode(body)
                except ValueError as error:
                    raise JournalCorrupt(f"{path}: the record at byte {position} is not JSON ({error})") from None
                result.records += 1
                yield entries
                position = end
                continue
            if length <= MAX_RECORD_BYTES and (end > size or _zeros_from(file, end)):
                logger.warning(
                    "%s: the last record (byte %d, %d bytes) was cut short by a crash while it was written; "
                    "it was never acknowledged and is dropped",
                    path,
                    position,
                    length,
                )
                result.torn_at = position
                return
            raise JournalCorrupt(
                f"{path}: the record at byte {position} fails its checksum and data follows it; "
                "the journal is corrupt (move the file away to start from the last snapshot alone)"
            )
        if not _zeros_from(file, position):
            logger.warning("%s: a record header at byte %d was cut short by a crash; dropped", path, position)
            result.torn_at = position


def _zeros_from(file: Any, start: int) -> bool:
    file.seek(start)
    while chunk := file.read(_SCAN_CHUNK):
        if chunk.count(0) != len(chunk):
            return False
    return True


class JournalWriter:
    """Appends entries to the current generation; `flush` writes all pending entries as one record.

    Thread-safe: entries come from the event loop and from the Firehose flusher thread. They are
    encoded together when flushed (one encoder call per record, not one per entry), so an entry
    must hold only values nothing changes afterwards."""

    def __init__(
        self,
        directory: Path,
        reserve_bytes: int,
        sync: bool,
        ops: FileOps | None = None,
        encoder: Callable[[list[Any]], bytes] = encode,
    ):
        self.directory = directory
        self.reserve_bytes = reserve_bytes
        self.sync = sync
        self.ops: FileOps = ops or OsFileOps()
        self._encode = encoder
        self.lock = threading.RLock()
        self.generation = 0
        self.end = 0
        self._fd: int | None = None
        self._allocated = 0
        self._pending: list[Any] = []

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self, generation: int) -> None:
        """Start generation `generation` (a new, empty file), with its space reserved."""
        with self.lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(generation_path(self.directory, generation), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            previous, self._fd = self._fd, fd
            self.generation, self.end, self._allocated = generation, 0, 0
            if previous is not None:
                os.close(previous)
            if self.sync:
                _sync_directory(self.directory)
            self.reserve()

    def close(self) -> None:
        with self.lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def append(self, entry: Any) -> None:
        with self.lock:
            self._pending.append(entry)

    def has_pending(self) -> bool:
        return bool(self._pending)

    def reserve(self) -> None:
        """Make sure `reserve_bytes` are reserved past the end; raises NoJournalSpace if not."""
        with self.lock:
            if self._fd is None or self._allocated - self.end >= self.reserve_bytes:
                return
            try:
                self.ops.allocate(self._fd, self._allocated, self.reserve_bytes)
            except OSError as error:
                raise NoJournalSpace(
                    f"cannot reserve {self.reserve_bytes / (1024 * 1024):g} MB for the journal in {self.directory}: "
                    f"{error.strerror or error}"
                ) from None
            self._allocated += self.reserve_bytes

    def flush(self) -> None:
        """Write every pending entry as one record; raises JournalWriteFailed."""
        with self.lock:
            if not self._pending or self._fd is None:
                return
            data = record(self._encode(self._pending))
            self._pending = []
            try:
                if self.end + len(data) > self._allocated:
                    # Reserved space ran short (one record bigger than the reserve): extend first.
                    self.ops.allocate(self._fd, self._allocated, self.end + len(data) - self._allocated)
                    self._allocated = self.end + len(data)
                written = self.ops.write(self._fd, data, self.end)
                if written != len(data):
                    raise OSError(f"wrote {written} of {len(data)} bytes")
                if self.sync:
                    self.ops.sync(self._fd)
            except OSError as error:
                raise JournalWriteFailed(
                    f"cannot write the journal {generation_path(self.directory, self.generation)}: "
                    f"{error.strerror or error}"
                ) from None
            self.end += len(data)

    def rotate(self, first_entries: Callable[[], list[Any]]) -> list[int]:
        """Flush, then start the next generation with `first_entries()` as its first record; returns
        the older generations, which the caller removes once a snapshot holds what they record."""
        with self.lock:
            self.flush()
            older = [g for g in generations(self.directory) if g <= self.generation]
            self.open(self.generation + 1)
            self._pending = first_entries()
            self.flush()
            return older

    def remove(self, older: list[int]) -> None:
        """Remove generations other than the one being written."""
        for generation in older:
            if generation != self.generation or self._fd is None:
                generation_path(self.directory, generation).unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
