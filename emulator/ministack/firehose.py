"""Firehose BufferingHints: MiniStack writes one S3 object per record; here records collect in
`FirehoseBuffers` and reach S3 as one object per buffer."""

from __future__ import annotations

import importlib
from typing import Any

from emulator.firehose_buffer import FirehoseBuffers
from emulator.ministack.registry import Originals, Patch, Target
from emulator.ministack.s3 import write_failures

FIREHOSE = "ministack.services.firehose"
DELIVER_RECORDS = Target(FIREHOSE, "_deliver_records_to_s3")


class ObjectNotWritten(Exception):
    """The buffer's S3 object could not be written to disk: the buffer is kept for another try."""


def deliver_one_object(stream: dict[str, Any], destination: dict[str, Any], body: bytes) -> None:
    """Write one buffer as one S3 object, under AWS's key layout; raises ObjectNotWritten."""
    with write_failures() as failures:
        importlib.import_module(FIREHOSE)._deliver_to_s3(stream, destination, body)
    # MiniStack also keeps every record in memory for its own reads; the buffer had them.
    destination["records"] = []
    if failures:
        raise ObjectNotWritten("; ".join(failures))


def buffered_delivery(buffers: FirehoseBuffers) -> Patch:
    def build(originals: Originals) -> dict[Target, Any]:
        def buffered(stream: dict[str, Any], destination: dict[str, Any], records: list[tuple[str, bytes]]) -> None:
            buffers.add(stream, destination, [payload for _record_id, payload in records])

        return {DELIVER_RECORDS: buffered}

    return Patch(
        name="firehose-buffered-delivery",
        summary="Firehose records reach S3 as one object per buffer (BufferingHints), not one per record",
        targets={DELIVER_RECORDS: "1f7d459024276df331fbbdec114c4c6f026cfbd707677d08a852a69f4bfc95e3"},
        build=build,
    )
