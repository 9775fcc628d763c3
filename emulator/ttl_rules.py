"""DynamoDB's documented rules for which items TTL deletes."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

# DynamoDB does not delete items whose TTL value is more than five years in the past.
FIVE_YEARS_SECONDS = 5 * 365 * 24 * 3600

# As the DynamoDB Streams API spells it (GetRecords); Lambda events spell it
# {"type": ..., "principalId": ...}, see emulator.esm.stream_events.
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def is_expired(ttl_attribute_value: Any, now: float) -> bool:
    """True when an item with this typed TTL attribute value (e.g. {"N": "1700000000"}) expires.

    Only a Number in epoch seconds counts: a missing attribute, a String, a set or a list never
    expires, and neither does a value more than five years old. A value in milliseconds reads as
    a date tens of thousands of years ahead, so it never expires either, as on AWS.
    """
    if not isinstance(ttl_attribute_value, dict) or set(ttl_attribute_value) != {"N"}:
        return False
    try:
        expires_at = Decimal(ttl_attribute_value["N"])
    except (InvalidOperation, TypeError):
        return False
    return now - FIVE_YEARS_SECONDS <= expires_at <= Decimal(str(now))
