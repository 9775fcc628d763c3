"""MiniStack's saves, made known: each service written or failed with its reason, in MiniStack's
file format; nothing written when saving is refused."""

import importlib
import json
from pathlib import Path

import pytest

from emulator.ministack import ttl
from emulator.ministack.registry import PatchRegistry
from emulator.ministack.saves import SaveLog, saves_known


@pytest.fixture
def saving(tmp_path, monkeypatch):
    ttl.import_dynamodb()
    persistence = importlib.import_module("ministack.core.persistence")
    app = importlib.import_module("ministack.app")
    monkeypatch.setattr(persistence, "PERSIST_STATE", True)
    monkeypatch.setattr(persistence, "STATE_DIR", str(tmp_path / "state"))
    log = SaveLog()
    registry = PatchRegistry()
    registry.apply(saves_known(log, sync=True))
    yield log, persistence, app
    registry.undo()


def unreadable():
    raise RuntimeError("lock poisoned")


def test_a_stop_records_each_service_saved_and_why_the_others_were_not(saving):
    log, persistence, app = saving
    app.save_all(
        {
            "sqs": lambda: {"queues": {"q": 1}},
            "lambda": unreadable,
            "kms": lambda: None,
            "iam": lambda: {"role": object()},
        }
    )
    assert log.ran and log.saved == ["sqs"]
    assert log.failed == {
        "lambda": "its state could not be read: lock poisoned",
        "iam": "Object of type object is not JSON serializable",
    }
    assert persistence.load_state("sqs") == {"queues": {"q": 1}}
    saved = json.loads(Path(persistence.STATE_DIR, "sqs.json").read_text())
    assert saved["__ministack_format__"] == persistence._state_format_version("sqs")
    assert persistence.load_state("kms") is None and persistence.load_state("iam") is None


def test_a_disk_that_refuses_the_file_is_recorded_with_the_systems_reason(saving, tmp_path, monkeypatch):
    log, persistence, app = saving
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setattr(persistence, "STATE_DIR", str(tmp_path / "not-a-folder"))
    app.save_all({"dynamodb": lambda: {"tables": {}}})
    assert log.saved == [] and log.failed == {"dynamodb": "File exists"}


def test_nothing_is_saved_when_saving_is_refused(saving, tmp_path):
    log, _persistence, app = saving
    log.refusal = "not saved: the journal could not be written"
    app.save_all({"sqs": lambda: {"queues": {}}, "dynamodb": lambda: {"tables": {}}})
    assert log.saved == [] and log.failed == dict.fromkeys(("sqs", "dynamodb"), log.refusal)
    assert not (tmp_path / "state").exists()


def test_ministacks_own_single_saves_go_through_the_same_record(saving):
    log, persistence, _app = saving
    persistence.save_state("rds", {"clusters": {}})
    assert log.saved == ["rds"] and persistence.load_state("rds") == {"clusters": {}}
