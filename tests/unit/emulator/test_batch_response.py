"""The partial batch response parser, one case per row of AWS's success and failure conditions
("Handling errors for an SQS event source in Lambda"; "Configuring partial batch response with
DynamoDB and Lambda")."""

import json

import pytest

from emulator.esm.batch_response import reported_failures

BATCH = ("id-1", "id-2", "id-3")


def failures(*entries):
    return {"batchItemFailures": list(entries)}


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(None, id="null response"),
        pytest.param({}, id="empty object"),
        pytest.param(failures(), id="empty batchItemFailures"),
        pytest.param({"batchItemFailures": None}, id="null batchItemFailures"),
        pytest.param([], id="empty list (AWS-recorded success)"),
        pytest.param({"statusCode": 200}, id="other keys only"),
    ],
)
def test_these_responses_are_a_complete_success(response):
    assert reported_failures(json.dumps(response).encode(), BATCH) == set()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"not json at all", id="invalid JSON"),
        pytest.param(b"", id="empty body"),
        pytest.param(b'{"batchItemFailures": [', id="truncated JSON"),
        pytest.param(b'"id-1"', id="a JSON string"),
        pytest.param(b'["id-1"]', id="a non-empty list"),
        pytest.param(json.dumps({"batchItemFailures": "id-1"}).encode(), id="batchItemFailures not a list"),
        pytest.param(json.dumps(failures({"itemIdentifier": ""})).encode(), id="empty-string itemIdentifier"),
        pytest.param(json.dumps(failures({"itemIdentifier": None})).encode(), id="null itemIdentifier"),
        pytest.param(json.dumps(failures({"itemIdentifier": 123})).encode(), id="itemIdentifier not a string"),
        pytest.param(json.dumps(failures({"itemIdentifer": "id-2"})).encode(), id="misnamed key"),
        pytest.param(json.dumps(failures({"itemIdentifier": "id-9"})).encode(), id="unknown itemIdentifier"),
        pytest.param(json.dumps(failures("id-2")).encode(), id="entry not an object"),
        pytest.param(
            json.dumps(failures({"itemIdentifier": "id-2"}, {"itemIdentifier": None})).encode(),
            id="one bad entry among good ones",
        ),
    ],
)
def test_these_responses_fail_the_whole_batch(payload):
    assert reported_failures(payload, BATCH) is None


def test_valid_identifiers_are_the_failed_records():
    payload = json.dumps(failures({"itemIdentifier": "id-3"}, {"itemIdentifier": "id-2"})).encode()
    assert reported_failures(payload, BATCH) == {"id-2", "id-3"}
