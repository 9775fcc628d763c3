"""SQS at a backlog: MiniStack's ReceiveMessage and DeleteMessageBatch cost a pass over the whole
queue per call (per entry, for DeleteMessageBatch), which drained a 50,000-message backlog at a
crawl; ours stop as soon as the batch is complete. Both fixes are offered upstream as diffs in `upstream/`.
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

from emulator.ministack.registry import Originals, Patch, Target

SQS = "ministack.services.sqs"
DELETE_MESSAGE_BATCH = Target(SQS, "_HANDLERS", "DeleteMessageBatch")
COLLECT_MESSAGES = Target(SQS, "_collect_msgs")
DEAD_LETTER_SWEEP = Target(SQS, "_dlq_sweep")
EXPIRE_RETAINED = Target(SQS, "_expire_retained")

# Retention is measured in days; a check every few seconds per queue is as good as one per call.
RETENTION_CHECK_SECONDS = 5.0
_RETENTION_CHECKED_AT = "_emulator_retention_checked"


def _sqs() -> Any:
    return importlib.import_module(SQS)


def _delete_message_batch(originals: Originals) -> dict[Target, Any]:
    def delete_message_batch(data: dict[str, Any], queue_url: str) -> dict[str, Any]:
        sqs = _sqs()
        queue_record = sqs._get_q(data.get("QueueUrl", queue_url), "sqs:DeleteMessage")
        entries = data.get("Entries", [])
        sqs._validate_batch_entries(entries, "DeleteMessageBatchRequestEntry")
        wanted = {entry.get("ReceiptHandle", "") for entry in entries}
        messages = queue_record["messages"]
        deleted: set[str] = set()
        positions = []
        # Received messages sit near the head (a receive takes the first visible ones, sends append):
        # the pass stops once every handle is found, so a batch costs the in-flight messages ahead of
        # it, not the backlog behind it. Only a batch with an unknown handle reads the whole queue.
        for position, message in enumerate(messages):
            handle = message["receipt_handle"]
            if handle is not None and handle in wanted:
                deleted.add(handle)
                positions.append(position)
                if len(deleted) == len(wanted):
                    break
        kept = []
        start = 0
        for position in positions:
            kept += messages[start:position]
            start = position + 1
        kept += messages[start:]
        # A new list, as MiniStack's own deletes make: a pass under way over the old one is undisturbed.
        queue_record["messages"] = kept
        successful = [{"Id": e.get("Id", "")} for e in entries if e.get("ReceiptHandle", "") in deleted]
        failed = [
            {
                "Id": e.get("Id", ""),
                "Code": "ReceiptHandleIsInvalid",
                "Message": "The input receipt handle is invalid.",
                "SenderFault": True,
            }
            for e in entries
            if e.get("ReceiptHandle", "") not in deleted
        ]
        return {"Successful": successful, "Failed": failed}

    return {DELETE_MESSAGE_BATCH: delete_message_batch}


DELETE_MESSAGE_BATCH_IN_ONE_PASS = Patch(
    name="sqs-delete-message-batch-in-one-pass",
    summary=(
        "DeleteMessageBatch removes its entries in one pass over the queue, not one pass per entry, "
        "stopping once every entry is found"
    ),
    targets={DELETE_MESSAGE_BATCH: "877517c32f0fe6364a3224d853c22141c330d853977dc03080c5cc60f792e8a0"},
    build=_delete_message_batch,
)


def _receive_without_full_scans(originals: Originals) -> dict[Target, Any]:
    collect_all, sweep_all, expire_all = (
        originals[COLLECT_MESSAGES],
        originals[DEAD_LETTER_SWEEP],
        originals[EXPIRE_RETAINED],
    )

    def expire_retained(queue_record: dict[str, Any]) -> None:
        # Wall-clock time: the mark is saved with the queue and read again after a restart.
        now = time.time()
        if not 0 <= now - queue_record.get(_RETENTION_CHECKED_AT, 0.0) < RETENTION_CHECK_SECONDS:
            queue_record[_RETENTION_CHECKED_AT] = now
            expire_all(queue_record)

    def dead_letter_sweep(queue_record: dict[str, Any]) -> None:
        # A standard queue's messages are redriven at their receive attempt, in collect_msgs.
        if queue_record["is_fifo"]:
            sweep_all(queue_record)

    def collect_msgs(queue_record: dict[str, Any], max_n: int, vis_timeout: int) -> list[dict[str, Any]]:
        if queue_record["is_fifo"]:
            result: list[dict[str, Any]] = collect_all(queue_record, max_n, vis_timeout)
            return result
        sqs = _sqs()
        now = time.time()
        max_receives = _max_receive_count(queue_record)
        ready: list[dict[str, Any]] = []
        exhausted: list[dict[str, Any]] = []
        for message in queue_record["messages"]:
            sqs._ensure_msg_fields(message)
            if message["visible_at"] > now:
                continue
            if max_receives and message["receive_count"] >= max_receives:
                exhausted.append(message)
                continue
            ready.append(message)
            if len(ready) == max_n:
                break
        if exhausted:
            # MiniStack's own sweep moves them, run over just these messages.
            candidates = {**queue_record, "messages": exhausted}
            sweep_all(candidates)
            moved = {id(message) for message in exhausted} - {id(message) for message in candidates["messages"]}
            queue_record["messages"] = [m for m in queue_record["messages"] if id(m) not in moved]
        for message in ready:
            message["receipt_handle"] = sqs.new_uuid()
            message["visible_at"] = now + vis_timeout
            message["receive_count"] += 1
            if message.get("first_receive_at") is None:
                message["first_receive_at"] = now
        return ready

    return {COLLECT_MESSAGES: collect_msgs, DEAD_LETTER_SWEEP: dead_letter_sweep, EXPIRE_RETAINED: expire_retained}


RECEIVE_WITHOUT_FULL_SCANS = Patch(
    name="sqs-receive-without-full-scans",
    summary=(
        "ReceiveMessage on a standard queue looks only as far as the batch needs and redrives a message "
        "at its receive attempt; retention is checked every few seconds"
    ),
    targets={
        COLLECT_MESSAGES: "308a6eb1b3d4c8ad5e5e63b0abb0e8ae9556d70f8c8126bfa221b0b3dbf6360a",
        DEAD_LETTER_SWEEP: "6a77691e16715a0d5d433deef257ceaf4751dd44c61dc8d6962588b77d8804d6",
        EXPIRE_RETAINED: "c0da3361632bea2795ae6a11153306fba2fbd9fb38fa218979f1c80758a9a0c5",
    },
    build=_receive_without_full_scans,
)


def _max_receive_count(queue_record: dict[str, Any]) -> int:
    """maxReceiveCount of the queue's redrive policy when its DLQ exists, else 0 (no redrive)."""
    count, dead_letter_queue = _redrive(queue_record)
    return count if dead_letter_queue is not None else 0


def dead_letter_queue(queue_record: dict[str, Any]) -> dict[str, Any] | None:
    """The queue record of the queue's dead-letter queue, when its redrive policy names one that exists."""
    count, dead_letter_queue = _redrive(queue_record)
    return dead_letter_queue if count else None


def _redrive(queue_record: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    try:
        policy = json.loads(queue_record["attributes"].get("RedrivePolicy") or "{}")
        count = int(policy.get("maxReceiveCount", 0)) if isinstance(policy, dict) else 0
    except (TypeError, ValueError):
        return 0, None
    if not count:
        return 0, None
    found: dict[str, Any] | None = _sqs()._queue_by_arn(policy.get("deadLetterTargetArn", ""))
    return count, found
