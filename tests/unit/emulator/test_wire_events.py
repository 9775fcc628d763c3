"""The events built from the JSON wire form the data plane reads are, byte for byte, those the
boto3 path built (`wire_events.json`: GetRecords and ReceiveMessage answers as MiniStack gives
them in process, with every attribute type, and the events that boto3's parse of the same answers
gave before the conversions back to JSON were removed). Same keys in the same order, same types."""

import json
from pathlib import Path

import pytest

from emulator.esm.sqs_delivery import lambda_sqs_record
from emulator.esm.stream_events import lambda_stream_record

STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/wire/stream/2026-11-23T00:00:00.000"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


@pytest.fixture(scope="module")
def recorded():
    return json.loads((Path(__file__).parent / "wire_events.json").read_text())


def test_stream_events_from_the_wire_are_those_the_boto3_path_built(recorded):
    records = recorded["get_records_answer"]["Records"]
    events = [lambda_stream_record(record, STREAM, "us-east-1") for record in records]
    assert json.dumps(events) == json.dumps(recorded["boto3_path_stream_events"])


def test_the_creation_time_is_epoch_seconds_as_a_float_and_binary_stays_base64(recorded):
    records = recorded["get_records_answer"]["Records"]
    [insert, removal] = [lambda_stream_record(record, STREAM, "us-east-1") for record in records]
    assert isinstance(records[0]["dynamodb"]["ApproximateCreationDateTime"], int)
    assert insert["dynamodb"]["ApproximateCreationDateTime"] == 1795458570.0
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], float)
    assert insert["dynamodb"]["NewImage"]["b"] == {"B": "AAEC/w=="}
    assert removal["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_sqs_records_from_the_wire_are_those_the_boto3_path_built(recorded):
    messages = recorded["receive_message_answer"]["Messages"]
    records = [lambda_sqs_record(message, QUEUE, "us-east-1") for message in messages]
    assert json.dumps(records) == json.dumps(recorded["boto3_path_sqs_events"])
