"""DynamoDB's documented rules for which items TTL deletes."""

from __future__ import annotations

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
    # Called for every item on every sweep: a float comparison is exact enough for epoch seconds.
    if not isinstance(ttl_attribute_value, dict) or len(ttl_attribute_value) != 1 or "N" not in ttl_attribute_value:
        return False
    try:
        expires_at = float(ttl_attribute_value["N"])
    except (TypeError, ValueError):
        return False
    return now - FIVE_YEARS_SECONDS <= expires_at <= now
