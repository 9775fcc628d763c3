"""Firehose BufferingHints: MiniStack writes one S3 object per record; here records collect in
`FirehoseBuffers` and reach S3 as one object per buffer, written as AWS writes it
(`emulator.firehose_objects`: the delimiter processor, GZIP, the oldest record's time in the key).

A destination with data format conversion or dynamic partitioning is handed to MiniStack's own
per-object delivery, which knows those (its key time is the delivery's, not the oldest record's).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from emulator.firehose_buffer import FirehoseBuffers
from emulator.firehose_objects import key_time, object_body, record_as_buffered
from emulator.ministack.registry import Originals, Patch, Target
from emulator.ministack.s3 import write_failures

logger = logging.getLogger("emulator.firehose")

FIREHOSE = "ministack.services.firehose"
DELIVER_RECORDS = Target(FIREHOSE, "_deliver_records_to_s3")
DELIVER_ONE = Target(FIREHOSE, "_deliver_to_s3")
EVALUATE_PREFIX = Target(FIREHOSE, "_evaluate_prefix")
JAVA_TIME = Target(FIREHOSE, "_java_time")
BUCKET_FROM_ARN = Target(FIREHOSE, "_s3_bucket_from_arn")
PUT_OBJECT = Target(FIREHOSE, "_put_s3_object")


class ObjectNotWritten(Exception):
    """The buffer's S3 object could not be written to disk: the buffer is kept for another try."""


def _needs_ministacks_delivery(config: Mapping[str, Any]) -> bool:
    conversion = config.get("DataFormatConversionConfiguration") or {}
    partitioning = config.get("DynamicPartitioningConfiguration") or {}
    return bool(conversion and conversion.get("Enabled", True)) or bool(partitioning.get("Enabled"))


def deliver_one_object(stream: dict[str, Any], destination: dict[str, Any], body: bytes, oldest_arrival: float) -> None:
    """Write one buffer as one S3 object, under AWS's key layout
    `<evaluated prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>`; raises
    ObjectNotWritten when its file could not be written."""
    service = importlib.import_module(FIREHOSE)
    config = destination["config"]
    with write_failures() as failures:
        if _needs_ministacks_delivery(config):
            service._deliver_to_s3(stream, destination, body)
        else:
            moment = key_time(config, oldest_arrival)
            data, extension = object_body(config, body)
            try:
                bucket = service._s3_bucket_from_arn(config.get("BucketARN", ""))
                prefix = service._evaluate_prefix(config.get("Prefix", ""), moment)
                stamp = service._java_time("yyyy-MM-dd-HH-mm-ss", moment)
                key = f"{prefix}{stream['name']}-{stream.get('version', 1)}-{stamp}-{uuid.uuid4()}{extension}"
                service._put_s3_object(bucket, key, data)
            except Exception:
                # As MiniStack's own delivery: Firehose is best effort towards S3, never the producer's failure.
                logger.exception("Firehose S3 delivery of %s failed", stream["name"])
    # MiniStack also keeps every record in memory for its own reads; the buffer had them.
    destination["records"] = []
    if failures:
        raise ObjectNotWritten("; ".join(failures))


def buffered_delivery(buffers: FirehoseBuffers) -> Patch:
    def build(originals: Originals) -> dict[Target, Any]:
        def buffered(stream: dict[str, Any], destination: dict[str, Any], records: list[tuple[str, bytes]]) -> None:
            config = destination.get("config") or {}
            buffers.add(stream, destination, [record_as_buffered(config, payload) for _record_id, payload in records])

        return {DELIVER_RECORDS: buffered}

    return Patch(
        name="firehose-buffered-delivery",
        summary="Firehose records reach S3 as one object per buffer (BufferingHints), not one per record",
        targets={DELIVER_RECORDS: "1f7d459024276df331fbbdec114c4c6f026cfbd707677d08a852a69f4bfc95e3"},
        build=build,
        relies_on={
            DELIVER_ONE: "35b6b7a4699157b0a8d7298a5c280a29984c01ba70fb543842ade19408cfde96",
            EVALUATE_PREFIX: "d407ad1dba8f3b4caf86eafdf7a85bde337978d7bb359f4b962246c35f17166d",
            JAVA_TIME: "cb8bad8f8057531907f91ede84181c05f4f27c83078efcfb67e422628de63c57",
            BUCKET_FROM_ARN: "f5d4ceff40d1add05fd461c3f2205274329e7950b5260af5bfa7c5d5f1e8f910",
            PUT_OBJECT: "f96f3d026aa215307ae21898ac8a729630a466d25b3d56812b2709145cb5aca8",
        },
    )
