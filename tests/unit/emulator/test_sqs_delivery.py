import json

from emulator.esm.sqs_delivery import lambda_sqs_record, records_to_delete
from emulator.esm.stream_delivery import InvokeResult

QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def records(*ids):
    return [{"messageId": message_id} for message_id in ids]


def result(payload, error=None):
    return InvokeResult("req", 200, error, json.dumps(payload).encode())


def test_an_error_deletes_nothing():
    assert records_to_delete(records("a", "b"), result(None, error="Unhandled"), True) == []


def test_reported_failures_stay_and_the_rest_are_deleted():
    response = result({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert records_to_delete(records("a", "b", "c"), response, True) == records("a", "c")


def test_without_report_batch_item_failures_the_response_is_ignored():
    response = result({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert records_to_delete(records("a", "b"), response, False) == records("a", "b")


def test_an_empty_or_unknown_identifier_fails_the_whole_batch():
    assert records_to_delete(records("a", "b"), result({"batchItemFailures": [{"itemIdentifier": ""}]}), True) == []
    assert records_to_delete(records("a", "b"), result({"batchItemFailures": [{"itemIdentifier": "zzz"}]}), True) == []


def test_an_empty_failure_list_or_null_response_is_success():
    assert records_to_delete(records("a"), result({"batchItemFailures": []}), True) == records("a")
    assert records_to_delete(records("a"), result(None), True) == records("a")


def test_lambda_record_has_the_event_shape_with_camel_case_attributes():
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": "hi",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "MessageAttributes": {"error_code": {"StringValue": "not_json", "DataType": "String"}},
        "MD5OfMessageAttributes": "d25a6aea97eb8f585bfa92d314504a92",
    }
    record = lambda_sqs_record(message, QUEUE, "eu-west-1")
    assert record["md5OfMessageAttributes"] == "d25a6aea97eb8f585bfa92d314504a92"
    assert (
        record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == QUEUE and record["awsRegion"] == "eu-west-1"
    )
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["messageAttributes"]["error_code"] == {
        "stringValue": "not_json",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }


def test_a_message_without_attributes_has_a_null_attributes_digest():
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "hi", "MD5OfBody": "x"}
    record = lambda_sqs_record(message, QUEUE, "us-east-1")
    assert record["messageAttributes"] == {} and record["md5OfMessageAttributes"] is None
    # AWS's key order (LocalStack's AWS-validated SQS event snapshots).
    assert list(record)[4:7] == ["messageAttributes", "md5OfMessageAttributes", "md5OfBody"]


def test_a_response_that_is_not_json_deletes_nothing():
    response = InvokeResult("req", 200, None, b"OK, done")
    assert records_to_delete(records("a", "b"), response, True) == []
