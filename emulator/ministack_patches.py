"""Where the embedded backend reaches into MiniStack 1.5.33 (pinned in pyproject.toml).

Everything that depends on MiniStack's internals is in this one module, so an upgrade has one
place to check (tests/unit/emulator exercise each hook against the pinned version):
- its TTL reaper thread is never started: it deletes every 60 s, writes no stream record and
  also expires String values; `sweep_expired_items` replaces it;
- its event source mapping poller is switched off: `emulator.esm` runs the mappings instead;
- Firehose's per-record S3 delivery goes through `FirehoseBuffers`;
- DynamoDB stream records are saved and restored with the tables (MiniStack keeps only the
  items), so records not yet processed at a stop are still there after the next start;
- a Python function worker marks the end of each invocation on stderr, so collecting its log
  lines stops at the mark instead of waiting 50 ms for lines that may never come (that wait
  was three quarters of every quiet invocation, and the pipeline's main cost);
- SQS DeleteMessageBatch removes its entries in one pass over the queue instead of one pass
  per entry (quadratic in the backlog: a 50,000-message backlog drained at a crawl);
- SQS ReceiveMessage on a standard queue looks only as far into the queue as it needs for the
  batch, and redrives a message at its receive attempt (as SQS does) instead of sweeping the
  whole queue first; retention is checked every few seconds instead of on every call. Each
  receive used to make four passes over the queue: 100 ms apiece at a 50,000-message backlog.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from itertools import islice

from emulator.firehose_buffer import FirehoseBuffers
from emulator.ttl_rules import TTL_IDENTITY, is_expired

logger = logging.getLogger("emulator")

_SKIPPED_THREADS = {"dynamodb-ttl-reaper"}
SWEEP_CHUNK = 5000
INVOCATION_END = "\x1eemulator-invocation-end"
# How long to wait for an invocation's end mark once its result is in (the worker writes the
# mark before the result, so it is normally already in the pipe).
INVOCATION_END_WAIT_SECONDS = 2.0
_WORKER_LOOP_END = "        _real_stdout.flush()\n\nrun()"


def import_ministack():
    """Import MiniStack's app and services with our hooks in place; returns the ASGI app."""
    real_start = threading.Thread.start

    def start_unless_skipped(thread: threading.Thread) -> None:
        if thread.name in _SKIPPED_THREADS:
            return
        real_start(thread)

    threading.Thread.start = start_unless_skipped
    try:
        app = importlib.import_module("ministack.app").app
        dynamodb = importlib.import_module("ministack.services.dynamodb")
        lambda_svc = importlib.import_module("ministack.services.lambda_svc")
    finally:
        threading.Thread.start = real_start
    if not hasattr(dynamodb, "_ttl_reaper") or not hasattr(lambda_svc, "_ensure_poller"):
        raise RuntimeError("this MiniStack version lacks the hooks the embedded backend needs")
    lambda_svc._ensure_poller = lambda: None
    return app


def mark_invocation_ends() -> None:
    runtime = importlib.import_module("ministack.core.lambda_runtime")
    if _WORKER_LOOP_END not in runtime._PYTHON_WORKER_SCRIPT:
        raise RuntimeError("this MiniStack version's Python worker script is not the one the embedded backend patches")
    mark = f"        sys.stderr.write({INVOCATION_END!r} + '\\n')\n        sys.stderr.flush()\n"
    runtime._PYTHON_WORKER_SCRIPT = runtime._PYTHON_WORKER_SCRIPT.replace(_WORKER_LOOP_END, mark + _WORKER_LOOP_END)
    drain_with_timing = runtime.Worker._drain_stderr_bounded

    def drain_to_mark(worker, *args, **kwargs) -> str:
        if not str(worker.config.get("Runtime", "python3.12")).startswith("python"):
            return drain_with_timing(worker, *args, **kwargs)
        lines = []
        deadline = time.monotonic() + INVOCATION_END_WAIT_SECONDS
        while True:
            try:
                line = worker._stderr_queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line == INVOCATION_END:
                break
            lines.append(line)
        return "\n".join(lines)

    runtime.Worker._drain_stderr_bounded = drain_to_mark


def delete_message_batches_in_one_pass() -> None:
    sqs = importlib.import_module("ministack.services.sqs")
    if sqs._HANDLERS.get("DeleteMessageBatch") is not sqs._act_delete_message_batch:
        raise RuntimeError("this MiniStack version's SQS handlers are not the ones the embedded backend patches")

    def delete_message_batch(data: dict, queue_url: str) -> dict:
        queue_record = sqs._get_q(data.get("QueueUrl", queue_url), "sqs:DeleteMessage")
        entries = data.get("Entries", [])
        sqs._validate_batch_entries(entries, "DeleteMessageBatchRequestEntry")
        wanted = {entry.get("ReceiptHandle", "") for entry in entries}
        deleted: set[str] = set()
        kept = []
        for message in queue_record["messages"]:
            handle = message["receipt_handle"]
            if handle is not None and handle in wanted:
                deleted.add(handle)
            else:
                kept.append(message)
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

    sqs._act_delete_message_batch = delete_message_batch
    sqs._HANDLERS["DeleteMessageBatch"] = delete_message_batch


RETENTION_CHECK_SECONDS = 5.0


def receive_without_full_scans() -> None:
    sqs = importlib.import_module("ministack.services.sqs")
    collect_all, sweep_all, expire_all = sqs._collect_msgs, sqs._dlq_sweep, sqs._expire_retained

    def expire_retained(queue_record: dict) -> None:
        # Retention is measured in days; a check every few seconds per queue is as good.
        now = time.monotonic()
        if now - queue_record.get("_emulator_retention_checked", 0.0) >= RETENTION_CHECK_SECONDS:
            queue_record["_emulator_retention_checked"] = now
            expire_all(queue_record)

    def dlq_sweep(queue_record: dict) -> None:
        if queue_record["is_fifo"]:
            sweep_all(queue_record)
        # Standard queues: collect_msgs redrives each message at its receive attempt.

    def collect_msgs(queue_record: dict, max_n: int, vis_timeout: int) -> list:
        if queue_record["is_fifo"]:
            return collect_all(queue_record, max_n, vis_timeout)
        now = time.time()
        max_receives = _max_receive_count(sqs, queue_record)
        ready, exhausted = [], []
        for message in queue_record["messages"]:
            if message["visible_at"] > now:
                continue
            if max_receives and message.get("receive_count", 0) >= max_receives:
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
            sqs._ensure_msg_fields(message)
            message["receipt_handle"] = sqs.new_uuid()
            message["visible_at"] = now + vis_timeout
            message["receive_count"] += 1
            if message.get("first_receive_at") is None:
                message["first_receive_at"] = now
        return ready

    sqs._expire_retained, sqs._dlq_sweep, sqs._collect_msgs = expire_retained, dlq_sweep, collect_msgs


def _max_receive_count(sqs, queue_record: dict) -> int:
    """maxReceiveCount of the queue's redrive policy when its DLQ exists, else 0 (no redrive)."""
    try:
        policy = json.loads(queue_record["attributes"].get("RedrivePolicy") or "{}")
        count = int(policy.get("maxReceiveCount", 0)) if isinstance(policy, dict) else 0
    except (TypeError, ValueError):
        return 0
    if not count or sqs._queue_by_arn(policy.get("deadLetterTargetArn", "")) is None:
        return 0
    return count


def persist_stream_records() -> None:
    dynamodb = importlib.import_module("ministack.services.dynamodb")
    save_tables, load_tables = dynamodb.get_state, dynamodb.load_persisted_state

    def get_state() -> dict:
        state = save_tables()
        with dynamodb._lock:
            state["emulator_stream_records"] = [
                [account_id, region, table_name, list(records)]
                for (account_id, region, table_name), records in dynamodb._stream_records.all_items()
            ]
        return state

    def load_persisted_state(data: dict):
        result = load_tables(data)
        for account_id, region, table_name, records in (data or {}).get("emulator_stream_records", []):
            dynamodb._stream_records.set_scoped(account_id, region, table_name, records)
        return result

    dynamodb.get_state = get_state
    dynamodb.load_persisted_state = load_persisted_state


def buffer_firehose_deliveries() -> FirehoseBuffers:
    firehose = importlib.import_module("ministack.services.firehose")
    deliver_one_object = firehose._deliver_to_s3

    def deliver(stream: dict, destination: dict, body: bytes) -> None:
        deliver_one_object(stream, destination, body)
        # MiniStack also keeps every record in memory for its own reads; the buffer has them now.
        destination["records"] = []

    buffers = FirehoseBuffers(deliver)

    def buffered(stream: dict, destination: dict, records: list) -> None:
        buffers.add(stream, destination, [payload for _record_id, payload in records])

    firehose._deliver_records_to_s3 = buffered
    return buffers


@contextlib.contextmanager
def _scope(account_id: str, region: str) -> Iterator[None]:
    responses = importlib.import_module("ministack.core.responses")
    account_token = responses._request_account_id.set(account_id)
    region_token = responses._request_region.set(region)
    try:
        yield
    finally:
        responses._request_account_id.reset(account_token)
        responses._request_region.reset(region_token)


def sweep_expired_items(now: float | None = None) -> int:
    """Delete every expired item of every table with TTL enabled; returns how many.

    Deletes in chunks so the API keeps answering while a large backlog is swept, and writes
    each deletion's stream record with the service identity AWS gives TTL deletes.
    """
    dynamodb = importlib.import_module("ministack.services.dynamodb")
    now = time.time() if now is None else now
    removed = 0
    for (account_id, region, table_name), setting in dynamodb._ttl_settings.all_items():
        attribute = setting.get("AttributeName")
        if setting.get("TimeToLiveStatus") != "ENABLED" or not attribute:
            continue
        with _scope(account_id, region):
            while True:
                with dynamodb._lock:
                    table = dynamodb._tables.get(table_name)
                    if not table:
                        break
                    expired = list(
                        islice(
                            (
                                (pk, sk)
                                for pk, by_sort_key in table["items"].items()
                                for sk, item in by_sort_key.items()
                                if is_expired(item.get(attribute), now)
                            ),
                            SWEEP_CHUNK,
                        )
                    )
                    for pk, sk in expired:
                        old_item = dynamodb._remove_item(table, pk, sk)
                        if old_item is not None:
                            _record_ttl_removal(dynamodb, table_name, table, old_item)
                removed += len(expired)
                if len(expired) < SWEEP_CHUNK:
                    break
    return removed


def _record_ttl_removal(dynamodb, table_name: str, table: dict, old_item: dict) -> None:
    # As MiniStack's own _emit_stream_event, plus the userIdentity AWS writes for TTL deletes.
    spec = table.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled"):
        return
    record = dynamodb._build_change_record(
        table, "REMOVE", old_item, None, spec.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    )
    record["userIdentity"] = dict(TTL_IDENTITY)
    if table_name not in dynamodb._stream_records:
        dynamodb._stream_records[table_name] = []
    dynamodb._stream_records[table_name].append(record)
    dynamodb.esm_wake.set()
    dynamodb._trim_stream_records(table_name)
