"""The TTL sweep's cost by table size, in process (issue 16): `python -m bench.ttl_sweep 10000 100000 300000`.

For each size, a fresh DeviceData-like table (TTL on expiredAt, a stream) gets that many readings
at 1,000 a second, each expiring a year after it was taken, written through MiniStack's `_set_item`
as patched by `emulator.ministack.install` (values shared, expiry indexed; no journal). Then, CPU milliseconds
of: the first sweep (reads every item once and indexes the table: what every sweep cost before the
index), a sweep with nothing due, and a sweep when the first second of readings is due (1,000
deletions with their stream records); and the bytes the index keeps (tracemalloc, a second first
sweep). First, the CPU of a write through `_set_item` to a table not indexed and to an indexed
one. Prints one JSON object for the writes, then one per size.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from device_data.table import DEFAULT_TTL_SECONDS, HASH_KEY, RANGE_KEY, TTL_ATTRIBUTE, key_definition
from emulator import ministack
from emulator.expiry_index import ExpiryIndex
from emulator.ministack import ttl
from emulator.ministack.registry import PatchRegistry

TABLE = "DeviceData"
READINGS_PER_SECOND = 1000
DEVICES = 500
FIRST_READING_MS = 1_760_000_000_000
# The first second of readings (1,000) is due at the third sweep.
LAST_DUE = 0.999
# Writes timed to a table not indexed and to an indexed one (the index's cost on the write path).
TIMED_WRITES = 100_000
WRITE_ROUNDS = 10


def reading(n: int) -> dict[str, Any]:
    device = f"dev-{n % DEVICES:04d}"
    created = FIRST_READING_MS + n * 1000 // READINGS_PER_SECOND
    return {
        HASH_KEY: {"S": device},
        RANGE_KEY: {"N": str(created)},
        TTL_ATTRIBUTE: {"N": str(created / 1000 + DEFAULT_TTL_SECONDS)},
        "sensorID": {"S": f"{device}-sen"},
        "temperature": {"N": f"{20 + (n % 1000) / 100:g}"},
        "humidity": {"N": f"{40 + (n % 300) / 10:g}"},
    }


def call(dynamodb: Any, action: str, **data: Any) -> None:
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = asyncio.run(dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    if status != 200:
        raise RuntimeError(f"{action}: {body!r}")


def cpu_ms(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = work()
    return round((time.process_time() - started) * 1000, 2), result


def create_table(dynamodb: Any, name: str) -> dict[str, Any]:
    call(
        dynamodb,
        "CreateTable",
        TableName=name,
        **key_definition(),
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    call(
        dynamodb,
        "UpdateTimeToLive",
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    table: dict[str, Any] = dynamodb._tables.get(name)
    return table


def write(dynamodb: Any, table: dict[str, Any], first: int, last: int) -> None:
    for n in range(first, last):
        item = reading(n)
        dynamodb._set_item(table, item[HASH_KEY]["S"], item[RANGE_KEY]["N"], item)


def sweep(index: ExpiryIndex, at: float) -> Callable[[], int]:
    return lambda: asyncio.run(ttl.sweep_expired_items(index, at))


def measure_sweeps(dynamodb: Any, index: ExpiryIndex, count: int) -> dict[str, Any]:
    dynamodb.reset()
    table = create_table(dynamodb, TABLE)
    write(dynamodb, table, 0, count)
    now = FIRST_READING_MS / 1000
    gc.collect()
    first_ms, _ = cpu_ms(sweep(index, now))
    nothing_due_ms, _ = cpu_ms(sweep(index, now + 1))
    one_second_due_ms, deleted = cpu_ms(sweep(index, now + DEFAULT_TTL_SECONDS + LAST_DUE))
    index.forget(table)
    gc.collect()
    tracemalloc.start()
    sweep(index, now + DEFAULT_TTL_SECONDS + LAST_DUE)()
    gc.collect()
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "items": count,
        "first_sweep_ms": first_ms,
        "sweep_nothing_due_ms": nothing_due_ms,
        "sweep_1000_due_ms": one_second_due_ms,
        "deleted": deleted,
        "index_bytes_per_item": round(index_bytes / (count - deleted), 1),
    }


def measure_writes(dynamodb: Any, index: ExpiryIndex) -> dict[str, Any]:
    """CPU per reading written through `_set_item` to a table not indexed and to an indexed one,
    in alternated rounds."""
    dynamodb.reset()
    unindexed, indexed = create_table(dynamodb, "unindexed"), create_table(dynamodb, TABLE)
    sweep(index, FIRST_READING_MS / 1000)()
    index.forget(unindexed)
    spent = {"unindexed": 0.0, "indexed": 0.0}
    for first in range(0, TIMED_WRITES, TIMED_WRITES // WRITE_ROUNDS):
        last = first + TIMED_WRITES // WRITE_ROUNDS
        for name, table in (("unindexed", unindexed), ("indexed", indexed)):
            spent[name] += cpu_ms(functools.partial(write, dynamodb, table, first, last))[0]
    index.forget(indexed)
    return {f"set_item_us_{name}": round(ms * 1000 / TIMED_WRITES, 2) for name, ms in spent.items()}


def main(sizes: list[int]) -> None:
    registry = PatchRegistry()
    index = ministack.install(registry).expiries
    dynamodb = ttl.import_dynamodb()
    try:
        print(json.dumps(measure_writes(dynamodb, index)), flush=True)
        for count in sizes:
            print(json.dumps(measure_sweeps(dynamodb, index, count)), flush=True)
    finally:
        registry.undo()
        dynamodb.reset()


if __name__ == "__main__":
    main([int(size) for size in sys.argv[1:]] or [10_000, 100_000, 300_000])
