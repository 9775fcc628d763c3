"""Firehose deliveries collect in the buffers and reach S3 as one object per buffer."""

import asyncio
import gzip
import importlib
import time

from emulator.firehose_buffer import FirehoseBuffers
from emulator.ministack import firehose, ttl
from emulator.ministack.registry import PatchRegistry

STREAM = {"name": "history"}


def test_records_wait_in_the_buffer_instead_of_one_s3_object_each():
    ttl.import_dynamodb()
    delivered = []
    buffers = FirehoseBuffers(lambda stream, destination, body, _oldest: delivered.append(body))
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

    firehose.deliver_one_object(STREAM, destination, b"a\nb\n", time.time())

    status, _headers, listing = asyncio.run(
        s3.handle_request("GET", "/buffered-history", {}, b"", {"list-type": ["2"]})
    )
    assert status == 200 and listing.count(b"<Key>rows/") == 1 and b"<Size>4</Size>" in listing
    assert b"/history-1-" in listing
    assert destination["records"] == []


def bucket_objects(s3, bucket):
    """(key, body) of every object in `bucket`, through MiniStack's S3 handler."""
    status, _headers, listing = asyncio.run(s3.handle_request("GET", f"/{bucket}", {}, b"", {"list-type": ["2"]}))
    assert status == 200
    keys = [part.split(b"</Key>")[0].decode() for part in listing.split(b"<Key>")[1:]]
    return [(key, asyncio.run(s3.handle_request("GET", f"/{bucket}/{key}", {}, b"", {}))[2]) for key in keys]


def test_a_gzip_destination_gets_a_gzip_object_with_a_gz_key_dated_by_its_oldest_record():
    ttl.import_dynamodb()
    s3 = importlib.import_module("ministack.services.s3")
    assert asyncio.run(s3.handle_request("PUT", "/gzip-history", {}, b"", {}))[0] == 200
    config = {"BucketARN": "arn:aws:s3:::gzip-history", "Prefix": "rows/", "CompressionFormat": "GZIP"}
    oldest = 1_800_000_000  # 2027-01-15 08:00:00 UTC

    firehose.deliver_one_object(STREAM, {"config": config}, b"a\nb\n", oldest)

    ((key, body),) = bucket_objects(s3, "gzip-history")
    assert key.startswith("rows/2027/01/15/08/history-1-2027-01-15-08-00-00-") and key.endswith(".gz")
    assert gzip.decompress(body) == b"a\nb\n"


def test_the_append_delimiter_processor_ends_each_record_with_a_newline():
    ttl.import_dynamodb()
    delivered = []
    buffers = FirehoseBuffers(lambda stream, destination, body, _oldest: delivered.append(body))
    processing = {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}
    destination = {"id": "d1", "config": {"ProcessingConfiguration": processing}}
    registry = PatchRegistry()
    registry.apply(firehose.buffered_delivery(buffers))
    try:
        deliver_records = importlib.import_module("ministack.services.firehose")._deliver_records_to_s3
        deliver_records(STREAM, destination, [("r1", b'{"a": 1}'), ("r2", b'{"b": 2}')])
        buffers.flush_all()
    finally:
        registry.undo()
    assert delivered == [b'{"a": 1}\n{"b": 2}\n']
