"""Facts about one DynamoDB Streams record as Lambda delivers it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from device_data.archive import RemovalsWithoutIdentity

StreamRecord = dict[str, Any]

# What DynamoDB writes on a record for an item its TTL process deleted.
TTL_PRINCIPAL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def table_name(record: StreamRecord) -> str:
    """`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>` -> `<name>`."""
    arn: str = record["eventSourceARN"]
    return arn.split(":", 5)[5].split("/")[1]


def stream_label(record: StreamRecord) -> str:
    arn: str = record["eventSourceARN"]
    return arn.rsplit("/stream/", 1)[1]


def created_seconds(record: StreamRecord) -> int:
    """ApproximateCreationDateTime (epoch seconds, a number in Lambda events), whole seconds."""
    return int(record["dynamodb"]["ApproximateCreationDateTime"])


def utc_text(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def is_ttl_removal(record: StreamRecord, ttl_attribute: str, without_identity: RemovalsWithoutIdentity) -> bool:
    """True when the record is DynamoDB's TTL process deleting an expired item.

    AWS marks those records with `userIdentity` (TTL_PRINCIPAL). A REMOVE without one is read as
    `without_identity` says: a manual delete, or (for backends that write no `userIdentity`,
    LocalStack) a TTL removal when the item's TTL had passed when the REMOVE was written.
    """
    if record.get("eventName") != "REMOVE":
        return False
    identity = record.get("userIdentity")
    if identity:
        return bool(
            identity.get("type") == TTL_PRINCIPAL["type"]
            and identity.get("principalId") == TTL_PRINCIPAL["principalId"]
        )
    if without_identity == RemovalsWithoutIdentity.MANUAL:
        return False
    expired_at = ttl_value(record["dynamodb"].get("OldImage") or {}, ttl_attribute)
    return expired_at is not None and expired_at <= Decimal(str(record["dynamodb"]["ApproximateCreationDateTime"]))


def ttl_value(image: dict[str, Any], ttl_attribute: str) -> Decimal | None:
    """The TTL attribute of a typed image, when it is a Number (DynamoDB ignores anything else)."""
    typed = image.get(ttl_attribute)
    if not isinstance(typed, dict) or "N" not in typed:
        return None
    try:
        return Decimal(typed["N"])
    except InvalidOperation:
        return None
