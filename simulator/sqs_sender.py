"""Straight to the ingest queue, as the topic rule's SQS action would send: SendMessageBatch (10
per call), entries SQS reports as failed sent again with backoff, throttling backed off. The path
for a backend without IoT Core (LocalStack Community)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from aws_calls.batching import Failure, RetryPolicy, send_with_retries, sqs_batch_failures
from aws_calls.errors import is_transient
from simulator.payloads import Outgoing
from simulator.sender import RetryCounter

# Devices keep trying longer than the functions do: a reading not sent is lost for good.
SEND_RETRY = RetryPolicy(attempts=8)


class SqsSender:
    def __init__(self, sqs, queue_url: str, retry: RetryPolicy = SEND_RETRY):
        self.sqs, self.queue_url, self.retry = sqs, queue_url, retry
        self.backoff = RetryCounter()

    @property
    def retries(self) -> int:
        return self.backoff.count

    def send(self, messages: list[Outgoing]) -> list[Failure]:
        entries = [{"Id": str(index), "MessageBody": message.body} for index, message in enumerate(messages)]
        try:
            return send_with_retries(
                lambda batch: sqs_batch_failures(
                    batch, self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=batch)
                ),
                entries,
                self.retry,
                is_transient,
                sleep=self.backoff,
            )
        except (ClientError, BotoCoreError) as error:
            return [Failure(entry, type(error).__name__, str(error), retryable=False) for entry in entries]
