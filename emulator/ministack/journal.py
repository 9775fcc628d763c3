"""The journal: every change to the data the pipeline keeps is written before its answer, and
replayed onto MiniStack's snapshot at the next start, so a kill -9 of the API process loses
nothing that was acknowledged (format and files: `emulator.journal_file`).

Entries are after-images taken at MiniStack's choke points, each idempotent (set an item by its
key, append a stream record newer than the last, add a message whose id is absent, delete by
receipt handle), so a journal that overlaps its snapshot replays to the same state:
- DynamoDB: `_set_item` and `_remove_item` (every write path, our TTL sweep included) and
  `_trim_stream_records`, which MiniStack and the sweep call right after each record is
  appended; records keep their eventID and SequenceNumber, which the data plane checkpoints.
  A record whose images are the item just written is journaled without them (half the bytes);
  replay puts them back. `_items_replaced` (a table's items swapped wholesale) asks for a checkpoint;
- SQS: `_dispatch` (send, delete, visibility, purge, for both protocols), `_collect_msgs`
  (receives, and a standard queue's moves to its dead-letter queue) and `_dlq_sweep` (FIFO moves);
- Firehose: what `FirehoseBuffers` holds until it is in S3 (records added, buffers delivered).
Everything else (tables, queues, functions, mappings, roles, streams, buckets) changes by
control-plane requests: the API process answers those after a checkpoint, a full snapshot.
CloudFormation changes them after its request is answered, in a task of the stack's own: each such
task asks for a checkpoint when it ends, which the next request waits for (a deploy's last
DescribeStacks included), so a stack that reads as complete survives a kill.

A checkpoint starts a new generation at a consistent point (on the event loop, where every
request is handled), writes the snapshot from copies off the loop, and removes the older
generations once every service's file is written.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from emulator.firehose_buffer import BufferedRecords, FirehoseBuffers
from emulator.journal_file import (
    FileOps,
    JournalWriteFailed,
    JournalWriter,
    NoJournalSpace,
    ReadResult,
    encode,
    generation_path,
    generations,
    read_generation,
)
from emulator.ministack import compact
from emulator.ministack import sqs as sqs_patches
from emulator.ministack.registry import Originals, Patch, Target
from emulator.ministack.saves import encode_state, reason, write_document
from emulator.ministack.ttl import DYNAMODB, import_dynamodb

logger = logging.getLogger("emulator.journal")

SQS = sqs_patches.SQS
SET_ITEM = Target(DYNAMODB, "_set_item")
REMOVE_ITEM = Target(DYNAMODB, "_remove_item")
TRIM_STREAM_RECORDS = Target(DYNAMODB, "_trim_stream_records")
ITEMS_REPLACED = Target(DYNAMODB, "_items_replaced")
DISPATCH = Target(SQS, "_dispatch")
COLLECT_MESSAGES = sqs_patches.COLLECT_MESSAGES
DEAD_LETTER_SWEEP = sqs_patches.DEAD_LETTER_SWEEP
# Imported by name into each module that starts a stack's create, update, delete or rollback.
STACK_TASKS = tuple(
    Target(f"ministack.services.cloudformation.{module}", "_create_stack_task_in_region")
    for module in ("stacks", "handlers", "changesets")
)


class Entry(StrEnum):
    """The first field of an entry; the rest are listed with each."""

    ITEM_PUT = "P"  # table ARN, partition key, sort key, item
    ITEM_REMOVED = "R"  # table ARN, partition key, sort key
    STREAM_RECORD = "S"  # account, region, table, record, images linked (0: the record holds them)
    # account, region, table, the fields of a record in MiniStack's usual shape (compact.journal_fields),
    # images linked
    PACKED_STREAM_RECORD = "s"
    MESSAGES_ADDED = "qA"  # queue ARN, [message]: sent, or moved in from a source queue
    MESSAGES_RECEIVED = "qR"  # queue ARN, [[id, receipt handle, visible at, receive count, first received]]
    MESSAGES_DELETED = "qD"  # queue ARN, [receipt handle]
    MESSAGES_MOVED_OUT = "qX"  # queue ARN, [id]: moved to the dead-letter queue
    VISIBILITY_CHANGED = "qV"  # queue ARN, [[receipt handle, visible at]]
    QUEUE_PURGED = "qP"  # queue ARN
    FIREHOSE_ADDED = "fA"  # stream, destination, buffer, [base64 record]
    FIREHOSE_DELIVERED = "fD"  # buffer
    FIREHOSE_PENDING = "fP"  # [[stream, destination, buffer, [base64 record]]]: all not yet in S3


class LinkedImage:
    """Bits of a STREAM_RECORD entry's last field: images left out because they are the images
    of the item change just before it (the item replaced, the item stored)."""

    OLD = 1
    NEW = 2


class SqsAction(StrEnum):
    SEND = "SendMessage"
    SEND_BATCH = "SendMessageBatch"
    DELETE = "DeleteMessage"
    DELETE_BATCH = "DeleteMessageBatch"
    CHANGE_VISIBILITY = "ChangeMessageVisibility"
    CHANGE_VISIBILITY_BATCH = "ChangeMessageVisibilityBatch"
    PURGE = "PurgeQueue"


_IMAGES = ("OldImage", "NewImage")
_SEQUENCE_COUNTER_DIGITS = 10
_DEFAULT_VISIBILITY_SECONDS = 30


class CheckpointFailed(Exception):
    """A snapshot could not be written: the older generations are kept."""


@dataclass
class Recovery:
    """What the start found in the journal."""

    generations: int = 0
    records: int = 0
    entries: dict[str, int] = field(default_factory=dict)
    torn: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Journal:
    """The journal of one API process: records entries, writes them, replays them, checkpoints."""

    def __init__(self, directory: Path, reserve_bytes: int, sync: bool, ops: FileOps | None = None):
        self.directory = directory
        self.sync = sync
        self.writer = JournalWriter(directory, reserve_bytes, sync, ops, encoder=self._encode)
        # Set when a write failed: the state in memory holds changes that are not durable, so
        # nothing is answered until a restart recovers what is.
        self.failure: str | None = None
        # Set while the reserve cannot be kept: writes are refused before they reach MiniStack.
        self.no_space: str | None = None
        self.since: float | None = None
        self.checkpoint_needed = False
        self.last_checkpoint_error: str | None = None
        self._last_change: tuple[Any, Any] = (None, None)
        # Per table: its record list and the length it had when journaled, after MiniStack's trim.
        self._streams: dict[tuple[str, str, str], tuple[Any, int]] = {}
        self._checkpointing: asyncio.Lock | None = None
        # DynamoDB's state for a snapshot, its stream records' JSON kept from one checkpoint to the next.
        self.live_state = compact.LiveState()
        self._generation_opened = time.monotonic()
        self.recovery = Recovery()
        # Set by the patch: MiniStack's functions under the hooks, which replay calls.
        self.originals: Originals = {}

    # -- recording ---------------------------------------------------------------------------

    def record(self, kind: Entry, *fields: Any) -> None:
        """Journal an entry; its fields must not change afterwards (they are encoded at the flush).
        The kind goes as it is: a StrEnum member is the string."""
        self.writer.append([kind, *fields])

    def _encode(self, entries: list[Any]) -> bytes:
        # MiniStack's own fallback for what JSON has no type for (bytes), as in its snapshots.
        return encode(entries, importlib.import_module("ministack.core.persistence")._json_default)

    def item_stored(self, table: dict[str, Any], partition_key: Any, sort_key: Any, old: Any, item: Any) -> None:
        self._last_change = (old, item)
        self.record(Entry.ITEM_PUT, table["TableArn"], partition_key, sort_key, item)

    def item_removed(self, table: dict[str, Any], partition_key: Any, sort_key: Any, old: Any) -> None:
        self._last_change = (old, None)
        self.record(Entry.ITEM_REMOVED, table["TableArn"], partition_key, sort_key)

    def stream_appended(self, account_id: str, region: str, table_name: str, records: Any) -> None:
        """Journal the records at the end of `records` not journaled yet: those past the length
        it had after the last trim, if it is the same list (a dropped stream's is not)."""
        seen = self._streams.get((account_id, region, table_name))
        first = seen[1] if seen is not None and seen[0] is records else 0
        for index in range(first, len(records)):
            self._record_stream(account_id, region, table_name, compact.stored_record(records, index))

    def stream_trimmed(self, account_id: str, region: str, table_name: str, records: Any) -> None:
        """`records` as MiniStack's trim left them: all journaled."""
        self._streams[(account_id, region, table_name)] = (records, len(records))

    def _record_stream(self, account_id: str, region: str, table_name: str, stored: Any) -> None:
        last_old, last_new = self._last_change
        packed = type(stored) is tuple
        if packed:
            old, new = stored[compact.PACKED_OLD], stored[compact.PACKED_NEW]
        else:
            old, new = stored["dynamodb"].get("OldImage"), stored["dynamodb"].get("NewImage")
        linked = 0
        if (
            (old is not None or new is not None)
            and (old is None or old is last_old)
            and (new is None or new is last_new)
        ):
            linked = (LinkedImage.OLD if old is not None else 0) | (LinkedImage.NEW if new is not None else 0)
        if packed and linked:
            fields = compact.journal_fields(stored)
            self.writer.append([Entry.PACKED_STREAM_RECORD, account_id, region, table_name, fields, linked])
            return
        record = compact.unpack(stored)
        if linked:
            change = record["dynamodb"]
            record = {**record, "dynamodb": {name: value for name, value in change.items() if name not in _IMAGES}}
        self.record(Entry.STREAM_RECORD, account_id, region, table_name, record, linked)

    def mark_streams_journaled(self) -> None:
        """Every stream record now present counts as journaled (after a replay)."""
        self._streams = {key: (records, len(records)) for key, records in import_dynamodb()._stream_records.all_items()}

    # -- Firehose (BufferLog) ----------------------------------------------------------------

    def added(self, records: BufferedRecords) -> None:
        self.record(Entry.FIREHOSE_ADDED, records.stream, records.destination, records.buffer, _b64(records.payloads))

    def delivered(self, buffer: int) -> None:
        # On the flusher thread, with no answer to wait for: written now, so a restart does not
        # deliver the buffer again.
        self.record(Entry.FIREHOSE_DELIVERED, buffer)
        self.flush()

    # -- writing -----------------------------------------------------------------------------

    def admit(self) -> str | None:
        """Why a request that may change state must be refused now, or None to let it in."""
        if self.failure is not None:
            return self.failure
        try:
            self.writer.reserve()
        except NoJournalSpace as error:
            if self.no_space is None:
                logger.error("refusing writes (503): %s", error)
                self.since = time.time()
            self.no_space = str(error)
            return self.no_space
        if self.no_space is not None:
            logger.warning("writes accepted again: the journal's space is reserved")
            self.no_space, self.since = None, None
        return None

    def flush(self) -> str | None:
        """Write what is pending; returns why it is not durable, or None."""
        if self.failure is None:
            try:
                self.writer.flush()
            except JournalWriteFailed as error:
                self.fail(str(error))
        return self.failure

    def fail(self, why: str) -> None:
        if self.failure is None:
            logger.critical("%s; refusing every request until a restart, which recovers what was written", why)
            self.failure, self.since, self.no_space = why, time.time(), None

    def status(self) -> dict[str, Any]:
        problem = self.failure or self.no_space
        return {
            "ok": problem is None,
            "journal": "fsync" if self.sync else "on",
            **({"error": problem, "since": self.since} if problem else {}),
            "generation": self.writer.generation,
            "journal_bytes": self.writer.end,
            **({"last_checkpoint_error": self.last_checkpoint_error} if self.last_checkpoint_error else {}),
        }

    # -- recovery ----------------------------------------------------------------------------

    def recover(self, buffers: FirehoseBuffers) -> Recovery:
        """Replay every generation onto the state MiniStack loaded. Raises JournalCorrupt (naming
        the file) when a record before the last is damaged."""
        started = time.perf_counter()
        found = generations(self.directory)
        replay = Replay(self.originals)
        for generation in found:
            path = generation_path(self.directory, generation)
            read = ReadResult()
            for entries in read_generation(path, read):
                replay.apply(entries)
            self.recovery.records += read.records
            if read.torn_at is not None:
                self.recovery.torn.append(f"{path}@{read.torn_at}")
        replay.finish(buffers)
        self.recovery.generations = len(found)
        self.recovery.entries = replay.counts
        self.recovery.seconds = round(time.perf_counter() - started, 3)
        return self.recovery

    def start(self) -> None:
        """Journal from here on, in a generation of its own."""
        self.mark_streams_journaled()
        self.writer.open(max(generations(self.directory), default=0) + 1)
        self._generation_opened = time.monotonic()

    # -- checkpoints -------------------------------------------------------------------------

    async def checkpoint(self, buffers: FirehoseBuffers, save_dict: Callable[[], Mapping[str, Any]]) -> None:
        """Snapshot every service and start the journal afresh; raises CheckpointFailed."""
        if self._checkpointing is None:
            self._checkpointing = asyncio.Lock()
        async with self._checkpointing:
            self.checkpoint_needed = False
            failures: dict[str, str] = {}
            # Each service's state: a copy, or for DynamoDB its file's contents, encoded from the live tables.
            states: dict[str, Any] = {}
            # One consistent point: on the loop (no request runs), no Firehose delivery meanwhile.
            with buffers.paused():
                pending = buffers.pending()
                try:
                    older = self.writer.rotate(lambda: self._pending_entries(pending))
                except JournalWriteFailed as error:
                    self.fail(str(error))
                    raise CheckpointFailed(str(error)) from None
                self._generation_opened = time.monotonic()
                for name, get_state in save_dict().items():
                    try:
                        state = (
                            encode_state(name, self.live_state.read())
                            if name == compact.DYNAMODB_STATE
                            else get_state()
                        )
                    except Exception as error:
                        failures[name] = f"its state could not be read: {error}"
                        continue
                    if state is not None:
                        states[name] = state

            def write_all() -> None:
                for name, state in states.items():
                    try:
                        write_document(name, state if type(state) is bytes else encode_state(name, state), self.sync)
                    except (OSError, TypeError, ValueError) as error:
                        failures[name] = reason(error)

            await asyncio.get_running_loop().run_in_executor(None, write_all)
            if failures:
                self.last_checkpoint_error = "; ".join(f"{name}: {why}" for name, why in failures.items())
                raise CheckpointFailed(f"snapshot not written ({self.last_checkpoint_error})")
            self.last_checkpoint_error = None
            self.writer.remove(older)

    def _pending_entries(self, pending: list[BufferedRecords]) -> list[Any]:
        # None pending: the older generations deliver every buffer they add, so no entry is needed.
        if not pending:
            return []
        records = [[r.stream, r.destination, r.buffer, _b64(r.payloads)] for r in pending]
        return [[Entry.FIREHOSE_PENDING.value, records]]

    def checkpoint_due(self, max_bytes: int, max_seconds: float) -> bool:
        return self.writer.end > max_bytes or (
            self.writer.end > 0 and time.monotonic() - self._generation_opened > max_seconds
        )

    def remove_all(self) -> None:
        """After a clean stop whose saves all succeeded: the snapshot holds everything."""
        self.writer.close()
        self.writer.remove(generations(self.directory))


def _b64(payloads: list[bytes]) -> list[str]:
    return [base64.b64encode(payload).decode() for payload in payloads]


def _sequence_number(records: Any, index: int) -> str:
    return compact.sequence_number(compact.stored_record(records, index))


def _counter(sequence_number: str) -> int:
    digits = sequence_number[-_SEQUENCE_COUNTER_DIGITS:]
    return int(digits) if digits.isdigit() else -1


# -- replay --------------------------------------------------------------------------------------


class _QueueReplay:
    """One queue's messages while the journal is replayed: by id, in order, and by receipt handle."""

    def __init__(self, record: dict[str, Any]):
        self.record = record
        self.messages: dict[str, dict[str, Any]] = {m["id"]: m for m in record["messages"]}
        self.handles: dict[str, str] = {
            m["receipt_handle"]: m["id"] for m in record["messages"] if m.get("receipt_handle")
        }

    def forget_handle(self, message: dict[str, Any]) -> None:
        handle = message.get("receipt_handle")
        if handle:
            self.handles.pop(handle, None)


class Replay:
    """Applies entries onto the loaded state through MiniStack's own functions (`originals`, the
    ones under the journal's hooks, so replaying writes no entries)."""

    def __init__(self, originals: Originals):
        self.set_item = originals[SET_ITEM]
        self.remove_item = originals[REMOVE_ITEM]
        self.dynamodb = import_dynamodb()
        self.sqs = importlib.import_module(SQS)
        self.counts: dict[str, int] = {}
        self._tables: dict[str, dict[str, Any] | None] = {}
        self._queues: dict[str, _QueueReplay | None] = {}
        self._last_sequence: dict[tuple[str, str, str], str] = {}
        self._last_change: tuple[Any, Any] = (None, None)
        self._firehose: dict[int, BufferedRecords] = {}
        self._apply: dict[str, Callable[[list[Any]], None]] = {
            Entry.ITEM_PUT: self._item_put,
            Entry.ITEM_REMOVED: self._item_removed,
            Entry.STREAM_RECORD: self._stream_record,
            Entry.PACKED_STREAM_RECORD: self._packed_stream_record,
            Entry.MESSAGES_ADDED: self._messages_added,
            Entry.MESSAGES_RECEIVED: self._messages_received,
            Entry.MESSAGES_DELETED: self._messages_deleted,
            Entry.MESSAGES_MOVED_OUT: self._messages_moved_out,
            Entry.VISIBILITY_CHANGED: self._visibility_changed,
            Entry.QUEUE_PURGED: self._queue_purged,
            Entry.FIREHOSE_ADDED: self._firehose_added,
            Entry.FIREHOSE_DELIVERED: self._firehose_delivered,
            Entry.FIREHOSE_PENDING: self._firehose_pending,
        }

    def apply(self, entries: list[list[Any]]) -> None:
        for entry in entries:
            kind = entry[0]
            self._apply[kind](entry)
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def finish(self, buffers: FirehoseBuffers) -> None:
        for queue in self._queues.values():
            if queue is not None:
                queue.record["messages"] = list(queue.messages.values())
        counters = [
            _counter(_sequence_number(records, len(records) - 1))
            for _key, records in self.dynamodb._stream_records.all_items()
            if records
        ]
        # New records continue the sequence, so their numbers stay above the replayed ones.
        self.dynamodb._stream_seq_counter = max([self.dynamodb._stream_seq_counter, *counters])
        self._restore_firehose(buffers)

    # DynamoDB

    def _table(self, arn: str) -> dict[str, Any] | None:
        if arn not in self._tables:
            _arn, _aws, _service, region, account_id, resource = arn.split(":", 5)
            self._tables[arn] = self.dynamodb._tables.get_scoped(account_id, region, resource.split("/", 1)[1])
        return self._tables[arn]

    def _item_put(self, entry: list[Any]) -> None:
        _kind, arn, partition_key, sort_key, item = entry
        table = self._table(arn)
        if table is not None:
            self._last_change = (self.set_item(table, partition_key, sort_key, item), item)

    def _item_removed(self, entry: list[Any]) -> None:
        _kind, arn, partition_key, sort_key = entry
        table = self._table(arn)
        if table is not None:
            self._last_change = (self.remove_item(table, partition_key, sort_key), None)

    def _packed_stream_record(self, entry: list[Any]) -> None:
        _kind, account_id, region, table_name, fields, linked = entry
        old, new = self._last_change
        record = compact.from_journal_fields(
            fields, old if linked & LinkedImage.OLD else None, new if linked & LinkedImage.NEW else None
        )
        self._append_record(account_id, region, table_name, record)

    def _stream_record(self, entry: list[Any]) -> None:
        _kind, account_id, region, table_name, record, linked = entry
        old, new = self._last_change
        if linked & LinkedImage.OLD:
            record["dynamodb"]["OldImage"] = old
        if linked & LinkedImage.NEW:
            record["dynamodb"]["NewImage"] = new
        self._append_record(account_id, region, table_name, record)

    def _append_record(self, account_id: str, region: str, table_name: str, record: Any) -> None:
        key = (account_id, region, table_name)
        records = self.dynamodb._stream_records.get_scoped(account_id, region, table_name)
        if type(records) is not compact.CompactRecords:
            # Packed as they come, so each record's dicts are freed at once and their memory reused.
            records = compact.packed(account_id, region, table_name, records or [])
        if key not in self._last_sequence:
            self._last_sequence[key] = records.sequence_number(len(records) - 1) if records else ""
        sequence = compact.sequence_number(record)
        # Equal widths: the text order is the numeric order.
        if sequence > self._last_sequence[key]:
            records.append(record)
            self._last_sequence[key] = sequence

    # SQS

    def _queue(self, arn: str) -> _QueueReplay | None:
        if arn not in self._queues:
            record = self.sqs._queue_by_arn(arn)
            self._queues[arn] = _QueueReplay(record) if record is not None else None
        return self._queues[arn]

    def _messages_added(self, entry: list[Any]) -> None:
        queue = self._queue(entry[1])
        if queue is not None:
            for message in entry[2]:
                if message["id"] not in queue.messages:
                    queue.messages[message["id"]] = message
                    if message.get("receipt_handle"):
                        queue.handles[message["receipt_handle"]] = message["id"]

    def _messages_received(self, entry: list[Any]) -> None:
        queue = self._queue(entry[1])
        if queue is not None:
            for message_id, handle, visible_at, receive_count, first_received in entry[2]:
                message = queue.messages.get(message_id)
                if message is not None:
                    queue.forget_handle(message)
                    message["receipt_handle"], message["visible_at"] = handle, visible_at
                    message["receive_count"], message["first_receive_at"] = receive_count, first_received
                    queue.handles[handle] = message_id

    def _messages_deleted(self, entry: list[Any]) -> None:
        queue = self._queue(entry[1])
        if queue is not None:
            for handle in entry[2]:
                message_id = queue.handles.pop(handle, None)
                if message_id is not None:
                    queue.messages.pop(message_id, None)

    def _messages_moved_out(self, entry: list[Any]) -> None:
        queue = self._queue(entry[1])
        if queue is not None:
            for message_id in entry[2]:
                message = queue.messages.pop(message_id, None)
                if message is not None:
                    queue.forget_handle(message)

    def _visibility_changed(self, entry: list[Any]) -> None:
        queue = self._queue(entry[1])
        if queue is not None:
            for handle, visible_at in entry[2]:
                message_id = queue.handles.get(handle)
                if message_id is not None:
                    queue.messages[message_id]["visible_at"] = visible_at

    def _queue_purged(self, entry: list[Any]) -> None:
        queue = self._queue(entry[1])
        if queue is not None:
            queue.messages.clear()
            queue.handles.clear()

    # Firehose

    def _firehose_added(self, entry: list[Any]) -> None:
        _kind, stream, destination, buffer, payloads = entry
        held = self._firehose.get(buffer)
        records = [*held.payloads] if held is not None else []
        records += [base64.b64decode(payload) for payload in payloads]
        self._firehose[buffer] = BufferedRecords(stream, destination, buffer, records)

    def _firehose_delivered(self, entry: list[Any]) -> None:
        self._firehose.pop(entry[1], None)

    def _firehose_pending(self, entry: list[Any]) -> None:
        self._firehose = {
            buffer: BufferedRecords(stream, destination, buffer, [base64.b64decode(p) for p in payloads])
            for stream, destination, buffer, payloads in entry[1]
        }

    def _restore_firehose(self, buffers: FirehoseBuffers) -> None:
        if not self._firehose:
            return
        firehose = importlib.import_module("ministack.services.firehose")
        streams = {stream.get("name"): stream for _key, stream in firehose._streams.all_items()}
        for records in self._firehose.values():
            stream = streams.get(records.stream)
            destination = next(
                (d for d in (stream or {}).get("destinations", []) if d.get("id", "") == records.destination), None
            )
            if stream is None or destination is None:
                logger.error(
                    "%d buffered records of the Firehose stream %s are dropped: it no longer exists",
                    len(records.payloads),
                    records.stream,
                )
                continue
            buffers.restore(stream, destination, records)


# -- the hooks -----------------------------------------------------------------------------------


def journaled(journal: Journal) -> Patch:
    """The journal's hooks; apply after every other patch (they wrap what is there)."""

    def build(originals: Originals) -> dict[Target, Any]:
        journal.originals = originals
        return {
            **_dynamodb_hooks(journal, originals),
            **_sqs_hooks(journal, originals),
            **_cloudformation_hooks(journal, originals),
        }

    return Patch(
        name="journal",
        summary="Every change to items, stream records and messages is journaled before its answer",
        targets={
            SET_ITEM: "d28a9eaa26eeb2ae27b21ee732849897852319088b89934cc08448e90839e12a",
            REMOVE_ITEM: "5cce50c99688dab8a5219d2e4bbcd06fc3b74c932d6aa6b47db5afc614203a1e",
            TRIM_STREAM_RECORDS: "ab873e752fe251cc6785a0d24fd5d320b37cd4d38a7e1aa1126c72f822440c65",
            ITEMS_REPLACED: "b48626c371f77c18df8fa1ad9e1ce3fa214dcb6d57cfa0e4d99c817b6170aefd",
            DISPATCH: "6a429fdb61ebdc5a50778ac2505ca08cfe009a98a6054b537507529c307dfa5b",
            COLLECT_MESSAGES: "5b2d72fbf44094ed46fee59bb2ea23b69e351b6b4ea9103e8c5f49a7b04348cd",
            DEAD_LETTER_SWEEP: "e87a4a2749d10bcb82b728a40ebe245e2b024c1ab94038a74983c552e5e527a7",
            **dict.fromkeys(STACK_TASKS, "56e8e40df26fae07f0d9b8478624abd376589a42012a84716c8b71f60fe3bf65"),
        },
        build=build,
    )


def _dynamodb_hooks(journal: Journal, originals: Originals) -> dict[Target, Any]:
    set_item, remove_item, trim = originals[SET_ITEM], originals[REMOVE_ITEM], originals[TRIM_STREAM_RECORDS]
    items_replaced = originals[ITEMS_REPLACED]
    responses = importlib.import_module("ministack.core.responses")
    get_account_id, get_region = responses.get_account_id, responses.get_region
    # MiniStack's store of stream records: cleared in place, never replaced.
    streams = import_dynamodb()._stream_records

    def journaled_set_item(table: dict[str, Any], partition_key: Any, sort_key: Any, item: Any) -> Any:
        old = set_item(table, partition_key, sort_key, item)
        journal.item_stored(table, partition_key, sort_key, old, item)
        return old

    def journaled_remove_item(table: dict[str, Any], partition_key: Any, sort_key: Any) -> Any:
        old = remove_item(table, partition_key, sort_key)
        if old is not None:
            journal.item_removed(table, partition_key, sort_key, old)
        return old

    def journaled_trim(table_name: str, *, account_id: str | None = None, region: str | None = None) -> None:
        scope = (account_id or get_account_id(), region or get_region())
        records = streams.get_scoped(*scope, table_name)
        if records:
            journal.stream_appended(*scope, table_name, records)
        trim(table_name, account_id=account_id, region=region)
        # The trim may have dropped records off the front, or packed a new table's list into another.
        if type(records) is not compact.CompactRecords:
            records = streams.get_scoped(*scope, table_name)
        if records is not None:
            journal.stream_trimmed(*scope, table_name, records)

    def journaled_items_replaced(table: dict[str, Any]) -> None:
        items_replaced(table)
        journal.checkpoint_needed = True

    return {
        SET_ITEM: journaled_set_item,
        REMOVE_ITEM: journaled_remove_item,
        TRIM_STREAM_RECORDS: journaled_trim,
        ITEMS_REPLACED: journaled_items_replaced,
    }


def _cloudformation_hooks(journal: Journal, originals: Originals) -> dict[Target, Any]:
    def checkpointed_after(start_task: Callable[..., None]) -> Callable[..., None]:
        def start_stack_task(coro: Coroutine[Any, Any, Any], stack: Any, stack_id: Any = None) -> None:
            async def then_checkpoint() -> None:
                try:
                    await coro
                finally:
                    journal.checkpoint_needed = True

            start_task(then_checkpoint(), stack, stack_id)

        return start_stack_task

    return {target: checkpointed_after(originals[target]) for target in STACK_TASKS}


def _sqs_hooks(journal: Journal, originals: Originals) -> dict[Target, Any]:
    dispatch, collect, sweep = originals[DISPATCH], originals[COLLECT_MESSAGES], originals[DEAD_LETTER_SWEEP]

    async def journaled_dispatch(action: str, data: dict[str, Any], queue_url: str) -> Any:
        if action not in SqsAction.__members__.values():
            return await dispatch(action, data, queue_url)
        sqs = importlib.import_module(SQS)
        try:
            queue = sqs._get_q(data.get("QueueUrl", queue_url))
        except Exception:
            # MiniStack answers with its own error.
            return await dispatch(action, data, queue_url)
        arn = queue["attributes"].get("QueueArn", "")
        before = len(queue["messages"])
        sent_at = time.time()
        result = await dispatch(action, data, queue_url)
        _record_sqs(journal, SqsAction(action), arn, queue, before, sent_at, data, result)
        return result

    def journaled_collect(queue: dict[str, Any], max_n: int, visibility: int) -> Any:
        dead_letters = sqs_patches.dead_letter_queue(queue)
        before = len(dead_letters["messages"]) if dead_letters is not None else 0
        received = collect(queue, max_n, visibility)
        _record_moves(journal, queue, dead_letters, before)
        if received:
            journal.record(
                Entry.MESSAGES_RECEIVED,
                queue["attributes"].get("QueueArn", ""),
                [
                    [m["id"], m["receipt_handle"], m["visible_at"], m["receive_count"], m.get("first_receive_at")]
                    for m in received
                ],
            )
        return received

    def journaled_sweep(queue: dict[str, Any]) -> None:
        dead_letters = sqs_patches.dead_letter_queue(queue)
        before = len(dead_letters["messages"]) if dead_letters is not None else 0
        sweep(queue)
        _record_moves(journal, queue, dead_letters, before)

    return {DISPATCH: journaled_dispatch, COLLECT_MESSAGES: journaled_collect, DEAD_LETTER_SWEEP: journaled_sweep}


def _record_sqs(
    journal: Journal,
    action: SqsAction,
    arn: str,
    queue: dict[str, Any],
    before: int,
    started: float,
    data: dict[str, Any],
    result: Any,
) -> None:
    if action in (SqsAction.SEND, SqsAction.SEND_BATCH):
        # Copies: a receive changes a message in place before the entry is written.
        added = [dict(message) for message in queue["messages"][before:]]
        if added:
            journal.record(Entry.MESSAGES_ADDED, arn, added)
    elif action == SqsAction.DELETE:
        journal.record(Entry.MESSAGES_DELETED, arn, [data.get("ReceiptHandle", "")])
    elif action == SqsAction.DELETE_BATCH:
        handles = _successful(data, result, lambda entry: entry.get("ReceiptHandle", ""))
        if handles:
            journal.record(Entry.MESSAGES_DELETED, arn, handles)
    elif action == SqsAction.CHANGE_VISIBILITY:
        timeout = int(data.get("VisibilityTimeout", _DEFAULT_VISIBILITY_SECONDS))
        journal.record(Entry.VISIBILITY_CHANGED, arn, [[data.get("ReceiptHandle", ""), started + timeout]])
    elif action == SqsAction.CHANGE_VISIBILITY_BATCH:
        changes = _successful(
            data,
            result,
            lambda entry: [
                entry.get("ReceiptHandle", ""),
                started + int(entry.get("VisibilityTimeout", _DEFAULT_VISIBILITY_SECONDS)),
            ],
        )
        if changes:
            journal.record(Entry.VISIBILITY_CHANGED, arn, changes)
    else:
        journal.record(Entry.QUEUE_PURGED, arn)


def _successful(data: dict[str, Any], result: Any, field_of: Callable[[dict[str, Any]], Any]) -> list[Any]:
    succeeded = {entry.get("Id") for entry in (result or {}).get("Successful", [])}
    return [field_of(entry) for entry in data.get("Entries", []) if entry.get("Id") in succeeded]


def _record_moves(journal: Journal, queue: dict[str, Any], dead_letters: dict[str, Any] | None, before: int) -> None:
    if dead_letters is not None and len(dead_letters["messages"]) > before:
        moved = [dict(message) for message in dead_letters["messages"][before:]]
        journal.record(Entry.MESSAGES_ADDED, dead_letters["attributes"].get("QueueArn", ""), moved)
        journal.record(Entry.MESSAGES_MOVED_OUT, queue["attributes"].get("QueueArn", ""), [m["id"] for m in moved])
