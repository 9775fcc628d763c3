"""The patch registry: a patch checks its targets, is listed once applied, and undo puts the originals back."""

import hashlib
import importlib
import os

import pytest

from emulator import ministack
from emulator.__main__ import main
from emulator.lifecycle import EmulatorError, free_port
from emulator.ministack import mappings, sqs, ttl
from emulator.ministack.journal import Journal
from emulator.ministack.registry import MinistackDiffers, Patch, PatchRegistry, Target, source_sha256

COLLECT = "ministack.services.sqs._collect_msgs"
EXPECTED_ERROR_START = (
    f"MiniStack differs from 1.5.33 at {COLLECT} (patch sqs-receive-without-full-scans): its source hash is "
)


@pytest.fixture
def sqs_module():
    ttl.import_dynamodb()
    return importlib.import_module("ministack.services.sqs")


def another_collect_msgs(q, max_n, vis_timeout):
    return []


def test_every_patch_applies_to_the_pinned_ministack_and_undo_restores_every_original(tmp_path):
    registry = PatchRegistry()
    ministack.install(registry, Journal(tmp_path / "journal", 1024 * 1024, sync=False))
    names = [applied.patch.name for applied in registry.applied]
    assert names == [
        "ttl-reaper-never-starts",
        "lambda-esm-poller-off",
        "lambda-esm-validation",
        "dynamodb-stream-records-persisted",
        "lambda-invocation-end-mark",
        "lambda-raw-custom-runtime-response",
        "sqs-delete-message-batch-in-one-pass",
        "sqs-receive-without-full-scans",
        "firehose-buffered-delivery",
        "iot-mqtt-websocket-on-loopback-host",
        "iot-publish-limits",
        "iot-rule-payload-as-published",
        "iot-rule-sqs-action-as-its-role",
        "athena-no-placeholder-rows",
        "athena-queries-through-glue-tables",
        "athena-results-at-the-output-location",
        "glacier-restore-delay-setting",
        "cloudformation-resources-as-on-aws",
        "dynamodb-stream-record-size-bytes",
        "dynamodb-unchanged-write-no-stream-record",
        "dynamodb-partiql-writes-stream-records",
        "dynamodb-update-expressions-checked",
        "dynamodb-requests-refused-as-aws",
        "dynamodb-legacy-expected-value-with-operator",
        "dynamodb-reads-billed-by-size",
        "dynamodb-numbers-memoized",
        "dynamodb-stream-reads-by-orjson",
        "dynamodb-aws-wording",
        "dynamodb-compact-items-and-streams",
        "dynamodb-ttl-expiry-index",
        "persistence-saves-known",
        "s3-object-writes-known",
        "journal",
    ]
    # A target patched twice (the journal wraps other patches) is MiniStack's under its first patch.
    originals = {}
    for applied in registry.applied:
        for target, original in applied.originals.items():
            originals.setdefault(target, original)
    assert all(target.read() is not original for target, original in originals.items())
    registry.undo()
    assert registry.applied == ()
    assert all(target.read() is original for target, original in originals.items())


def test_a_patch_is_listed_once_and_cannot_be_applied_twice():
    registry = PatchRegistry()
    registry.apply(mappings.POLLER_OFF)
    try:
        with pytest.raises(ValueError, match="already applied"):
            registry.apply(mappings.POLLER_OFF)
        assert registry.describe() == [
            {
                "name": "lambda-esm-poller-off",
                "summary": mappings.POLLER_OFF.summary,
                "targets": ["ministack.services.lambda_svc._ensure_poller"],
            }
        ]
    finally:
        registry.undo()


def test_a_target_replaced_by_other_code_is_refused_in_one_line_and_nothing_is_patched(sqs_module, monkeypatch):
    monkeypatch.setattr(sqs_module, "_collect_msgs", another_collect_msgs)
    original_sweep = sqs_module._dlq_sweep
    registry = PatchRegistry()
    with pytest.raises(MinistackDiffers) as refused:
        registry.apply(sqs.RECEIVE_WITHOUT_FULL_SCANS)
    message = str(refused.value)
    assert message.startswith(EXPECTED_ERROR_START) and "\n" not in message
    assert isinstance(refused.value, EmulatorError)
    assert sqs_module._collect_msgs is another_collect_msgs and sqs_module._dlq_sweep is original_sweep
    assert registry.applied == ()


def test_a_patch_written_for_other_code_is_refused():
    target = Target("ministack.services.sqs", "_collect_msgs")
    stale = Patch("stale", "written for another version", {target: "0" * 64}, dict)
    with pytest.raises(MinistackDiffers, match=r"^MiniStack differs from 1\.5\.33 at .*_collect_msgs \(patch stale\)"):
        PatchRegistry().apply(stale)


def test_a_missing_target_is_refused():
    gone = Target("ministack.services.sqs", "_collect_messages_renamed")
    patch = Patch("renamed", "a function MiniStack renamed", {gone: "0" * 64}, dict)
    with pytest.raises(MinistackDiffers, match=r"_collect_messages_renamed .*: it is missing"):
        PatchRegistry().apply(patch)


def test_install_applies_all_patches_or_none(sqs_module, monkeypatch):
    monkeypatch.setattr(sqs_module, "_collect_msgs", another_collect_msgs)
    poller = mappings.ENSURE_POLLER.read()
    registry = PatchRegistry()
    with pytest.raises(MinistackDiffers):
        ministack.install(registry)
    assert registry.applied == ()
    assert mappings.ENSURE_POLLER.read() is poller


def test_targets_are_hashed_by_source_and_strings_by_value(sqs_module):
    assert source_sha256("abc") == hashlib.sha256(b"abc").hexdigest()
    assert source_sha256(sqs_module._collect_msgs) == sqs.RECEIVE_WITHOUT_FULL_SCANS.targets[sqs.COLLECT_MESSAGES]


def test_the_api_process_refuses_to_start_with_one_line_naming_the_patch_and_target(
    sqs_module, monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(sqs_module, "_collect_msgs", another_collect_msgs)
    # serve() sets MiniStack's variables in os.environ; they stay in this copy.
    monkeypatch.setattr(os, "environ", {**os.environ, "STATE_DIR": str(tmp_path), "EMULATOR_PORT": str(free_port())})
    assert main(["api"]) == 1
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) == 1 and printed[0].startswith("error: " + EXPECTED_ERROR_START)
