"""State files on a backend of its own (stopping it must not disturb the other tests): a damaged
one stops `python -m emulator start` in one line and is left as it was, a start backs up what it
loaded, function workers leave nothing in /tmp, and `python -m emulator stop` fails when the API
reports a failed save. A mapping created again resumes (on the shared backend)."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from emulator import state_files
from emulator.lifecycle import Paths, dataplane_status, free_port, start, stop
from emulator.settings import EmulatorSettings
from iot_pipeline_testing import IotStack, wait_for
from tests.integration.test_event_source_mappings import create_recorder, create_streamed_table, recorder_zip

pytestmark = pytest.mark.integration

FUNCTION = "state-files-worker"


def emulator_cli(settings, command):
    environment = {
        **os.environ,
        "STATE_DIR": str(Path(settings.state_dir).parent),
        "EMULATOR_PORT": str(settings.port),
    }
    return subprocess.run(
        [sys.executable, "-m", "emulator", command],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def stopped_backend(tmp_path_factory):
    """A backend that held a table and ran a function, stopped, started again and stopped."""
    settings = EmulatorSettings(port=free_port(), state_dir=str(tmp_path_factory.mktemp("state-files") / "embedded"))
    in_tmp_before = set(Path(tempfile.gettempdir()).glob(f"ministack-lambda-{FUNCTION}-*"))
    start(settings, progress=lambda _line: None)
    stack = IotStack(outputs={}, endpoint=settings.endpoint)
    dynamodb, lambda_ = stack.client("dynamodb"), stack.client("lambda")
    dynamodb.create_table(
        TableName="state-files",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(20):
        dynamodb.put_item(TableName="state-files", Item={"id": {"S": f"r{n:03d}"}})
    lambda_.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/test",
        Handler="recorder.sqs_handler",
        Code={"ZipFile": recorder_zip()},
        Environment={"Variables": {"SEEN_QUEUE_URL": "unused"}},
    )
    lambda_.invoke(FunctionName=FUNCTION, Payload=b'{"Records": []}')
    scratch = state_files.scratch_dir(Path(settings.state_dir))
    workers_while_running = list(scratch.glob(f"ministack-lambda-{FUNCTION}-*"))
    stop(settings, progress=lambda _line: None)
    start(settings, progress=lambda _line: None)
    stop(settings, progress=lambda _line: None)
    left_in_tmp = set(Path(tempfile.gettempdir()).glob(f"ministack-lambda-{FUNCTION}-*")) - in_tmp_before
    return settings, workers_while_running, left_in_tmp


def test_function_workers_extract_under_the_state_folder_and_leave_nothing_after_a_stop(stopped_backend):
    settings, workers_while_running, left_in_tmp = stopped_backend
    assert workers_while_running, "the function worker extracted its code under the state folder"
    assert not state_files.scratch_dir(Path(settings.state_dir)).exists()
    assert left_in_tmp == set()


def test_a_start_backs_up_the_state_files_it_loaded(stopped_backend):
    settings, _, _ = stopped_backend
    root = Path(settings.state_dir)
    [backup] = state_files.backup_generations(root)
    assert (backup / "dynamodb.json").read_bytes() == (root / "ministack" / "dynamodb.json").read_bytes()


def test_a_truncated_dynamodb_json_stops_emulator_start_in_one_line_and_is_left_as_it_was(stopped_backend):
    settings, _, _ = stopped_backend
    state = Path(settings.state_dir) / "ministack" / "dynamodb.json"
    with state.open("r+b") as damaged:
        damaged.truncate(state.stat().st_size // 2)
    before = (state.read_bytes(), state.stat().st_mtime_ns)

    result = emulator_cli(settings, "start")

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    [backup] = state_files.backup_generations(Path(settings.state_dir))
    assert line == (
        f"error: state file {state} is not readable JSON (truncated at byte {len(before[0])}): restore it from "
        f"{backup / 'dynamodb.json'}, move it away to start without it, or make clean"
    )
    assert (state.read_bytes(), state.stat().st_mtime_ns) == before
    assert not Paths(Path(settings.state_dir)).pid_file("api").exists()


FAKE_API = """
import json, signal, sys, time
def shut_down(*_):
    report = {"saved": ["dynamodb"], "failed": {"sqs": "No space left on device"}, "journal_truncated": False}
    with open(sys.argv[1], "w") as out:
        json.dump(report, out)
    sys.exit(0)
signal.signal(signal.SIGTERM, shut_down)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def test_emulator_stop_exits_non_zero_in_one_line_when_the_api_reports_a_failed_save(tmp_path):
    settings = EmulatorSettings(port=free_port(), state_dir=str(tmp_path / "embedded"))
    paths = Paths(Path(settings.state_dir))
    paths.pid_file("api").parent.mkdir(parents=True)
    api = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(FAKE_API), str(state_files.shutdown_report_path(paths.root))],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert api.stdout.readline() == "ready\n"
    paths.pid_file("api").write_text(str(api.pid))

    result = emulator_cli(settings, "stop")
    api.wait(timeout=10)

    assert result.returncode == 1
    assert result.stdout == f"stopped api (pid {api.pid})\n"
    assert result.stderr == (
        "error: the api process could not save sqs (No space left on device) when it stopped: those state files "
        f"were left as they were before; see {paths.log_file('api')}\n"
    )


def records_seen(stack, url):
    return [r["dynamodb"]["Keys"]["id"]["S"] for m in stack.drain(url) for r in json.loads(m["Body"])["Records"]]


def test_a_mapping_deleted_and_created_again_resumes_without_delivering_anything_twice(stack, iot_backend):
    sqs, lambda_, dynamodb = stack.client("sqs"), stack.client("lambda"), stack.client("dynamodb")
    seen_url = sqs.create_queue(QueueName="recreated-seen")["QueueUrl"]
    stream_arn = create_streamed_table(dynamodb, "recreated")
    create_recorder(lambda_, "recreated", "recorder.stream_handler", seen_url)

    def write(first, count):
        for n in range(first, first + count):
            dynamodb.put_item(TableName="recreated", Item={"id": {"S": f"r{n:03d}"}})

    def create_mapping():
        return lambda_.create_event_source_mapping(
            FunctionName="recreated", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON", BatchSize=5
        )["UUID"]

    def collect(expected, message):
        seen = []
        wait_for(lambda: seen.extend(records_seen(stack, seen_url)) or len(seen) >= expected, message=message)
        return seen

    first = create_mapping()
    write(0, 10)
    before = collect(10, "the first 10 records")
    lambda_.delete_event_source_mapping(UUID=first)
    wait_for(
        lambda: first not in dataplane_status(iot_backend).get("running_mappings", [first]),
        message="the data plane to stop the deleted mapping",
    )
    write(10, 10)
    create_mapping()
    after = collect(10, "the 10 records written while no mapping ran")
    # Records of a shard arrive in order: a replay would have delivered r000 onwards first.
    assert sorted(before) == [f"r{n:03d}" for n in range(10)]
    assert after == [f"r{n:03d}" for n in range(10, 20)]
