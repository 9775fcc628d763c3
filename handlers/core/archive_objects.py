"""TTL removals -> the S3 objects that archive them.

Each archived entry keeps the deleted item in DynamoDB's wire JSON, as the stream carried it
(binary as base64 text, as the AWS CLI also reads it), so nothing is lost: types, sets,
binary, number precision. With boto3, restore with `PutItem(Item=boto3_item(entry["item"]))`:
boto3 wants raw bytes for binary and would encode the base64 text a second time.

Two layouts:
- `batch` (default): one gzip JSON Lines object per invocation. Its key is derived from the
  stream and the batch's first/last sequence numbers plus a digest of its event ids, so a
  retried batch overwrites the same object instead of archiving the items twice.
- `per-item`: the seed design's `archive/{deviceID}/{createdAt}.json`, one object per item.
  At Glacier prices every object costs a PUT request and ~40 KB of billed overhead.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers.core.attribute_values import dumps
from handlers.core.stream_records import (
    StreamRecord,
    created_seconds,
    stream_label,
    table_name,
    ttl_value,
    utc_text,
)


class ArchiveError(Exception):
    """A TTL removal that cannot be archived (the stream carries no old image)."""


@dataclass(frozen=True)
class ArchiveObject:
    key: str
    body: bytes
    content_type: str
    item_count: int


def archive_entry(record: StreamRecord, ttl_attribute: str) -> dict[str, Any]:
    change = record["dynamodb"]
    item = change.get("OldImage")
    if not item:
        raise ArchiveError(
            f"REMOVE {record.get('eventID')} has no OldImage: the table's stream must use "
            "NEW_AND_OLD_IMAGES or OLD_IMAGE for items to be archived"
        )
    removed_at = created_seconds(record)
    return {
        "table": table_name(record),
        "keys": change["Keys"],
        "item": item,
        "expired_at": ttl_value(item, ttl_attribute),
        "removed_at": removed_at,
        "removed_at_utc": utc_text(removed_at),
        "event_id": record["eventID"],
        "sequence_number": change["SequenceNumber"],
    }


def batch_object(records: Sequence[StreamRecord], ttl_attribute: str, prefix: str) -> ArchiveObject:
    """All TTL removals of one invocation as one gzip JSON Lines object."""
    entries = [archive_entry(record, ttl_attribute) for record in records]
    first, last = entries[0], entries[-1]
    day = datetime.fromtimestamp(first["removed_at"], UTC).strftime("%Y/%m/%d")
    digest = hashlib.sha256("\n".join(entry["event_id"] for entry in entries).encode()).hexdigest()[:16]
    key = (
        f"{prefix}{first['table']}/{day}/{stream_label(records[0]).replace(':', '')}/"
        f"{first['sequence_number']}-{last['sequence_number']}-{digest}.jsonl.gz"
    )
    lines = "".join(dumps(entry) + "\n" for entry in entries).encode("utf-8")
    # mtime=0 makes the bytes identical when a retried batch writes the object again.
    return ArchiveObject(key, gzip.compress(lines, mtime=0), "application/gzip", len(entries))


def per_item_objects(
    records: Sequence[StreamRecord], ttl_attribute: str, prefix: str, key_attributes: Sequence[str]
) -> list[ArchiveObject]:
    """One JSON object per removed item, keyed by the item's key attribute values."""
    objects = []
    for record in records:
        entry = archive_entry(record, ttl_attribute)
        try:
            parts = [_scalar(entry["keys"][name]) for name in key_attributes]
        except KeyError as missing:
            raise ArchiveError(f"REMOVE {entry['event_id']} has no key attribute {missing}") from None
        key = prefix + "/".join(parts) + ".json"
        objects.append(ArchiveObject(key, dumps(entry).encode("utf-8"), "application/json", 1))
    return objects


def _scalar(typed: dict[str, Any]) -> str:
    (value,) = typed.values()
    return str(value)


def boto3_item(typed: dict[str, Any]) -> dict[str, Any]:
    """An archived item (wire JSON, binary as base64) as boto3's low-level client takes it."""
    return {name: _boto3_value(value) for name, value in typed.items()}


def _boto3_value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, payload),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(payload)}
    if kind == "BS":
        return {"BS": [base64.b64decode(member) for member in payload]}
    if kind == "M":
        return {"M": boto3_item(payload)}
    if kind == "L":
        return {"L": [_boto3_value(member) for member in payload]}
    return value
