"""A stream record -> one line of the change history (JSON Lines, read by Athena).

The first six keys are the seed design's, in its order: action, keys, new_image, old_image,
timestamp, timestamp_utc. Added: event_id (for de-duplicating redeliveries), sequence_number
(order per key), table, expired (a TTL removal).
"""

from __future__ import annotations

from typing import Any

from device_data.archive import RemovalsWithoutIdentity
from handlers.core.attribute_values import dumps, image_to_python, to_json_value
from handlers.core.stream_records import (
    StreamRecord,
    created_seconds,
    is_ttl_removal,
    table_name,
    utc_text,
)


def history_line(record: StreamRecord, ttl_attribute: str, without_identity: RemovalsWithoutIdentity) -> dict[str, Any]:
    change = record["dynamodb"]
    timestamp = created_seconds(record)
    return {
        "action": record["eventName"],
        "keys": _plain(change["Keys"]),
        "new_image": _plain(change.get("NewImage")),
        "old_image": _plain(change.get("OldImage")),
        "timestamp": timestamp,
        "timestamp_utc": utc_text(timestamp),
        "event_id": record["eventID"],
        "sequence_number": change["SequenceNumber"],
        "table": table_name(record),
        "expired": is_ttl_removal(record, ttl_attribute, without_identity),
    }


def encode_history_line(line: dict[str, Any]) -> bytes:
    """The bytes Firehose receives: one JSON document and a newline (Firehose adds no separator)."""
    return (dumps(line) + "\n").encode("utf-8")


def _plain(image: dict[str, Any] | None) -> Any:
    return to_json_value(image_to_python(image))
