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
    # The topic rule could not send it to the queue: its error action parked it on the IoT errors queue.
    RULE_ERROR = "rule_error"


# Each device publishes its readings on `<thing name>/SENSOR/DAT`; the topic rule takes them all.
SENSOR_TOPIC_SUFFIX = "/SENSOR/DAT"
SENSOR_TOPIC_FILTER = "+" + SENSOR_TOPIC_SUFFIX


# AWS IoT Core's message broker takes at most 128 KB of payload per message, over MQTT or HTTPS.
IOT_MAX_PAYLOAD_BYTES = 128 * 1024


def sensor_topic(thing_name: str) -> str:
    return thing_name + SENSOR_TOPIC_SUFFIX
