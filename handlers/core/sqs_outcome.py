"""What became of each message of one SQS batch, and the response Lambda expects.

One place decides what is reported back (as Powertools' batch processor does): a message
reported in `batchItemFailures` stays on the queue and is retried; every other message is
deleted, so each must have been stored, filtered on purpose, or parked in the dead-letter queue.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from device_data.messages import MessageFate


@dataclass
class SqsBatchOutcome:
    message_ids: list[str]
    _fate: dict[str, MessageFate] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def mark(self, message_id: str, fate: MessageFate, reason: str = "") -> None:
        # A retry is never downgraded: if any part of a message must be retried, all of it is.
        if self._fate.get(message_id) == MessageFate.RETRY:
            return
        self._fate[message_id] = fate
        if reason:
            self.reasons[message_id] = reason

    def fate(self, message_id: str) -> MessageFate:
        return self._fate.get(message_id, MessageFate.STORED)

    def response(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": message_id}
                for message_id in self.message_ids
                if self.fate(message_id) == MessageFate.RETRY
            ]
        }

    def counts(self) -> dict[MessageFate, int]:
        return dict(Counter(self.fate(message_id) for message_id in self.message_ids))
