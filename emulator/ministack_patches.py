"""Where the embedded backend reaches into MiniStack 1.5.33 (pinned in pyproject.toml).

Everything that depends on MiniStack's internals is in this one module, so an upgrade has one
place to check (tests/unit/emulator exercise each hook against the pinned version):
- its TTL reaper thread is never started: it deletes every 60 s, writes no stream record and
  also expires String values; `sweep_expired_items` replaces it;
- its event source mapping poller is switched off: `emulator.esm` runs the mappings instead;
- Firehose's per-record S3 delivery goes through `FirehoseBuffers`;
- DynamoDB stream records are saved and restored with the tables (MiniStack keeps only the
  items), so records not yet processed at a stop are still there after the next start.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from itertools import islice
from typing import Iterator

from emulator.firehose_buffer import FirehoseBuffers
from emulator.ttl_rules import TTL_IDENTITY, is_expired

logger = logging.getLogger("emulator")

_SKIPPED_THREADS = {"dynamodb-ttl-reaper"}
SWEEP_CHUNK = 5000


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
                    expired = list(islice(
                        ((pk, sk) for pk, by_sort_key in table["items"].items()
                         for sk, item in by_sort_key.items() if is_expired(item.get(attribute), now)),
                        SWEEP_CHUNK,
                    ))
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
