"""What the ingest function makes of a device's message, as the simulator predicts it too."""

from __future__ import annotations

from enum import StrEnum

# APP_ENV of a staging pipeline: it keeps only `stg` devices, every other pipeline drops them.
STAGING_APP_ENV = "Staging"


class MessageFate(StrEnum):
    """Every message of a batch ends as exactly one of these; none is dropped."""

    STORED = "stored"
    FILTERED = "filtered"
    DEAD_LETTERED = "dead_lettered"
    # Reported in batchItemFailures: SQS delivers it again.
    RETRY = "retry"
