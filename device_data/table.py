"""The DeviceData table: its key, its TTL attribute, its stream and how long an item lives by default."""

from __future__ import annotations

from typing import Any

HASH_KEY = "deviceID"
RANGE_KEY = "createdAt"
TTL_ATTRIBUTE = "expiredAt"
# One year: expiredAt = createdAt / 1000 + TTL seconds.
DEFAULT_TTL_SECONDS = 31_536_000
# The history function writes both images of a change; the archive function reads the old one.
STREAM_VIEW = "NEW_AND_OLD_IMAGES"


def key_definition(hash_key: str = HASH_KEY, range_key: str = RANGE_KEY) -> dict[str, Any]:
    """The key as CreateTable takes it: deviceID a string, createdAt a number (epoch ms). Other
    names with the same types for tables that only need DeviceData's shape (the benchmarks')."""
    return {
        "AttributeDefinitions": [
            {"AttributeName": hash_key, "AttributeType": "S"},
            {"AttributeName": range_key, "AttributeType": "N"},
        ],
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
    }


def streamed_table(name: str, hash_key: str = HASH_KEY, range_key: str = RANGE_KEY) -> dict[str, Any]:
    """CreateTable's arguments for an on-demand table keyed and streamed as DeviceData is."""
    return {
        "TableName": name,
        **key_definition(hash_key, range_key),
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
    }
