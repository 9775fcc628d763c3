"""Contract of the mapping validation patch, in process: MiniStack's Lambda API refuses, on
CreateEventSourceMapping and UpdateEventSourceMapping, what AWS refuses, with AWS's error type
and text, and still creates what AWS accepts."""

import asyncio
import importlib
import json

import pytest

from emulator.ministack import mapping_validation, mappings, ttl
from emulator.ministack.registry import PatchRegistry

ACCOUNT, REGION = "000000000000", "us-east-1"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2026-01-01T00:00:00.000"
MAPPINGS_PATH = "/2015-03-31/event-source-mappings/"
WINDOW_MESSAGE = "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"


@pytest.fixture
def ministack():
    """MiniStack's Lambda and SQS with the patch applied, a function of 60 s and two queues."""
    ttl.import_dynamodb()
    lambda_svc = importlib.import_module("ministack.services.lambda_svc")
    sqs = importlib.import_module("ministack.services.sqs")
    lambda_svc.reset(), sqs.reset()
    registry = PatchRegistry()
    registry.apply(mappings.POLLER_OFF)
    registry.apply(mapping_validation.MAPPINGS_VALIDATED)
    lambda_svc._functions["ingest"] = {"config": {"FunctionName": "ingest", "Timeout": 60}}
    queues = {name: make_queue(sqs, name, visibility) for name, visibility in (("long", 360), ("short", 30))}
    yield lambda_svc, queues
    registry.undo()
    lambda_svc.reset(), sqs.reset()


def make_queue(sqs, name, visibility):
    headers = {"x-amz-target": "AmazonSQS.CreateQueue", "host": "localhost:4566"}
    body = json.dumps({"QueueName": name, "Attributes": {"VisibilityTimeout": str(visibility)}}).encode()
    status, _headers, answer = asyncio.run(sqs.handle_request("POST", "/", headers, body, {}))
    assert status == 200, answer
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def call(lambda_svc, method, path, request):
    status, _headers, body = asyncio.run(
        lambda_svc.handle_request(method, path, {"host": "localhost:4566"}, json.dumps(request).encode(), {})
    )
    return status, json.loads(body)


def create(ministack, **request):
    lambda_svc, queues = ministack
    source = queues.get(request.pop("queue", "long"), STREAM_ARN) if "EventSourceArn" not in request else None
    return call(lambda_svc, "POST", MAPPINGS_PATH, {"FunctionName": "ingest", "EventSourceArn": source, **request})


def error(answer):
    status, body = answer
    assert status == 400, body
    return body.get("__type", body.get("Type")), body["message"] if "message" in body else body["Message"]


def test_an_sqs_mapping_aws_accepts_is_created(ministack):
    status, body = create(ministack, BatchSize=20, MaximumBatchingWindowInSeconds=1)
    assert status == 202 and body["BatchSize"] == 20


def test_a_batch_over_10_without_a_batching_window_is_refused_on_create_and_on_update(ministack):
    assert error(create(ministack, BatchSize=20)) == ("InvalidParameterValueException", WINDOW_MESSAGE)
    lambda_svc, _queues = ministack
    _status, mapping = create(ministack, BatchSize=20, MaximumBatchingWindowInSeconds=1)
    answer = call(lambda_svc, "PUT", MAPPINGS_PATH + mapping["UUID"], {"MaximumBatchingWindowInSeconds": 0})
    assert error(answer) == ("InvalidParameterValueException", WINDOW_MESSAGE)
    assert lambda_svc._esms[mapping["UUID"]]["MaximumBatchingWindowInSeconds"] == 1


def test_a_queue_whose_visibility_timeout_is_under_the_function_timeout_is_refused(ministack):
    assert error(create(ministack, queue="short")) == (
        "InvalidParameterValueException",
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds",
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            {"BatchSize": 10_001},
            "Value '10001' at 'batchSize' failed to satisfy constraint: "
            "Member must have value less than or equal to 10000",
        ),
        (
            {"BatchSize": 0},
            "Value '0' at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            {"MaximumBatchingWindowInSeconds": 301},
            "Value '301' at 'maximumBatchingWindowInSeconds' failed to "
            "satisfy constraint: Member must have value less than or equal to 300",
        ),
        (
            {"FunctionResponseTypes": ["ReportItemFailures"]},
            "Value '[ReportItemFailures]' at "
            "'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must "
            "satisfy enum value set: [ReportBatchItemFailures], Member must not be null]",
        ),
    ],
)
def test_out_of_range_values_are_refused_as_aws_validates_its_model(ministack, request_, expected):
    assert error(create(ministack, **request_)) == ("ValidationException", f"1 validation error detected: {expected}")


@pytest.mark.parametrize("member", ["BisectBatchOnFunctionError", "MaximumRetryAttempts", "ParallelizationFactor"])
def test_stream_only_parameters_are_refused_on_an_sqs_mapping(ministack, member):
    value = True if member == "BisectBatchOnFunctionError" else 2
    assert error(create(ministack, **{member: value})) == (
        "InvalidParameterValueException",
        f"Unsupported {member} parameter for given event source mapping type.",
    )


def test_a_starting_position_is_refused_on_an_sqs_mapping(ministack):
    assert error(create(ministack, StartingPosition="LATEST")) == (
        "InvalidParameterValueException",
        "StartingPosition is not valid for SQS event sources.",
    )


def test_a_stream_mapping_needs_a_starting_position_dynamodb_takes(ministack):
    assert error(create(ministack, queue="stream")) == (
        "InvalidParameterValueException",
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
        "Member must not be null.",
    )
    assert error(create(ministack, queue="stream", StartingPosition="invalid")) == (
        "ValidationException",
        "1 validation error detected: Value 'invalid' at 'startingPosition' failed to satisfy constraint: "
        "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]",
    )
    assert error(create(ministack, queue="stream", StartingPosition="AT_TIMESTAMP")) == (
        "InvalidParameterValueException",
        f"Unsupported starting position for arn type: {STREAM_ARN}",
    )


@pytest.mark.parametrize(
    ("member", "value", "field", "bound"),
    [
        ("MaximumRetryAttempts", 10_001, "maximumRetryAttempts", "less than or equal to 10000"),
        ("MaximumRetryAttempts", -2, "maximumRetryAttempts", "greater than or equal to -1"),
        ("MaximumRecordAgeInSeconds", 604_801, "maximumRecordAgeInSeconds", "less than or equal to 604800"),
        ("ParallelizationFactor", 11, "parallelizationFactor", "less than or equal to 10"),
    ],
)
def test_stream_settings_out_of_range_are_refused(ministack, member, value, field, bound):
    assert error(create(ministack, queue="stream", StartingPosition="LATEST", **{member: value})) == (
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
        f"Member must have value {bound}",
    )


def test_a_record_age_under_60_seconds_other_than_minus_1_is_refused(ministack):
    kind, message = error(create(ministack, queue="stream", StartingPosition="LATEST", MaximumRecordAgeInSeconds=30))
    assert kind == "InvalidParameterValueException" and "MaximumRecordAgeInSeconds" in message
