"""Stopping waits for a process that is still saving, kills one that is stuck, and reports a
save the API could not finish. The processes here are small Python scripts in their own
process groups, as `start` runs the API and the data plane."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emulator import lifecycle
from emulator.lifecycle import EmulatorError, Paths, process_alive, stop
from emulator.settings import EmulatorSettings

# Each script says "ready" once its SIGTERM handler is in place.
SAVES_FOR_A_SECOND_AND_A_HALF = """
import signal, sys, time
def save(*_):
    end = time.monotonic() + 1.5
    with open(sys.argv[1], "w") as out:
        while time.monotonic() < end:
            out.write("x" * 1000)
            out.flush()
            time.sleep(0.01)
        out.write("done")
    sys.exit(0)
signal.signal(signal.SIGTERM, save)
print("ready", flush=True)
while True:
    time.sleep(1)
"""

QUITS = """
import time
print("ready", flush=True)
while True:
    time.sleep(1)
"""

STUCK = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
while True:
    time.sleep(1)
"""

BUSY_FOREVER = """
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
while True:
    pass
"""

REPORTS_AT_SHUTDOWN = """
import json, signal, sys, time
def shut_down(*_):
    with open(sys.argv[1], "w") as out:
        json.dump(json.loads(sys.argv[2]), out)
    sys.exit(0)
signal.signal(signal.SIGTERM, shut_down)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def spawn(script, *args):
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout.readline() == "ready\n"
    return process


@pytest.fixture
def settings(tmp_path):
    return EmulatorSettings(state_dir=str(tmp_path), stop_stall_seconds=0.5, stop_limit_seconds=30)


def terminate(process, settings, progress=None):
    try:
        return lifecycle._terminate(process.pid, "api", settings, progress or (lambda _line: None))
    finally:
        process.wait(timeout=10)


def test_a_process_still_saving_after_the_stall_limit_is_waited_for(tmp_path, settings):
    saved = tmp_path / "saved"
    process = spawn(SAVES_FOR_A_SECOND_AND_A_HALF, str(saved))
    assert terminate(process, settings) is None
    assert saved.read_text().endswith("done")


def test_progress_is_shown_every_few_seconds_while_waiting(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(lifecycle, "STOP_PROGRESS_EVERY_SECONDS", 0.3)
    lines = []
    terminate(spawn(SAVES_FOR_A_SECOND_AND_A_HALF, str(tmp_path / "saved")), settings, lines.append)
    assert len(lines) >= 2
    assert lines[0].startswith("waiting for the api process to stop: ")
    assert lines[0].endswith(" MB written")


def test_a_process_that_does_nothing_after_sigterm_is_killed_at_the_stall_limit(settings):
    process = spawn(STUCK)
    assert terminate(process, settings) == (
        "the api process did nothing for 0.5 s while stopping (STOP_STALL_SECONDS) and was killed: "
        "its state may not be saved"
    )
    assert not process_alive(process.pid)


def test_a_process_still_working_at_the_hard_limit_is_killed(tmp_path):
    settings = EmulatorSettings(state_dir=str(tmp_path), stop_stall_seconds=30, stop_limit_seconds=1)
    process = spawn(BUSY_FOREVER)
    assert terminate(process, settings) == (
        "the api process was still stopping after 1 s (STOP_LIMIT_SECONDS) and was killed: its state may not be saved"
    )


def fake_api(settings, report):
    paths = Paths(Path(settings.state_dir))
    paths.pid_file("api").parent.mkdir(parents=True, exist_ok=True)
    report_path = paths.root / "run" / "api.shutdown.json"
    process = spawn(REPORTS_AT_SHUTDOWN, str(report_path), json.dumps(report))
    paths.pid_file("api").write_text(str(process.pid))
    return process


def test_stop_fails_in_one_line_when_the_api_reports_a_failed_save(settings):
    process = fake_api(
        settings, {"saved": ["dynamodb"], "failed": {"sqs": "No space left on device"}, "journal_truncated": False}
    )
    lines = []
    with pytest.raises(EmulatorError) as raised:
        stop(settings, progress=lines.append)
    process.wait(timeout=10)
    assert str(raised.value) == (
        "the api process could not save sqs (No space left on device) when it stopped: those state files were "
        f"left as they were before; see {settings.state_dir}/logs/api.log"
    )
    assert lines == [f"stopped api (pid {process.pid})"]
    assert not process_alive(process.pid)


def test_stop_succeeds_when_the_api_reports_every_service_saved(settings):
    process = fake_api(settings, {"saved": ["dynamodb", "sqs"], "failed": {}, "journal_truncated": True})
    lines = []
    stop(settings, progress=lines.append)
    process.wait(timeout=10)
    assert lines == [f"stopped api (pid {process.pid})"]


def test_a_stale_shutdown_report_is_not_taken_for_this_stop(settings):
    report_path = Path(settings.state_dir) / "run" / "api.shutdown.json"
    report_path.parent.mkdir(parents=True)
    report_path.write_text(json.dumps({"saved": [], "failed": {"sqs": "old"}, "journal_truncated": False}))
    paths = Paths(Path(settings.state_dir))
    process = spawn(QUITS)
    paths.pid_file("api").write_text(str(process.pid))
    lines = []
    stop(settings, progress=lines.append)
    process.wait(timeout=10)
    assert lines == [
        f"warning: the api process left no shutdown report ({report_path}): whether the state was saved is unknown",
        f"stopped api (pid {process.pid})",
    ]


def test_stop_removes_the_function_workers_scratch_folder(settings):
    scratch = Path(settings.state_dir) / "tmp"
    (scratch / "ministack-lambda-fn-abc" / "code").mkdir(parents=True)
    stop(settings, progress=lambda _line: None)
    assert not scratch.exists()
