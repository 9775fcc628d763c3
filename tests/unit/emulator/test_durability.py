"""The API process answers nothing before it is durable: writes refused with AWS's 503 while the
journal's space cannot be reserved (before MiniStack sees them), everything refused after a
write the journal could not take, S3 objects not written answered 503, the state reported at
GET /_emulator/durability and, at a stop, in run/api.shutdown.json."""

import asyncio
import errno
import json
import os
import shutil
import subprocess

import pytest

from emulator.__main__ import main
from emulator.api_server import DURABILITY_PATH, SHUTDOWN_REPORT, Durability, RequestKind, request_kind
from emulator.firehose_buffer import FirehoseBuffers
from emulator.journal_file import OsFileOps, generations
from emulator.lifecycle import free_port
from emulator.ministack import s3
from emulator.ministack.journal import Entry, Journal
from emulator.ministack.saves import SaveLog
from emulator.settings import EmulatorSettings
from tests.unit.emulator.asgi import call

RESERVE = 64 * 1024
SQS_SEND = [(b"x-amz-target", b"AmazonSQS.SendMessage"), (b"content-type", b"application/x-amz-json-1.0")]
SQS_RECEIVE = [(b"x-amz-target", b"AmazonSQS.ReceiveMessage"), (b"content-type", b"application/x-amz-json-1.0")]
DESCRIBE = [(b"x-amz-target", b"DynamoDB_20120810.DescribeTable"), (b"content-type", b"application/x-amz-json-1.0")]


class Disk(OsFileOps):
    """The disk, failing on demand."""

    def __init__(self):
        self.full = False
        self.broken = False

    def allocate(self, fd, offset, length):
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().allocate(fd, offset, length)

    def write(self, fd, data, offset):
        if self.broken:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().write(fd, data, offset)


class Ministack:
    """Stands in for MiniStack: counts what reaches it; a write journals an entry, an S3 PUT can
    fail to write its object."""

    def __init__(self, journal):
        self.journal = journal
        self.reached = []
        self.s3_fails = False

    async def __call__(self, scope, receive, send):
        self.reached.append((scope["method"], scope["path"]))
        if scope["method"] != "GET" and self.journal is not None:
            self.journal.record(Entry.QUEUE_PURGED, "arn:aws:sqs:us-east-1:000000000000:q")
        if scope["method"] == "PUT" and self.s3_fails:
            s3._failures.get().append("S3 object b/k not written: No space left on device")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def api(tmp_path):
    disk = Disk()
    journal = Journal(tmp_path / "journal", RESERVE, sync=False, ops=disk)
    journal.writer.open(1)
    ministack = Ministack(journal)
    settings = EmulatorSettings(state_dir=str(tmp_path))
    durability = Durability(ministack, FirehoseBuffers(lambda *_: None), SaveLog(), journal, settings)
    return durability, ministack, disk


def durability_report(app):
    status, _headers, body = call(app, method="GET", path=DURABILITY_PATH)
    assert status == 200
    return json.loads(body)


@pytest.mark.parametrize(
    ("method", "path", "headers", "form_action", "kind"),
    [
        ("POST", "/", {"x-amz-target": "DynamoDB_20120810.BatchWriteItem"}, None, RequestKind.DATA),
        ("POST", "/", {"x-amz-target": "AmazonSQS.ReceiveMessage"}, None, RequestKind.DATA),
        ("POST", "/", {"x-amz-target": "DynamoDBStreams_20120810.GetRecords"}, None, RequestKind.READ),
        ("POST", "/", {"x-amz-target": "DynamoDB_20120810.Scan"}, None, RequestKind.READ),
        ("POST", "/", {"x-amz-target": "DynamoDB_20120810.CreateTable"}, None, RequestKind.CONTROL),
        ("POST", "/", {"x-amz-target": "Firehose_20150804.PutRecordBatch"}, None, RequestKind.DATA),
        ("POST", "/", {}, "GetCallerIdentity", RequestKind.READ),
        ("POST", "/", {}, "CreateRole", RequestKind.CONTROL),
        ("POST", "/2015-03-31/functions/f/invocations", {}, None, RequestKind.DATA),
        ("POST", "/2015-03-31/event-source-mappings/", {}, None, RequestKind.CONTROL),
        ("GET", "/2015-03-31/functions/", {}, None, RequestKind.READ),
        ("PUT", "/history/2026/11/23/object", {}, None, RequestKind.DATA),
        ("PUT", "/history", {}, None, RequestKind.CONTROL),
        ("PUT", "/object", {"host": "history.s3.localhost:4566"}, None, RequestKind.DATA),
        ("POST", "/_ministack/reset", {}, None, RequestKind.CONTROL),
    ],
)
def test_requests_are_told_apart_by_what_they_can_change(method, path, headers, form_action, kind):
    assert request_kind(method, path, headers, form_action) is kind


def test_writes_get_503_before_reaching_ministack_while_the_journals_space_cannot_be_reserved(api):
    durability, ministack, disk = api
    assert call(durability, headers=SQS_SEND)[0] == 200
    disk.full = True
    status, headers, body = call(durability, headers=SQS_SEND)
    assert status == 503 and headers["x-amzn-errortype"] == "ServiceUnavailable"
    assert (
        json.loads(body)["__type"] == "ServiceUnavailable" and "No space left on device" in json.loads(body)["message"]
    )
    assert call(durability, headers=SQS_RECEIVE)[0] == 503
    assert len(ministack.reached) == 1
    assert call(durability, headers=DESCRIBE)[0] == 200
    report = durability_report(durability)
    assert report["ok"] is False and "cannot reserve" in report["error"] and report["since"] > 0

    disk.full = False
    assert call(durability, headers=SQS_SEND)[0] == 200
    assert durability_report(durability)["ok"] is True


def test_the_503_speaks_the_protocol_of_the_request(api):
    durability, _ministack, disk = api
    call(durability, headers=SQS_SEND)
    disk.full = True
    status, _headers, body = call(durability, method="PUT", path="/bucket/key", body=b"x")
    assert status == 503 and b"<Error><Code>ServiceUnavailable</Code>" in body
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    status, _headers, body = call(durability, headers=form, body=b"Action=CreateRole&RoleName=r")
    assert status == 503 and b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable" in body


def test_a_write_the_journal_could_not_take_gets_503_and_so_does_everything_until_a_restart(api):
    durability, ministack, disk = api
    disk.broken = True
    status, _headers, body = call(durability, headers=SQS_SEND)
    assert status == 503 and "Input/output error" in json.loads(body)["message"]
    disk.broken = False
    assert call(durability, headers=DESCRIBE)[0] == 503
    assert call(durability, headers=SQS_SEND)[0] == 503
    assert len(ministack.reached) == 1
    report = durability_report(durability)
    assert report["ok"] is False and "cannot write the journal" in report["error"]
    assert durability.saves.refusal is None  # set when the process stops, so nothing is saved


def test_an_s3_object_that_could_not_be_written_gets_503_until_one_is(api):
    durability, ministack, _disk = api
    ministack.s3_fails = True
    status, _headers, body = call(durability, method="PUT", path="/b/k", body=b"x")
    assert status == 503 and b"S3 object b/k not written" in body
    report = durability_report(durability)
    assert report["ok"] is False and report["error"].startswith("S3 object b/k not written")
    ministack.s3_fails = False
    assert call(durability, method="PUT", path="/b/k", body=b"x")[0] == 200
    assert durability_report(durability)["ok"] is True


def shutdown_report(durability):
    return json.loads((durability.run_dir / SHUTDOWN_REPORT).read_text())


def test_a_clean_stop_whose_saves_all_succeeded_removes_the_journal_and_says_so(api):
    durability, _ministack, _disk = api
    durability.saves.ran, durability.saves.saved = True, ["dynamodb", "sqs"]
    durability._stopped()
    assert shutdown_report(durability) == {"saved": ["dynamodb", "sqs"], "failed": {}, "journal_truncated": True}
    assert generations(durability.journal.directory) == []


def test_a_stop_with_a_failed_save_keeps_the_journal_and_names_the_failure(api):
    durability, _ministack, _disk = api
    durability.saves.ran, durability.saves.saved = True, ["dynamodb"]
    durability.saves.failed = {"sqs": "No space left on device"}
    durability._stopped()
    assert shutdown_report(durability) == {
        "saved": ["dynamodb"],
        "failed": {"sqs": "No space left on device"},
        "journal_truncated": False,
    }
    assert generations(durability.journal.directory) == [1]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs, where the machine lets us mount one (root); the journal fills it for real."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected full disk above covers the same path")
    command = ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)]
    mounted = subprocess.run(command, check=False, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_really_full_disk_gets_503_for_writes_and_they_are_taken_again_once_space_is_freed(tiny_disk):
    journal = Journal(tiny_disk / "journal", 256 * 1024, sync=False)
    journal.writer.open(1)
    try:
        durability = Durability(
            Ministack(journal),
            FirehoseBuffers(lambda *_: None),
            SaveLog(),
            journal,
            EmulatorSettings(state_dir=str(tiny_disk)),
        )
        filler = tiny_disk / "filler"
        with open(filler, "wb", buffering=0) as file, pytest.raises(OSError, match="No space left"):
            while True:
                file.write(b"\1" * 4096)
        # The space reserved at the start takes the first write; the next reserve finds none.
        assert call(durability, headers=SQS_SEND)[0] == 200
        assert call(durability, headers=SQS_SEND)[0] == 503
        assert "No space left on device" in durability_report(durability)["error"]
        filler.unlink()
        assert call(durability, headers=SQS_SEND)[0] == 200
        assert durability_report(durability)["ok"] is True
    finally:
        journal.writer.close()


def test_a_corrupt_journal_stops_the_api_process_with_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    journal = tmp_path / "embedded" / "journal"
    journal.mkdir(parents=True)
    damaged = journal / "00000001.journal"
    record = b'[["qP","arn"]]'
    damaged.write_bytes((len(record)).to_bytes(4, "little") + b"\0\0\0\0" + record + record)
    monkeypatch.setenv("STATE_DIR", str(tmp_path))
    monkeypatch.setenv("EMULATOR_PORT", str(free_port()))
    # serve() sets MiniStack's variables in os.environ; they stay in this copy.
    monkeypatch.setattr(os, "environ", {**os.environ})
    assert main(["api"]) == 1
    printed = capsys.readouterr().err.splitlines()
    assert printed == [
        f"error: {damaged}: the record at byte 0 fails its checksum and data follows it; "
        "the journal is corrupt (move the file away to start from the last snapshot alone)"
    ]


def test_a_start_that_fails_stops_the_process_instead_of_serving_without_its_state(api):
    durability, _ministack, _disk = api

    async def failing_start(scope, receive, send):
        raise RuntimeError("snapshot unreadable")

    async def receive():
        return {"type": "lifespan.startup"}

    sent = []

    async def send(message):
        sent.append(message)

    durability.app = failing_start
    asyncio.run(durability({"type": "lifespan"}, receive, send))
    assert sent == [
        {"type": "lifespan.startup.failed", "message": "the start failed: RuntimeError: snapshot unreadable"}
    ]
