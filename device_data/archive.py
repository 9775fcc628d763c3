"""How items removed by TTL are archived to S3."""

from __future__ import annotations

from enum import StrEnum

ARCHIVE_PREFIX = "archive/"
# Archived items are read rarely, if ever: the cheapest class that still restores within hours.
ARCHIVE_STORAGE_CLASS = "GLACIER"


class ArchiveLayout(StrEnum):
    """`batch`: one gzip JSON Lines object per invocation; `per-item`: the seed design's one
    JSON object per item, keyed by the item's key."""

    BATCH = "batch"
    PER_ITEM = "per-item"
