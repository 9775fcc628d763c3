"""Checkpoints and state across restarts, on a backend of its own (stopping it must not disturb
the other tests): none repeated after a clean stop, none skipped after the data plane is killed."""

import json
import signal

import pytest

from emulator.lifecycle import free_port, start, stop
from emulator.settings import EmulatorSettings
from iot_pipeline_testing import IotStack, wait_for
from tests.integration.helpers import end_process
from tests.integration.test_event_source_mappings import create_recorder, create_streamed_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_backend(tmp_path_factory):
    settings = EmulatorSettings(
        port=free_port(), state_dir=str(tmp_path_factory.mktemp("restart") / "embedded"), ttl_sweep_seconds=0.5
    )
    start(settings, progress=lambda _line: None)
    yield settings
    stop(settings, progress=lambda _line: None)


def records_seen(stack, url):
    return [r["dynamodb"]["Keys"]["id"]["S"] for m in stack.drain(url) for r in json.loads(m["Body"])["Records"]]


def collect(stack, url, expected, message):
    seen = []
    wait_for(lambda: seen.extend(records_seen(stack, url)) or len(seen) >= expected, timeout=40, message=message)
    return seen


def test_checkpoints_survive_a_clean_stop_and_a_killed_data_plane(own_backend):
    stack = IotStack(outputs={}, endpoint=own_backend.endpoint)
    sqs, dynamodb, lambda_ = stack.client("sqs"), stack.client("dynamodb"), stack.client("lambda")
    seen_url = sqs.create_queue(QueueName="restart-seen")["QueueUrl"]
    stream_arn = create_streamed_table(dynamodb, "restart")
    create_recorder(lambda_, "restart-recorder", "recorder.stream_handler", seen_url)
    lambda_.create_event_source_mapping(
        FunctionName="restart-recorder", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON", BatchSize=5
    )

    def write(first, count):
        for n in range(first, first + count):
            dynamodb.put_item(TableName="restart", Item={"id": {"S": f"r{n:03d}"}})

    write(0, 20)
    before_stop = collect(stack, seen_url, 20, "the first 20 records")

    # Records the data plane has not seen when everything stops must still be in the stream after it starts.
    end_process(own_backend, signal.SIGTERM)
    write(20, 10)
    stop(own_backend, progress=lambda _line: None)
    start(own_backend, progress=lambda _line: None)
    write(30, 10)
    after_restart = collect(stack, seen_url, 20, "the 20 records written around the restart")
    assert sorted(before_stop + after_restart) == [f"r{n:03d}" for n in range(40)], (
        "none lost, none repeated after a clean stop"
    )

    end_process(own_backend, signal.SIGKILL)
    write(40, 10)
    start(own_backend, progress=lambda _line: None)
    after_crash = collect(stack, seen_url, 10, "the 10 records written while the data plane was dead")
    assert set(after_crash) >= {f"r{n:03d}" for n in range(40, 50)}, "none skipped after a crash"
    assert set(after_crash) <= {f"r{n:03d}" for n in range(35, 50)}, "at most the last batch again"
