"""The DeviceData table: its key, its TTL attribute and how long an item lives by default."""

from __future__ import annotations

HASH_KEY = "deviceID"
RANGE_KEY = "createdAt"
TTL_ATTRIBUTE = "expiredAt"
# One year: expiredAt = createdAt / 1000 + TTL seconds.
DEFAULT_TTL_SECONDS = 31_536_000
