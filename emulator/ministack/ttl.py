"""DynamoDB TTL on DynamoDB's rules, in place of MiniStack's reaper.

MiniStack's reaper thread deletes every 60 s, writes no stream record and also expires String
values. It is started by a statement at the end of `ministack.services.dynamodb`, with no switch,
so `import_dynamodb` imports that module with a `threading` of its own in which a thread named
`dynamodb-ttl-reaper` is created but never started (exec's documented `__builtins__` seam,
for that one module: nothing process-wide changes). `sweep_expired_items` does the work instead,
reading only the items an `ExpiryIndex` says may be due (`expiries_indexed` feeds it from
`_set_item`), plus, once, every item of a table the index does not describe yet.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import importlib
import importlib.util
import logging
import sys
import threading
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from emulator.expiry_index import ExpiryIndex
from emulator.ministack.registry import MinistackDiffers, Originals, Patch, Target
from emulator.ttl_rules import TTL_IDENTITY, expires_at, is_due

logger = logging.getLogger("emulator.ttl")

DYNAMODB = "ministack.services.dynamodb"
REAPER = Target(DYNAMODB, "_ttl_reaper")
SET_ITEM = Target(DYNAMODB, "_set_item")
REAPER_THREAD = "dynamodb-ttl-reaper"
# Items looked at between two turns of the event loop, so the API keeps answering during a sweep.
SWEEP_CHUNK = 5000


class _ThreadingWithoutReaper(types.ModuleType):
    """`threading` as MiniStack's dynamodb module sees it: the same, except that a thread named
    REAPER_THREAD is not started (it is kept in `not_started`, for the patch's check)."""

    def __init__(self) -> None:
        super().__init__("threading")
        not_started: list[threading.Thread] = []

        class Thread(threading.Thread):
            def start(self) -> None:
                if self.name == REAPER_THREAD:
                    not_started.append(self)
                else:
                    super().start()

        self.Thread = Thread
        self.not_started = not_started

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


@dataclass(frozen=True)
class _DynamodbImport:
    module: types.ModuleType
    reapers_not_started: Sequence[threading.Thread]


@functools.cache
def _import_without_reaper() -> _DynamodbImport:
    if DYNAMODB in sys.modules:
        raise RuntimeError(f"{DYNAMODB} was imported before emulator.ministack.ttl could keep its reaper stopped")
    spec = importlib.util.find_spec(DYNAMODB)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(DYNAMODB)
    own_threading = _ThreadingWithoutReaper()

    def import_(name: str, *args: Any, **kwargs: Any) -> Any:
        return own_threading if name == "threading" else builtins.__import__(name, *args, **kwargs)

    module = importlib.util.module_from_spec(spec)
    # exec uses the __builtins__ it finds in the module's namespace, so only this module's
    # `import threading` is answered differently.
    module.__dict__["__builtins__"] = {**vars(builtins), "__import__": import_}
    sys.modules[DYNAMODB] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[DYNAMODB]
        raise
    # Its code run after the import (locks are made at import) sees the real module again.
    module.__dict__["threading"] = threading
    # What the import system does for a submodule, so `from ministack.services import dynamodb` works.
    parent, _, name = DYNAMODB.rpartition(".")
    setattr(sys.modules[parent], name, module)
    return _DynamodbImport(module, tuple(own_threading.not_started))


def import_dynamodb() -> Any:
    """MiniStack's dynamodb module, its TTL reaper never started; call before anything imports it."""
    return _import_without_reaper().module


def _reaper_never_starts(originals: Originals) -> Mapping[Target, Any]:
    reapers = _import_without_reaper().reapers_not_started
    if [thread.name for thread in reapers] != [REAPER_THREAD] or any(
        thread.name == REAPER_THREAD for thread in threading.enumerate()
    ):
        raise MinistackDiffers(
            REAPER_NEVER_STARTS.name,
            REAPER,
            f"its module no longer starts it as one threading.Thread {REAPER_THREAD!r}",
        )
    return {REAPER: _reaper_replaced_by_sweep}


def _reaper_replaced_by_sweep() -> None:
    """MiniStack's TTL reaper, which never runs here: see sweep_expired_items."""


REAPER_NEVER_STARTS = Patch(
    name="ttl-reaper-never-starts",
    summary="MiniStack's TTL reaper thread is never started; sweep_expired_items applies DynamoDB's TTL rules",
    targets={REAPER: "66841bfd60279dd7a992068c2507c2fce8791c33c4a28d754b2e66a819cf0933"},
    build=_reaper_never_starts,
)


def expiries_indexed(index: ExpiryIndex) -> Patch:
    """Every item stored in a table `index` holds is added to it as it is stored."""

    def build(originals: Originals) -> dict[Target, Any]:
        set_item = originals[SET_ITEM]

        def set_item_indexed(table: dict[str, Any], partition_key: Any, sort_key: Any, item: Any) -> Any:
            old = set_item(table, partition_key, sort_key, item)
            expiries = index.of(table)
            if expiries is not None:
                expiries.item_written(partition_key, sort_key, old, item)
            return old

        return {SET_ITEM: set_item_indexed}

    return Patch(
        name="dynamodb-ttl-expiry-index",
        summary="Items written to a table with TTL are indexed by expiry, so the TTL sweep reads only what is due",
        # compact's set_shared_item: applied right after compact.COMPACT_ITEMS_AND_STREAMS.
        targets={SET_ITEM: "c1de04bcfc4da1cb64cac7037d2f6b511b118280cd79efb13ef2c3c83ca40bd2"},
        build=build,
    )


async def sweep_expired_items(index: ExpiryIndex, now: float | None = None, deletion_delay: float = 0.0) -> int:
    """Delete every item of every table with TTL enabled that expired at least `deletion_delay`
    seconds ago; returns how many. AWS deletes "within a few days" of expiry and the item stays
    readable until then; 0 deletes at the first sweep after expiry.

    Reads what `index` says may be due; a table it does not describe yet (first seen, its items
    restored, its TTL enabled or changed, the table or its items replaced) is read in full once,
    which indexes it, while `expiries_indexed` adds every item written from then on.

    Must run on the API's event loop: MiniStack serves every DynamoDB request there and its
    writers never take its `_lock`, so that loop is the only thing that keeps a table still (a
    sweep from another thread, under `_lock`, met "dictionary changed size during iteration").
    A sweep reads copies of the keys, a chunk at a time, and gives the loop back between chunks;
    each item is read again before it is deleted, so an item written meanwhile is judged as it
    is now. Each deletion's stream record carries the identity AWS gives TTL deletes.
    """
    dynamodb = import_dynamodb()
    responses = importlib.import_module("ministack.core.responses")
    # An item due for deletion is one that had expired `deletion_delay` seconds ago.
    due_at = (time.time() if now is None else now) - deletion_delay
    index.sweeping_at(due_at)
    removed = 0
    swept = []
    for (account_id, region, table_name), setting in dynamodb._ttl_settings.all_items():
        attribute = setting.get("AttributeName")
        table = dynamodb._tables.get_scoped(account_id, region, table_name)
        if setting.get("TimeToLiveStatus") != "ENABLED" or not attribute or not table:
            continue
        swept.append(table)
        expiries = index.of(table)
        candidates: Iterator[tuple[Any, Any, int | None]]
        if expiries is not None and expiries.describes(table["items"], attribute, table.get("ItemCount", 0)):
            candidates = expiries.pop_due(due_at)
        else:
            expiries = index.index(table, table["items"], attribute)
            candidates = ((partition_key, sort_key, None) for partition_key, sort_key in _item_keys(table["items"]))
        swept_through = False
        try:
            while chunk := list(islice(candidates, SWEEP_CHUNK)):
                with responses.request_scope(account_id, region):
                    for partition_key, sort_key, second in chunk:
                        item = table["items"].get(partition_key, {}).get(sort_key)
                        if item is None:
                            continue
                        seconds = expires_at(item.get(attribute))
                        if is_due(seconds, due_at):
                            dynamodb._remove_item(table, partition_key, sort_key)
                            _record_ttl_removal(dynamodb, table_name, table, item)
                            removed += 1
                        else:
                            expiries.still_pending(partition_key, sort_key, seconds, due_at, second)
                await asyncio.sleep(0)
                if dynamodb._tables.get_scoped(account_id, region, table_name) is not table:
                    break
            else:
                swept_through = True
        finally:
            # Entries taken out and not judged would be lost: the next sweep reads the table in full.
            if not swept_through:
                index.forget(table)
    index.keep_only(swept)
    return removed


def _item_keys(items: dict[Any, dict[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """Every (partition key, sort key) of a table's items, read from copies: the partition keys
    when the sweep of the table starts, each partition's sort keys when the sweep reaches it."""
    for partition_key in list(items):
        for sort_key in list(items.get(partition_key, ())):
            yield partition_key, sort_key


def _record_ttl_removal(dynamodb: Any, table_name: str, table: dict[str, Any], old_item: dict[str, Any]) -> None:
    # As MiniStack's own _emit_stream_event, plus the userIdentity AWS writes for TTL deletes.
    spec = table.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled"):
        return
    record = dynamodb._build_change_record(
        table, "REMOVE", old_item, None, spec.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    )
    record["userIdentity"] = dict(TTL_IDENTITY)
    if table_name not in dynamodb._stream_records:
        dynamodb._stream_records[table_name] = []
    dynamodb._stream_records[table_name].append(record)
    dynamodb._trim_stream_records(table_name)


async def sweep_every(index: ExpiryIndex, seconds: float, deletion_delay: float = 0.0) -> None:
    """Sweep every `seconds` until cancelled; a failed sweep is logged and tried again."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await sweep_expired_items(index, deletion_delay=deletion_delay)
        except Exception:
            logger.exception("the TTL sweep failed; trying again in %s s", seconds)
