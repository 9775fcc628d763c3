import json

import pytest

from emulator.call_counter import COUNTS_PATH, FAULTS_PATH, CallCounter, operation
from tests.unit.emulator.asgi import call


def test_json_protocol_calls_are_named_by_their_target():
    assert operation("POST", "/", {"x-amz-target": "DynamoDB_20120810.BatchWriteItem"}) == "dynamodb.BatchWriteItem"
    assert (
        operation("POST", "/", {"x-amz-target": "DynamoDBStreams_20120810.GetRecords"}) == "dynamodbstreams.GetRecords"
    )
    assert operation("POST", "/", {"x-amz-target": "AmazonSQS.ReceiveMessage"}) == "sqs.ReceiveMessage"
    assert operation("POST", "/", {"x-amz-target": "Firehose_20150804.PutRecordBatch"}) == "firehose.PutRecordBatch"


def test_rest_calls_are_named_by_their_path():
    assert operation("POST", "/2015-03-31/functions/dev-ingest/invocations", {}) == "lambda.Invoke"
    assert operation("PUT", "/dev-archive/archive/t/2026/01/01/x.jsonl.gz", {}) == "s3.PutObject"
    assert operation("GET", "/dev-archive", {}) == "s3.GET"


def counter_and_stack():
    reached = []

    async def ministack(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return CallCounter(ministack), reached


def post_fault(counter, body, content_type="application/json"):
    headers = [(b"content-type", content_type.encode())] if content_type else []
    return call(counter, path=FAULTS_PATH, headers=headers, body=body)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""])
def test_a_post_a_web_page_can_send_without_preflight_is_refused_with_415(content_type):
    counter, _ = counter_and_stack()
    fault = json.dumps({"operation": "dynamodb.Scan", "count": 1}).encode()
    status, _, body = post_fault(counter, fault, content_type)
    assert status == 415
    assert json.loads(body)["__type"] == "UnsupportedMediaTypeException" and b"\n" not in body
    assert counter.faults == {}


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/x-amz-json-1.1"]
)
def test_a_json_fault_request_is_accepted(content_type):
    counter, _ = counter_and_stack()
    status, _, _ = post_fault(counter, b'{"operation": "firehose.PutRecordBatch", "count": 2}', content_type)
    assert status == 200
    assert counter.faults == {
        "firehose.PutRecordBatch": {"count": 2, "code": "ServiceUnavailableException", "status": 503}
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "SerializationException"),
        (b"", "SerializationException"),
        (b"[" * 100_000, "SerializationException"),
        (b'["firehose.PutRecordBatch"]', "ValidationException"),
        (b'{"count": 3}', "ValidationException"),
        (b'{"operation": "s3.PutObject", "count": "three"}', "ValidationException"),
        (b'{"operation": "s3.PutObject", "status": 200}', "ValidationException"),
        (b'{"operation": "s3.PutObject", "code": 7}', "ValidationException"),
    ],
)
def test_a_fault_request_that_is_not_the_json_asked_for_gets_a_one_line_400(body, code):
    counter, _ = counter_and_stack()
    status, _, answer = post_fault(counter, body)
    assert status == 400
    assert json.loads(answer)["__type"] == code and b"\n" not in answer and b"Traceback" not in answer
    assert counter.faults == {}


def test_only_the_emulator_endpoints_demand_json():
    counter, reached = counter_and_stack()
    assert call(counter, path="/_emulator/other", headers=[(b"content-type", b"text/plain")])[0] == 415
    assert call(counter, method="GET", path=COUNTS_PATH)[0] == 200
    assert call(counter, path="/", headers=[(b"content-type", b"text/plain")])[0] == 200
    assert reached == ["/"]
