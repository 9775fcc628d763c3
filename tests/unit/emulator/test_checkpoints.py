"""Stream checkpoints: kept per function and stream, moved from per-mapping files, unreadable
files reported with the user's choice applied, and a full disk retried without skipping."""

import errno
import json
import threading
from types import SimpleNamespace

import pytest

from emulator.esm import checkpoints as checkpoints_module
from emulator.esm.checkpoints import (
    Checkpoints,
    Consumer,
    LostCheckpoint,
    ProblemKind,
    Problems,
    StartPosition,
    UnreadableCheckpoint,
)
from emulator.esm.engine import Engine, StreamWorker

FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:dev-history"
STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/dev_DeviceData/stream/2026-01-01T00:00:00.000"
CONSUMER = Consumer(FUNCTION, STREAM)


def load(folder, mapping_id="uuid-1", report=None, stopping=None):
    return Checkpoints.load(
        folder, CONSUMER, mapping_id, report or (lambda _message: None), stopping or threading.Event()
    )


def test_a_checkpoint_file_is_named_after_the_function_and_the_stream_not_the_mapping(tmp_path):
    load(tmp_path, "uuid-1").save("shard-1", "100")
    assert [p.name for p in tmp_path.iterdir()] == [CONSUMER.file_name]
    assert CONSUMER.file_name.startswith("dev-history.")
    assert load(tmp_path, "uuid-of-a-recreated-mapping").get("shard-1") == "100"


def test_another_stream_of_the_same_function_has_checkpoints_of_its_own(tmp_path):
    load(tmp_path).save("shard-1", "100")
    other = Consumer(FUNCTION, STREAM.replace("2026-01-01", "2026-02-02"))
    assert other.file_name != CONSUMER.file_name
    assert Checkpoints.load(tmp_path, other, "uuid-2", lambda _m: None, threading.Event()).get("shard-1") is None


def test_a_checkpoint_file_named_by_mapping_uuid_is_moved_to_the_consumers_name(tmp_path):
    (tmp_path / "uuid-1.json").write_text(json.dumps({"shard-1": "42", "shard-2": "7"}))
    checkpoints = load(tmp_path, "uuid-1")
    assert (checkpoints.get("shard-1"), checkpoints.get("shard-2")) == ("42", "7")
    assert [p.name for p in tmp_path.iterdir()] == [CONSUMER.file_name]
    assert json.loads((tmp_path / CONSUMER.file_name).read_text()) == {
        "function_arn": FUNCTION,
        "event_source_arn": STREAM,
        "positions": {"shard-1": "42", "shard-2": "7"},
    }


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"function_arn": ', "is not readable JSON (Expecting value: line 1 column 18 (char 17))"),
        ('{"positions": {"shard-1": 5}}', "is not a checkpoint file (no positions by shard)"),
        (
            json.dumps({"function_arn": "other", "event_source_arn": STREAM, "positions": {}}),
            f"belongs to another consumer than {CONSUMER}",
        ),
        (
            json.dumps({"function_arn": FUNCTION, "event_source_arn": STREAM, "positions": {}, "start": "NOW"}),
            "has an unknown start 'NOW'",
        ),
    ],
)
def test_an_unreadable_checkpoint_file_is_told_in_one_line(tmp_path, content, reason):
    (tmp_path / CONSUMER.file_name).write_text(content)
    with pytest.raises(UnreadableCheckpoint) as raised:
        load(tmp_path)
    assert str(raised.value) == f"checkpoint file {tmp_path / CONSUMER.file_name} {reason}"


def test_an_unreadable_uuid_named_file_is_unreadable_too_and_left_in_place(tmp_path):
    (tmp_path / "uuid-1.json").write_text("{")
    with pytest.raises(UnreadableCheckpoint, match=r"uuid-1\.json is not readable JSON"):
        load(tmp_path, "uuid-1")
    assert (tmp_path / "uuid-1.json").read_text() == "{"


def test_after_an_unreadable_file_it_is_kept_aside_and_the_chosen_start_is_kept_instead(tmp_path):
    (tmp_path / CONSUMER.file_name).write_text("{")
    with pytest.raises(UnreadableCheckpoint) as raised:
        load(tmp_path)
    checkpoints, aside = Checkpoints.after_unreadable(
        raised.value, CONSUMER, StartPosition.LATEST, lambda _m: None, threading.Event()
    )
    assert aside.read_text() == "{"
    assert aside.name.startswith(f"{CONSUMER.file_name}.unreadable-")
    assert checkpoints.get("shard-1") is None
    assert load(tmp_path).start == StartPosition.LATEST
    checkpoints.save("shard-1", "5")
    assert (load(tmp_path).get("shard-1"), load(tmp_path).start) == ("5", StartPosition.LATEST)


@pytest.fixture
def full_disk(monkeypatch):
    """os.replace in the checkpoint module fails with ENOSPC `failures[0]` times."""
    failures = [0]
    real_replace = checkpoints_module.os.replace

    def replace(source, target):
        if failures[0] > 0:
            failures[0] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(checkpoints_module.os, "replace", replace)
    monkeypatch.setattr(checkpoints_module, "FIRST_RETRY_SECONDS", 0.001)
    return failures


def test_a_full_disk_delays_the_checkpoint_until_it_is_written_and_reports_it_meanwhile(tmp_path, full_disk):
    reports = []
    checkpoints = load(tmp_path, report=reports.append)
    full_disk[0] = 3
    checkpoints.save("shard-1", "100")
    assert load(tmp_path).get("shard-1") == "100"
    assert len(reports) == 4 and reports[-1] is None
    assert reports[0] == (
        f"cannot write checkpoint file {tmp_path / CONSUMER.file_name} (No space left on device): shard shard-1 "
        "waits, trying again every 5 s at most; nothing is skipped"
    )


def test_a_stop_during_a_full_disk_keeps_the_last_written_position(tmp_path, full_disk):
    stopping = threading.Event()
    checkpoints = load(tmp_path, stopping=stopping)
    checkpoints.save("shard-1", "100")
    full_disk[0] = 1_000_000
    stopping.set()
    checkpoints.save("shard-1", "200")
    assert load(tmp_path).get("shard-1") == "100"


def test_problems_are_listed_per_mapping_and_cleared_by_mapping_or_kind():
    problems = Problems()
    problems.report("m1", ProblemKind.CHECKPOINT_UNREADABLE, "unreadable")
    problems.report("m1", ProblemKind.CHECKPOINT_UNWRITABLE, "disk full")
    problems.report("m2", ProblemKind.DUPLICATE_CONSUMER, "duplicate")
    assert problems.lines() == ["mapping m1: unreadable", "mapping m1: disk full", "mapping m2: duplicate"]
    problems.clear(kind=ProblemKind.DUPLICATE_CONSUMER)
    problems.clear("m1", ProblemKind.CHECKPOINT_UNWRITABLE)
    assert problems.lines() == ["mapping m1: unreadable"]
    problems.clear("m1")
    assert problems.lines() == []


class Streams:
    def call(self, operation, **_request):
        assert operation == "DescribeStream"
        return {"StreamDescription": {"Shards": []}}


def stream_worker(tmp_path, choice, mapping_id="uuid-1"):
    mapping = {"UUID": mapping_id, "FunctionArn": FUNCTION, "EventSourceArn": STREAM, "StartingPosition": "LATEST"}
    clients = SimpleNamespace(streams=Streams(), region="us-east-1")
    return StreamWorker(mapping, clients, tmp_path, Problems(), choice)


@pytest.fixture
def unreadable(tmp_path):
    path = tmp_path / "checkpoints" / CONSUMER.file_name
    path.parent.mkdir()
    path.write_text("{")
    return path


def test_with_stop_an_unreadable_checkpoint_stops_that_stream_and_says_how_to_choose(tmp_path, unreadable, caplog):
    worker = stream_worker(tmp_path, LostCheckpoint.STOP)
    worker.start()
    assert worker.threads == []
    expected = (
        f"checkpoint file {unreadable} is not readable JSON (Expecting property name enclosed in double quotes: "
        f"line 1 column 2 (char 1)): {CONSUMER} is not read until you choose: restore the file, or restart with "
        "STREAM_LOST_CHECKPOINT=trim_horizon (read the stream again: duplicates downstream) or latest (new "
        "records only: the ones in between are never delivered)"
    )
    assert worker.problems.lines() == [f"mapping uuid-1: {expected}"]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", expected)]
    assert unreadable.read_text() == "{"
    worker.stop()
    assert worker.problems.lines() == []


@pytest.mark.parametrize(
    ("choice", "position"), [(LostCheckpoint.TRIM_HORIZON, "TRIM_HORIZON"), (LostCheckpoint.LATEST, "LATEST")]
)
def test_with_a_choice_an_unreadable_checkpoint_is_kept_aside_and_the_stream_read_from_there(
    tmp_path, unreadable, choice, position, caplog
):
    worker = stream_worker(tmp_path, choice)
    worker.start()
    try:
        assert worker.starting_position == position
        assert len(worker.threads) == 1
        [aside] = unreadable.parent.glob("*.unreadable-*")
        assert aside.read_text() == "{"
        [line] = worker.problems.lines()
        assert line.endswith(
            f": moved to {aside.name}; reading {CONSUMER} from {position} (STREAM_LOST_CHECKPOINT={choice})"
        )
        assert caplog.records[0].levelname == "ERROR"
    finally:
        worker.stop()
    # A restart before the first batch reads from the choice, not the mapping's StartingPosition (LATEST).
    restarted = stream_worker(tmp_path, LostCheckpoint.STOP)
    restarted.start()
    restarted.stop()
    assert restarted.starting_position == position


def test_a_consumer_without_a_checkpoint_is_logged_with_where_it_starts(tmp_path, caplog):
    worker = stream_worker(tmp_path, LostCheckpoint.STOP)
    worker.start()
    worker.stop()
    assert [r.getMessage() for r in caplog.records] == [
        f"no checkpoint for {CONSUMER} (a new consumer, or its checkpoint file "
        f"{tmp_path / 'checkpoints' / CONSUMER.file_name} was lost): reading from LATEST"
    ]


def test_a_second_mapping_of_one_function_to_one_stream_is_not_run_and_is_reported(tmp_path):
    mappings = [
        {"UUID": uuid, "FunctionArn": FUNCTION, "EventSourceArn": STREAM, "State": "Enabled"}
        for uuid in ("uuid-1", "uuid-2")
    ]
    clients = SimpleNamespace(
        lambda_=SimpleNamespace(event_source_mappings=lambda: mappings),
        streams=Streams(),
        region="us-east-1",
    )
    engine = Engine(clients, tmp_path)
    try:
        engine.refresh()
        assert list(engine.workers) == ["uuid-1"]
        assert engine.problems.lines() == [
            f"mapping uuid-2: not run: mapping uuid-1 already reads {CONSUMER} (AWS refuses such a duplicate)"
        ]
        mappings.pop(0)
        engine.refresh()
        assert list(engine.workers) == ["uuid-2"]
        assert engine.problems.lines() == []
    finally:
        engine.stop()
