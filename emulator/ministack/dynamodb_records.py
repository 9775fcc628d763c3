"""DynamoDB stream records as AWS writes them: SizeBytes, no record for a write that changes
nothing, and a record for every PartiQL write.

MiniStack writes SizeBytes 0, compares images in member order (a set re-put in another order
writes a MODIFY with identical images) and writes no record for ExecuteStatement,
BatchExecuteStatement or ExecuteTransaction writes.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

from emulator.dynamodb_item_size import stream_record_size
from emulator.dynamodb_values import same_item
from emulator.ministack.registry import Originals, Patch, Target

DYNAMODB = "ministack.services.dynamodb"
BUILD_CHANGE_RECORD = Target(DYNAMODB, "_build_change_record")
EMIT_STREAM_EVENT = Target(DYNAMODB, "_emit_stream_event")
PARTIQL_INSERT = Target(DYNAMODB, "_partiql_insert")
PARTIQL_UPDATE = Target(DYNAMODB, "_partiql_update")
PARTIQL_DELETE = Target(DYNAMODB, "_partiql_delete")
PARTIQL_KEY_TARGET = Target(DYNAMODB, "_partiql_key_target")
EXTRACT_KEY_VALUE = Target(DYNAMODB, "_extract_key_val")
NO_SORT_KEY = "__no_sort__"


def _sized(originals: Originals) -> dict[Target, Any]:
    build = originals[BUILD_CHANGE_RECORD]

    def build_change_record(table: dict[str, Any], event_name: str, old: Any, new: Any, view_type: str) -> Any:
        record = build(table, event_name, old, new, view_type)
        record["dynamodb"]["SizeBytes"] = stream_record_size(record["dynamodb"])
        return record

    return {BUILD_CHANGE_RECORD: build_change_record}


SIZE_BYTES = Patch(
    name="dynamodb-stream-record-size-bytes",
    summary="A stream record's SizeBytes is DynamoDB's item size of its keys plus the images it carries",
    targets={BUILD_CHANGE_RECORD: "45f604ee477218c38962119da32482c17974d070e1a9887f64273c46570bc4a7"},
    build=_sized,
)


def _unchanged_writes_no_record(originals: Originals) -> dict[Target, Any]:
    emit = originals[EMIT_STREAM_EVENT]

    def emit_stream_event(table_name: str, event_name: str, old: Any, new: Any, replicate: bool = True) -> Any:
        if event_name == "MODIFY" and same_item(old, new):
            # MiniStack writes no record when both images are equal, as it compares them
            new = old
        return emit(table_name, event_name, old, new, replicate)

    return {EMIT_STREAM_EVENT: emit_stream_event}


UNCHANGED_WRITES_NO_RECORD = Patch(
    name="dynamodb-unchanged-write-no-stream-record",
    summary="A write whose item is unchanged as DynamoDB compares values (sets unordered, 2 = 2.0) writes no record",
    targets={EMIT_STREAM_EVENT: "8568d0446f26eaba3f9c3b344c3451cf0684981c8207d7df50da03164495b21b"},
    build=_unchanged_writes_no_record,
)


def _partiql_records(originals: Originals) -> dict[Target, Any]:
    dynamodb = importlib.import_module(DYNAMODB)

    def insert_key(table: dict[str, Any], parsed: dict[str, Any]) -> tuple[Any, Any]:
        item = parsed.get("item") or {}
        if isinstance(item, dict) and set(item) == {"M"}:
            item = item["M"]
        sort_key = table["sk_name"]
        return (
            dynamodb._extract_key_val(item.get(table["pk_name"])),
            dynamodb._extract_key_val(item.get(sort_key)) if sort_key else NO_SORT_KEY,
        )

    def target_key(table: dict[str, Any], parsed: dict[str, Any]) -> tuple[Any, Any]:
        partition, sort, _condition, error = dynamodb._partiql_key_target(table, parsed)
        return (None, None) if error else (partition, sort)

    def recorded(write: Callable[..., Any], key_of: Callable[..., tuple[Any, Any]]) -> Callable[..., Any]:
        def write_and_record(table: dict[str, Any], parsed: dict[str, Any], *args: Any) -> Any:
            partition, sort = key_of(table, parsed)
            before = copy.deepcopy(table["items"].get(partition, {}).get(sort)) if partition is not None else None
            response = write(table, parsed, *args)
            if response[0] == 200 and partition is not None:
                after = table["items"].get(partition, {}).get(sort)
                if before is None and after is not None:
                    dynamodb._emit_stream_event(table["TableName"], "INSERT", None, copy.deepcopy(after))
                elif before is not None and after is None:
                    dynamodb._emit_stream_event(table["TableName"], "REMOVE", before, None)
                elif before is not None:
                    dynamodb._emit_stream_event(table["TableName"], "MODIFY", before, copy.deepcopy(after))
            return response

        return write_and_record

    return {
        PARTIQL_INSERT: recorded(originals[PARTIQL_INSERT], insert_key),
        PARTIQL_UPDATE: recorded(originals[PARTIQL_UPDATE], target_key),
        PARTIQL_DELETE: recorded(originals[PARTIQL_DELETE], target_key),
    }


PARTIQL_WRITES_RECORDED = Patch(
    name="dynamodb-partiql-writes-stream-records",
    summary="PartiQL INSERT, UPDATE and DELETE (single, batch, transaction) write stream records",
    targets={
        PARTIQL_INSERT: "53c143f0d22e95b6c30904856471297aabeb390b2d38ea0978fba7ca8e2111aa",
        PARTIQL_UPDATE: "ca421900a6adad7b8cdabbe5871488bc9402bf78e352200dda6422cc41adc054",
        PARTIQL_DELETE: "f6995ca7e86879871ef9320932a07d864612be66ca42fcd23d86ad85ddec3333",
    },
    relies_on={
        PARTIQL_KEY_TARGET: "53f293ca9d0c5ebbc6740aaf1a4c4ce9a866ae6ff59906c55bc72a8ffe0bbcb7",
        EXTRACT_KEY_VALUE: "faaaf17a7c3923b48e07651c20d59e6cbb7a103ef747dd4e8bbea997d0affd7a",
    },
    build=_partiql_records,
)
