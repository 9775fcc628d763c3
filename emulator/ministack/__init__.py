"""Where the embedded backend reaches into MiniStack (pinned in pyproject.toml to MINISTACK_VERSION).

Everything that depends on MiniStack's internals is in this package, one module per concern,
and every change to MiniStack's code goes through `registry`: each patch checks that its targets
are the code it was written for, so an upgrade stops the backend with one line naming the patch
and the function instead of running a replacement on code it does not fit.

- `ttl`: MiniStack's TTL reaper never starts; `sweep_expired_items` applies DynamoDB's rules and
  writes each removal's stream record, reading the items an expiry index (fed by `_set_item`)
  says may be due;
- `mappings`: MiniStack's event source mapping poller stays off (`emulator.esm` runs them);
- `mapping_validation`: Create/UpdateEventSourceMapping refuse what AWS refuses, with AWS's errors;
- `firehose`: Firehose deliveries go through `FirehoseBuffers` (one S3 object per buffer);
- `persistence`: DynamoDB stream records are saved and restored with the tables;
- `functions`: Python function workers mark the end of each invocation (no 50 ms log wait); a
  custom runtime's response that is not JSON reaches the caller as it is;
- `sqs`: DeleteMessageBatch in one pass, ReceiveMessage without four full scans of the queue;
- `iot`: MQTT over WebSocket on a loopback Host, AWS IoT Core's publish limits (QoS 0/1, 128 KB),
  `SELECT *` handing the SQS action the payload as published (binary included), and the SQS
  action sending only as its role allows;
- `athena`: queries read Glue tables as declared (JSON SerDe, partition projection) in
  `emulator.athena_engine` and fail as Athena does; without DuckDB they fail, never placeholder rows;
- `glacier`: a Glacier restore takes GLACIER_RESTORE_SECONDS;
- `cloudformation`: the template's table, delivery stream, functions and mappings are provisioned
  as AWS provisions them (TTL and PITR applied, an existing table refused, numbers as integers,
  missing code and refused mappings failing the resource);
- `dynamodb_records`: stream records carry DynamoDB's SizeBytes, an unchanged item writes none,
  PartiQL writes write them;
- `dynamodb_updates`: update expressions DynamoDB refuses are refused, REMOVE of list elements
  removes the original positions, number sets compare by value;
- `dynamodb_validation`: TTL and stream changes that change nothing, empty WriteRequests, OR in
  key conditions and Query filters on key attributes are refused as AWS refuses them; a legacy
  `Expected` with `Value` and `ComparisonOperator` is evaluated;
- `dynamodb_capacity`: GetItem and BatchGetItem report read capacity by item size;
- `dynamodb_numbers`: a number's check, canonical form and size are computed once per text;
- `dynamodb_stream_reads`: DynamoDB Streams answers are encoded by orjson (the same JSON);
- `dynamodb_wording`: a missing stream and a transaction's failed condition in AWS's words;
- `compact`: stream records packed and attribute values shared (memory for 24 h of records);
- `saves`: each service's save at a stop is recorded as written or failed, not just logged;
- `s3`: an S3 object whose file could not be written fails its request instead of answering 200;
- `journal`: every change to items, stream records, messages and Firehose buffers is journaled
  before its answer and replayed at the next start (applied last: it wraps what is there).

`upstream/` holds the general fixes as diffs against MiniStack's source, to offer upstream.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

from emulator.expiry_index import ExpiryIndex
from emulator.firehose_buffer import FirehoseBuffers
from emulator.ministack import (
    athena,
    cloudformation,
    compact,
    dynamodb_capacity,
    dynamodb_numbers,
    dynamodb_records,
    dynamodb_stream_reads,
    dynamodb_updates,
    dynamodb_validation,
    dynamodb_wording,
    firehose,
    functions,
    glacier,
    iot,
    journal,
    mapping_validation,
    mappings,
    persistence,
    s3,
    saves,
    sqs,
    ttl,
)
from emulator.ministack.journal import Journal
from emulator.ministack.registry import MINISTACK_VERSION, MinistackDiffers, PatchRegistry
from emulator.ministack.saves import SaveLog

__all__ = ["MINISTACK_VERSION", "EmbeddedMinistack", "MinistackDiffers", "install"]


class EmbeddedMinistack(NamedTuple):
    app: Any
    firehose: FirehoseBuffers
    saves: SaveLog
    expiries: ExpiryIndex


def install(
    registry: PatchRegistry,
    journal_to: Journal | None = None,
    sync_saves: bool = False,
    glacier_restore_seconds: float = 2.0,
) -> EmbeddedMinistack:
    """Import MiniStack and apply every patch through `registry`, all or none: raises
    MinistackDiffers, with nothing left patched, when a target is not the code it should be.
    With `journal_to`, every change is journaled there (see `journal`)."""
    ttl.import_dynamodb()
    app = importlib.import_module("ministack.app").app
    buffers = FirehoseBuffers(firehose.deliver_one_object)
    save_log = SaveLog()
    expiries = ExpiryIndex()
    # A stop's save reuses the stream records' JSON the checkpoints kept.
    live_state = journal_to.live_state if journal_to is not None else compact.LiveState()
    patches = [
        ttl.REAPER_NEVER_STARTS,
        mappings.POLLER_OFF,
        mapping_validation.MAPPINGS_VALIDATED,
        persistence.STREAM_RECORDS_PERSISTED,
        functions.INVOCATION_END_MARK,
        functions.RAW_CUSTOM_RUNTIME_RESPONSE,
        sqs.DELETE_MESSAGE_BATCH_IN_ONE_PASS,
        sqs.RECEIVE_WITHOUT_FULL_SCANS,
        firehose.buffered_delivery(buffers),
        iot.MQTT_ON_LOOPBACK_HOST,
        iot.PUBLISH_LIMITS,
        iot.PAYLOAD_AS_PUBLISHED,
        iot.RULE_ROLE_ENFORCED,
        athena.NO_PLACEHOLDER_ROWS,
        athena.QUERIES_RUN_BY_THE_ENGINE,
        athena.RESULTS_AT_THE_OUTPUT_LOCATION,
        glacier.restore_delay(glacier_restore_seconds),
        cloudformation.RESOURCES_AS_ON_AWS,
        dynamodb_records.SIZE_BYTES,
        dynamodb_records.UNCHANGED_WRITES_NO_RECORD,
        dynamodb_records.PARTIQL_WRITES_RECORDED,
        dynamodb_updates.UPDATES_AS_DYNAMODB,
        dynamodb_validation.REFUSED_AS_DYNAMODB,
        dynamodb_validation.LEGACY_EXPECTED_VALUE,
        dynamodb_capacity.READS_BILLED_BY_SIZE,
        dynamodb_numbers.NUMBERS_MEMOIZED,
        dynamodb_stream_reads.STREAM_READS_BY_ORJSON,
        dynamodb_wording.AWS_WORDING,
        compact.COMPACT_ITEMS_AND_STREAMS,
        ttl.expiries_indexed(expiries),
        saves.saves_known(save_log, sync_saves, {compact.DYNAMODB_STATE: live_state.read}),
        s3.OBJECT_WRITES_KNOWN,
    ]
    if journal_to is not None:
        patches.append(journal.journaled(journal_to))
    try:
        for patch in patches:
            registry.apply(patch)
    except MinistackDiffers:
        registry.undo()
        raise
    if journal_to is not None:
        buffers.log = journal_to
    return EmbeddedMinistack(app, buffers, save_log, expiries)
