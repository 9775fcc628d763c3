"""Through IoT Core's HTTPS data plane: one iot-data Publish per message (QoS 1), on the device's
own topic, as a device without an MQTT connection publishes. Throttling and 5xx are tried again;
a refusal (a payload over 128 KB: 413) is not."""

from __future__ import annotations

import functools

from botocore.exceptions import BotoCoreError, ClientError

from aws_calls.batching import Failure, RetryPolicy, send_with_retries
from aws_calls.errors import is_transient
from simulator.payloads import Outgoing
from simulator.sender import RetryCounter

PUBLISH_RETRY = RetryPolicy(attempts=8)


class HttpsSender:
    def __init__(self, iot_data, retry: RetryPolicy = PUBLISH_RETRY):
        self.iot_data, self.retry = iot_data, retry
        self.backoff = RetryCounter()

    @property
    def retries(self) -> int:
        return self.backoff.count

    def send(self, messages: list[Outgoing]) -> list[Failure]:
        failures: list[Failure] = []
        for index, message in enumerate(messages):
            entry = {"Id": str(index)}
            try:
                failures += send_with_retries(
                    functools.partial(self._publish, message), [entry], self.retry, is_transient, self.backoff
                )
            except (ClientError, BotoCoreError) as error:
                code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
                failures.append(Failure(entry, code, str(error), retryable=False))
        return failures

    def _publish(self, message: Outgoing, _entries: list[dict[str, str]]) -> list[Failure]:
        self.iot_data.publish(topic=message.topic, qos=1, payload=message.payload)
        return []
