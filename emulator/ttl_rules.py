"""DynamoDB's documented rules for which items TTL deletes."""

from __future__ import annotations

import math
from typing import Any

# DynamoDB does not delete items whose TTL value is more than five years in the past.
FIVE_YEARS_SECONDS = 5 * 365 * 24 * 3600

# As the DynamoDB Streams API spells it (GetRecords); Lambda events spell it
# {"type": ..., "principalId": ...}, see emulator.esm.stream_events.
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def expires_at(ttl_attribute_value: Any) -> float | None:
    """The epoch second an item with this typed TTL attribute value (e.g. {"N": "1700000000"})
    expires at, or None when it never expires by its type.

    Only a Number counts: a missing attribute, a String, a set or a list never expires. A value in
    milliseconds reads as a date tens of thousands of years ahead, as on AWS.
    """
    # Read for every item written to a table with TTL: a float is exact enough for epoch seconds.
    if not isinstance(ttl_attribute_value, dict) or len(ttl_attribute_value) != 1 or "N" not in ttl_attribute_value:
        return None
    try:
        seconds = float(ttl_attribute_value["N"])
    except (TypeError, ValueError):
        return None
    # Infinity and NaN compare as never due.
    return seconds if math.isfinite(seconds) else None


def is_expired(ttl_attribute_value: Any, now: float) -> bool:
    """True when an item with this typed TTL attribute value expires at `now`."""
    return is_due(expires_at(ttl_attribute_value), now)


def is_due(seconds: float | None, now: float) -> bool:
    """True when an item that `expires_at` these epoch seconds expires at `now`: they are past,
    but not more than five years past."""
    return seconds is not None and now - FIVE_YEARS_SECONDS <= seconds <= now
