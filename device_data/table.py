"""The DeviceData table: its key, its TTL attribute and how long an item lives by default."""

from __future__ import annotations

from typing import Any

HASH_KEY = "deviceID"
RANGE_KEY = "createdAt"
TTL_ATTRIBUTE = "expiredAt"
# One year: expiredAt = createdAt / 1000 + TTL seconds.
DEFAULT_TTL_SECONDS = 31_536_000


def key_definition() -> dict[str, Any]:
    """The key as CreateTable takes it: deviceID a string, createdAt a number (epoch ms)."""
    return {
        "AttributeDefinitions": [
            {"AttributeName": HASH_KEY, "AttributeType": "S"},
            {"AttributeName": RANGE_KEY, "AttributeType": "N"},
        ],
        "KeySchema": [
            {"AttributeName": HASH_KEY, "KeyType": "HASH"},
            {"AttributeName": RANGE_KEY, "KeyType": "RANGE"},
        ],
    }
