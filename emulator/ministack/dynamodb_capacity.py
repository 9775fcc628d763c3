"""Read capacity as DynamoDB reports it: GetItem by the item's size (MiniStack bills every item as
under 4 KB), and BatchGetItem's ConsumedCapacity when asked (MiniStack never returns it)."""

from __future__ import annotations

import importlib
import json
from typing import Any

from emulator.dynamodb_capacity import read_units
from emulator.dynamodb_item_size import item_size
from emulator.ministack.registry import Originals, Patch, Target

DYNAMODB = "ministack.services.dynamodb"
GET_ITEM = Target(DYNAMODB, "_get_item")
BATCH_GET_ITEM = Target(DYNAMODB, "_batch_get_item")
GET_ITEM_BY_KEY = Target(DYNAMODB, "_get_item_by_key")


def _billed_reads(originals: Originals) -> dict[Target, Any]:
    dynamodb = importlib.import_module(DYNAMODB)

    def stored(table_name: str, key: Any) -> Any:
        table = dynamodb._tables.get(dynamodb._normalize_table_name(table_name))
        try:
            return dynamodb._get_item_by_key(table, key) if table else None
        except (KeyError, TypeError, AttributeError):
            return None

    def get_item(data: dict[str, Any]) -> Any:
        status, headers, body = originals[GET_ITEM](data)
        if status != 200 or data.get("ReturnConsumedCapacity", "NONE") == "NONE":
            return status, headers, body
        result = json.loads(body)
        item = stored(data.get("TableName", ""), data.get("Key") or {})
        units = read_units([item_size(item) if item else 0], bool(data.get("ConsistentRead")))
        capacity = result.get("ConsumedCapacity") or {}
        capacity["CapacityUnits"] = units
        if "Table" in capacity:
            capacity["Table"]["CapacityUnits"] = units
        return status, headers, json.dumps(result)

    def batch_get_item(data: dict[str, Any]) -> Any:
        status, headers, body = originals[BATCH_GET_ITEM](data)
        mode = data.get("ReturnConsumedCapacity", "NONE")
        if status != 200 or mode == "NONE":
            return status, headers, body
        result = json.loads(body)
        consumed = []
        for table_name, config in (data.get("RequestItems") or {}).items():
            found = [stored(table_name, key) for key in config.get("Keys") or []]
            # only the items found are billed, each rounded up to 4 KB (as DynamoDB Local, AWS's build, bills)
            units = read_units([item_size(item) for item in found if item], bool(config.get("ConsistentRead")))
            entry: dict[str, Any] = {"TableName": table_name, "CapacityUnits": units}
            if mode == "INDEXES":
                entry["Table"] = {"CapacityUnits": units}
            consumed.append(entry)
        result["ConsumedCapacity"] = consumed
        return status, headers, json.dumps(result)

    return {GET_ITEM: get_item, BATCH_GET_ITEM: batch_get_item}


READS_BILLED_BY_SIZE = Patch(
    name="dynamodb-reads-billed-by-size",
    summary="GetItem and BatchGetItem report read capacity by item size (4 KB units); BatchGetItem reports it at all",
    targets={
        GET_ITEM: "40a3e29c3c4d91c22d38bf5655d99265024cd3fe6bcdf3c605e7283ef2b7037c",
        BATCH_GET_ITEM: "d6d516ae8785bf7ca1e6b53534dce0d157b4204251e2788d2a078463f9aff708",
    },
    relies_on={GET_ITEM_BY_KEY: "e76a1b5ac412984eac069b677b7b1b7288a9062677cb0b08f3caa09b9e5a52e8"},
    build=_billed_reads,
)
