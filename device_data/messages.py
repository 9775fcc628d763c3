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


# Each device publishes its readings on `<thing name>/SENSOR/DAT`; the topic rule takes them all.
SENSOR_TOPIC_SUFFIX = "/SENSOR/DAT"
SENSOR_TOPIC_FILTER = "+" + SENSOR_TOPIC_SUFFIX


def sensor_topic(thing_name: str) -> str:
    return thing_name + SENSOR_TOPIC_SUFFIX
