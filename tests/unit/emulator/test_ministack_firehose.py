"""Firehose deliveries collect in the buffers and reach S3 as one object per buffer."""

import asyncio
import importlib

from emulator.firehose_buffer import FirehoseBuffers
from emulator.ministack import firehose, ttl
from emulator.ministack.registry import PatchRegistry

STREAM = {"name": "history"}


def test_records_wait_in_the_buffer_instead_of_one_s3_object_each():
    ttl.import_dynamodb()
    delivered = []
    buffers = FirehoseBuffers(lambda stream, destination, body: delivered.append(body))
    destination = {"id": "d1", "config": {"BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}}}
    registry = PatchRegistry()
    registry.apply(firehose.buffered_delivery(buffers))
    try:
        deliver_records = importlib.import_module("ministack.services.firehose")._deliver_records_to_s3
        deliver_records(STREAM, destination, [("r1", b"a\n"), ("r2", b"b\n")])
        assert delivered == [] and buffers.pending_records() == 2
        buffers.flush_all()
        assert delivered == [b"a\nb\n"]
    finally:
        registry.undo()


def test_a_buffer_is_written_as_one_object_under_awss_key_layout_and_ministacks_copy_is_dropped():
    ttl.import_dynamodb()
    s3 = importlib.import_module("ministack.services.s3")
    assert asyncio.run(s3.handle_request("PUT", "/buffered-history", {}, b"", {}))[0] == 200
    destination = {"config": {"BucketARN": "arn:aws:s3:::buffered-history", "Prefix": "rows/"}, "records": [{}]}

    firehose.deliver_one_object(STREAM, destination, b"a\nb\n")

    status, _headers, listing = asyncio.run(
        s3.handle_request("GET", "/buffered-history", {}, b"", {"list-type": ["2"]})
    )
    assert status == 200 and listing.count(b"<Key>rows/") == 1 and b"<Size>4</Size>" in listing
    assert b"/history-1-" in listing
    assert destination["records"] == []
