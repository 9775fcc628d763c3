"""State files: checked before MiniStack reads them, leftovers of a cut save removed, backups
kept, and the API's shutdown report read."""

import errno
import json
import shutil

import pytest

from emulator import state_files

GOOD = json.dumps({"__ministack_format__": 2, "payload": {"tables": {"t": {"items": [{"id": {"S": "a"}}]}}}})


@pytest.fixture
def root(tmp_path):
    (tmp_path / "ministack").mkdir()
    return tmp_path


def write(root, name, content):
    path = root / "ministack" / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_valid_state_files_pass_the_check_wrapped_or_legacy(root):
    write(root, "dynamodb.json", GOOD)
    write(root, "sqs.json", json.dumps({"queues": {}}))
    assert state_files.first_unreadable(root) is None


def test_a_truncated_state_file_is_named_in_one_line_with_what_to_do(root):
    write(root, "dynamodb.json", GOOD[:40])
    message = state_files.first_unreadable(root)
    assert message == (
        f"state file {root}/ministack/dynamodb.json is not readable JSON (truncated at byte 40): "
        "move it away to start without it, or make clean"
    )
    assert "\n" not in message


def test_the_message_names_the_newest_backup_that_holds_the_file(root):
    write(root, "dynamodb.json", GOOD)
    state_files.back_up(root, 2, now=lambda: 0)
    write(root, "dynamodb.json", GOOD[:-1])
    assert state_files.first_unreadable(root).endswith(
        f"(truncated at byte {len(GOOD) - 1}): restore it from {root}/backup/19700101T000000Z/dynamodb.json, "
        "move it away to start without it, or make clean"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"payload": {"name": "abc', "is not readable JSON (truncated at byte 25)"),
        ('{"payload": [1, 2', "is not readable JSON (truncated at byte 17)"),
        ('{"payload": tr', "is not readable JSON (truncated at byte 14)"),
        ('{"payload": }', "is not readable JSON (Expecting value at line 1 column 13)"),
        ('{"a": 1}\n{"b": 2}', "is not readable JSON (Extra data at line 2 column 1)"),
        (b'{"a": "\xff"}', "is not readable JSON (not UTF-8 at byte 7)"),
        ("", "is empty"),
        ("  \n", "is empty"),
        ("[1, 2]", "is not a JSON object"),
        ('{"__ministack_format__": 2}', "is not a MiniStack state file (a format mark without a payload)"),
    ],
)
def test_each_kind_of_damage_is_told_in_the_message(root, content, reason):
    write(root, "sqs.json", content)
    assert state_files.first_unreadable(root).startswith(f"state file {root}/ministack/sqs.json {reason}: ")


def test_a_state_file_that_cannot_be_read_is_named(root):
    (root / "ministack" / "s3.json").mkdir()
    assert state_files.first_unreadable(root).startswith(
        f"state file {root}/ministack/s3.json cannot be read (Is a directory): "
    )


def test_the_check_leaves_a_damaged_file_as_it_was(root):
    path = write(root, "dynamodb.json", GOOD[:30])
    before = path.stat()
    state_files.first_unreadable(root)
    after = path.stat()
    assert path.read_text() == GOOD[:30]
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_paths_inside_the_current_folder_are_shown_relative(root, monkeypatch):
    monkeypatch.chdir(root.parent)
    write(root, "dynamodb.json", "")
    assert state_files.first_unreadable(root).startswith(f"state file {root.name}/ministack/dynamodb.json is empty")


def test_leftovers_of_an_interrupted_save_are_removed_with_a_warning_each(root):
    write(root, "dynamodb.json", GOOD)
    write(root, "dynamodb.json.tmp", "x" * 220_000)
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "history.abc.tmp").write_text("{")
    warnings = state_files.remove_interrupted_saves(root)
    assert warnings == [
        f"removed {root}/ministack/dynamodb.json.tmp (0.2 MB), left by an interrupted save; "
        "the file beside it holds the last complete save",
        f"removed {root}/checkpoints/history.abc.tmp (1 bytes), left by an interrupted save; "
        "the file beside it holds the last complete save",
    ]
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["dynamodb.json"]


def test_a_backup_copies_the_state_files_into_a_folder_named_by_utc_time(root):
    write(root, "dynamodb.json", GOOD)
    write(root, "sqs.json", "{}")
    backup = state_files.back_up(root, 2, now=lambda: 86400)
    assert backup == root / "backup" / "19700102T000000Z"
    assert sorted(p.name for p in backup.iterdir()) == ["dynamodb.json", "sqs.json"]
    assert (backup / "dynamodb.json").read_text() == GOOD


def test_a_backup_is_a_copy_so_damage_in_place_does_not_reach_it(root):
    path = write(root, "dynamodb.json", GOOD)
    backup = state_files.back_up(root, 2, now=lambda: 0)
    with path.open("r+") as damaged:
        damaged.truncate(10)
    assert (backup / "dynamodb.json").read_text() == GOOD


def test_no_new_backup_while_the_state_files_are_unchanged(root):
    write(root, "dynamodb.json", GOOD)
    assert state_files.back_up(root, 2, now=lambda: 0)
    assert state_files.back_up(root, 2, now=lambda: 60) is None
    assert [p.name for p in state_files.backup_generations(root)] == ["19700101T000000Z"]


def test_backups_keep_the_newest_generations_only(root):
    for minute in range(4):
        write(root, "dynamodb.json", json.dumps({"minute": minute}))
        state_files.back_up(root, 2, now=lambda minute=minute: 60 * minute)
    assert [p.name for p in state_files.backup_generations(root)] == ["19700101T000200Z", "19700101T000300Z"]
    assert (root / "backup" / "19700101T000300Z" / "dynamodb.json").read_text() == '{"minute": 3}'


def test_no_backups_are_taken_with_zero_generations(root):
    write(root, "dynamodb.json", GOOD)
    assert state_files.back_up(root, 0) is None
    assert not (root / "backup").exists()


def test_a_backup_cut_short_by_a_full_disk_leaves_no_partial_folder(root, monkeypatch):
    write(root, "dynamodb.json", GOOD)

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copy2", full)
    with pytest.raises(OSError, match="No space left"):
        state_files.back_up(root, 2)
    assert list((root / "backup").iterdir()) == []


def test_a_partial_backup_is_never_offered_for_a_restore(root):
    write(root, "dynamodb.json", "")
    (root / "backup" / f"{state_files.BACKUP_PARTIAL_PREFIX}19700101T000000Z").mkdir(parents=True)
    (root / "backup" / f"{state_files.BACKUP_PARTIAL_PREFIX}19700101T000000Z" / "dynamodb.json").write_text("{}")
    assert "restore" not in state_files.first_unreadable(root)


def report(root, content):
    path = state_files.shutdown_report_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))


def test_a_shutdown_report_is_read():
    parsed = state_files.ShutdownReport.parse(
        '{"saved": ["dynamodb", "sqs"], "failed": {"s3": "Permission denied"}, "journal_truncated": true}'
    )
    assert parsed == state_files.ShutdownReport(("dynamodb", "sqs"), {"s3": "Permission denied"}, True)


@pytest.mark.parametrize(
    "content",
    [
        "{",
        "[]",
        '{"saved": [], "failed": {}}',
        '{"saved": "dynamodb", "failed": {}, "journal_truncated": false}',
        '{"saved": [], "failed": ["sqs"], "journal_truncated": false}',
        '{"saved": [], "failed": {"sqs": 28}, "journal_truncated": false}',
        '{"saved": [], "failed": {}, "journal_truncated": "no"}',
        '{"saved": [], "failed": {}, "journal_truncated": false, "extra": 1}',
    ],
)
def test_a_malformed_shutdown_report_is_refused(content):
    with pytest.raises(ValueError):
        state_files.ShutdownReport.parse(content)


def test_a_failed_save_is_an_error_naming_the_services_and_their_errors(root):
    report(
        root,
        {
            "saved": ["dynamodb"],
            "failed": {"sqs": "No space left on device", "lambda": "Read-only file system"},
            "journal_truncated": False,
        },
    )
    assert state_files.save_outcome(root) == (
        "the api process could not save lambda (Read-only file system), sqs (No space left on device) when it "
        f"stopped: those state files were left as they were before; see {root}/logs/api.log",
        None,
    )


def test_a_complete_save_is_neither_error_nor_warning(root):
    report(root, {"saved": ["dynamodb", "sqs"], "failed": {}, "journal_truncated": True})
    assert state_files.save_outcome(root) == (None, None)


def test_a_missing_shutdown_report_is_a_warning_that_the_save_is_unknown(root):
    assert state_files.save_outcome(root) == (
        None,
        f"the api process left no shutdown report ({root}/run/api.shutdown.json): "
        "whether the state was saved is unknown",
    )


def test_an_unreadable_shutdown_report_is_a_warning_that_the_save_is_unknown(root):
    report(root, '{"saved": [')
    error, warning = state_files.save_outcome(root)
    assert error is None
    assert warning.startswith(f"the shutdown report {root}/run/api.shutdown.json cannot be read (")
    assert warning.endswith("): whether the state was saved is unknown")
