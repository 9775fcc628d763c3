"""An S3 object whose file could not be written is known to the request (or Firehose delivery)
that wrote it; one that was written is on disk as MiniStack writes it."""

import asyncio
import importlib
import time

import pytest

from emulator.ministack import firehose, ttl
from emulator.ministack.registry import PatchRegistry
from emulator.ministack.s3 import OBJECT_WRITES_KNOWN, write_failures


@pytest.fixture
def s3(tmp_path, monkeypatch):
    ttl.import_dynamodb()
    module = importlib.import_module("ministack.services.s3")
    monkeypatch.setattr(module, "S3_PERSIST", True)
    monkeypatch.setattr(module, "DATA_DIR", str(tmp_path / "s3"))
    registry = PatchRegistry()
    registry.apply(OBJECT_WRITES_KNOWN)
    assert asyncio.run(module.handle_request("PUT", "/written-or-not", {}, b"", {}))[0] == 200
    yield module
    registry.undo()
    asyncio.run(module.handle_request("DELETE", "/written-or-not/rows/a", {}, b"", {}))
    asyncio.run(module.handle_request("DELETE", "/written-or-not", {}, b"", {}))


def put(s3, key, body):
    with write_failures() as failures:
        status = asyncio.run(s3.handle_request("PUT", f"/written-or-not/{key}", {}, body, {}))[0]
    return status, failures


def test_a_written_object_is_on_disk_and_no_failure_is_listed(s3, tmp_path):
    status, failures = put(s3, "rows/a", b"a\n")
    assert status == 200 and failures == []
    assert [p.read_bytes() for p in (tmp_path / "s3").rglob("a") if p.is_file()] == [b"a\n"]


def test_an_object_whose_file_cannot_be_written_is_listed_with_the_reason(s3, tmp_path, monkeypatch, caplog):
    (tmp_path / "full").write_text("")
    monkeypatch.setattr(s3, "DATA_DIR", str(tmp_path / "full"))
    _status, failures = put(s3, "rows/a", b"a\n")
    assert failures == ["S3 object written-or-not/rows/a not written: Not a directory"]
    assert "could not write S3 object written-or-not/rows/a: Not a directory" in caplog.text


def test_a_firehose_buffer_whose_object_cannot_be_written_is_not_delivered(s3, tmp_path, monkeypatch):
    (tmp_path / "full").write_text("")
    monkeypatch.setattr(s3, "DATA_DIR", str(tmp_path / "full"))
    destination = {"config": {"BucketARN": "arn:aws:s3:::written-or-not", "Prefix": "rows/"}}
    with pytest.raises(firehose.ObjectNotWritten, match="not written: Not a directory"):
        firehose.deliver_one_object({"name": "history"}, destination, b"a\n", time.time())
