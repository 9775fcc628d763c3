"""The pytest plugin as a user meets it: installed with the project, `iot_stack` finds the stack
`make up` runs (or refuses another's), and its helpers send on every device path."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.lifecycle import free_port
from iot_pipeline_testing.plugin import running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def made_up(stack, iot_backend):
    """The session stack seen as `make up` leaves one: its outputs in the state folder whose
    embedded backend answers on EMULATOR_PORT."""
    state_dir = Path(iot_backend.state_dir).parent
    outputs = state_dir / "outputs.json"
    outputs.write_text(json.dumps(stack.outputs))
    yield {"EMULATOR_PORT": str(iot_backend.port), "STATE_DIR": str(state_dir)}
    outputs.unlink()


def test_the_running_stack_is_found_with_the_outputs_make_outputs_prints(made_up, stack):
    found = running_stack(made_up)
    assert found.outputs == stack.outputs and found.endpoint == stack.endpoint


def test_nothing_answering_means_no_running_stack_and_another_stacks_backend_is_refused(made_up, tmp_path):
    assert running_stack({"EMULATOR_PORT": str(free_port()), "STATE_DIR": str(tmp_path)}) is None
    with pytest.raises(pytest.UsageError, match=r"iot_stack: refusing to test: .* is answered by the embedded backend"):
        running_stack({**made_up, "STATE_DIR": str(tmp_path)})


def test_a_copied_example_runs_with_only_the_installed_plugin_against_the_running_stack(made_up, tmp_path):
    shutil.copy(ROOT / "examples" / "test_my_pipeline.py", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--iot-stack=running", str(tmp_path)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **made_up},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed" in result.stdout


def test_running_with_no_stack_is_a_one_line_usage_error(tmp_path):
    (tmp_path / "test_one.py").write_text("def test_one(iot_stack):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--iot-stack=running", str(tmp_path)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "EMULATOR_PORT": str(free_port()), "STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "iot_stack: --iot-stack=running, but no stack answers: start one with `make up`" in result.stdout


@pytest.mark.parametrize("via", ["mqtt", "https", "sqs"])
def test_a_reading_sent_on_each_device_path_is_stored_and_reaches_the_history(device_stack, via):
    stack = device_stack("plugin")
    before = stack.history_point()
    reading = stack.send_reading(f"plugin-{via}", {"temperature": 19.25}, via=via)
    assert stack.wait_for_item(reading)["temperature"] == {"N": "19.25"}
    (line,) = stack.wait_for_history(lambda line: line["keys"]["deviceID"] == reading.device_id, since=before)
    assert line["action"] == "INSERT" and line["keys"]["createdAt"] == reading.created_at_ms


def test_dead_letters_are_taken_by_match_and_the_others_left_on_the_queue(device_stack):
    stack = device_stack("plugin")
    stack.send_payload("plugin-dlq-a", b'{"things_name": "plugin-dlq-a", "data": {', via="mqtt")
    stack.send_payload("plugin-dlq-b", b'{"things_name": "plugin-dlq-b", "data": {', via="mqtt")
    letter = stack.wait_for_dead_letter(lambda letter: b"plugin-dlq-a" in letter.payload)
    assert letter.code == "not_json" and letter.reason
    other = stack.wait_for_dead_letter(lambda letter: b"plugin-dlq-b" in letter.payload)
    assert other.code == "not_json"
    assert stack.dead_letters(lambda letter: b"plugin-dlq-" in letter.payload) == []
