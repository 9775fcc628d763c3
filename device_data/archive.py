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


class RemovalsWithoutIdentity(StrEnum):
    """How the history and archive functions read a REMOVE whose record has no `userIdentity`.

    AWS writes DynamoDB's service principal on every TTL deletion, so there such a REMOVE is a
    delete by someone (`manual`): an item that expired but was not swept yet and is deleted by
    hand is not a TTL removal. LocalStack writes no `userIdentity` on its TTL deletions, so there
    a REMOVE of an item whose TTL had passed counts as one (`ttl-if-expired`).
    """

    MANUAL = "manual"
    TTL_IF_EXPIRED = "ttl-if-expired"
