"""One message the rules cannot turn into items is parked on its own: its batch never fails for it."""

import json

import pytest

from handlers import ingest
from handlers.core.ingest_rules import MAX_JSON_DEPTH, IngestRules, RejectedMessage, message_items
from tests.unit.events import b64_json, sqs_event

RULES = IngestRules()


def reading(device, timestamp=1700000000, **data):
    return {"things_name": device, "timestamp": timestamp, "data": data or {"temperature": 21.5}}


def nested(depth):
    """A reading whose `data.deep` holds arrays nested so that the whole message is `depth` deep."""
    arrays = depth - 2  # the message object and its `data` object are two levels
    return json.dumps(reading("dev-deep", deep="<deep>")).replace('"<deep>"', "[" * arrays + "]" * arrays)


def test_json_at_the_depth_limit_is_stored():
    (item,) = message_items(nested(MAX_JSON_DEPTH), RULES).items
    assert item["deviceID"] == "dev-deep"


def test_json_one_level_past_the_limit_is_rejected_before_parsing():
    with pytest.raises(RejectedMessage) as rejected:
        message_items(nested(MAX_JSON_DEPTH + 1), RULES)
    assert rejected.value.code == "too_deeply_nested"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = "[" * 500 + '\\" {' * 100
    (item,) = message_items(json.dumps(reading("dev-text", note=text)), RULES).items
    assert item["note"] == text


def test_json_nested_10000_deep_is_parked_and_its_batch_neighbours_are_stored(
    device_table, dlq, lambda_context, dlq_messages
):
    deep = nested(10_000)
    bodies = [b64_json(reading(f"dev-{n}")) for n in range(19)]
    bodies.insert(7, deep)
    response = ingest.handler(sqs_event(*bodies), lambda_context)
    assert response == {"batchItemFailures": []}
    assert len(device_table.scan()["Items"]) == 19
    (parked,) = dlq_messages()
    assert parked["source_message_id"] == "msg-7"
    assert parked["error_code"] == "too_deeply_nested"
    assert parked["body"] == deep


@pytest.mark.parametrize(
    "unforeseen", [RecursionError("maximum recursion depth exceeded"), MemoryError(), KeyError("x")]
)
def test_an_unforeseen_error_for_one_message_parks_only_that_message(
    device_table, dlq, lambda_context, dlq_messages, monkeypatch, unforeseen
):
    poison = b64_json(reading("dev-poison"))
    real_message_items = ingest.message_items

    def fails_for_the_poison(body, rules):
        if body == poison:
            raise unforeseen
        return real_message_items(body, rules)

    monkeypatch.setattr(ingest, "message_items", fails_for_the_poison)
    event = sqs_event(b64_json(reading("dev-a")), poison, b64_json(reading("dev-b")))
    assert ingest.handler(event, lambda_context) == {"batchItemFailures": []}
    assert sorted(item["deviceID"] for item in device_table.scan()["Items"]) == ["dev-a", "dev-b"]
    (parked,) = dlq_messages()
    assert parked["source_message_id"] == "msg-1"
    assert parked["error_code"] == "unprocessable_message"
    assert type(unforeseen).__name__ in parked["error_reason"]


def test_an_unforeseen_error_is_logged_with_its_traceback(device_table, dlq, lambda_context, handler_logs, monkeypatch):
    def always_fails(body, rules):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(ingest, "message_items", always_fails)
    logged = handler_logs(ingest)
    ingest.handler(sqs_event(b64_json(reading("dev-a"))), lambda_context)
    (failure,) = [line for line in logged() if line["level"] == "ERROR"]
    assert failure["message_id"] == "msg-0"
    assert "ZeroDivisionError" in failure["exception"]


def test_a_dynamodb_error_is_still_retried_not_parked(
    device_table, dlq, lambda_context, inject_faults, make_client_error, dlq_messages
):
    def always_fail(real, **kwargs):
        raise make_client_error("InternalServerError", status=500)

    inject_faults(ingest, "dynamodb", batch_write_item=always_fail)
    response = ingest.handler(sqs_event(b64_json(reading("dev-a"))), lambda_context)
    assert [failure["itemIdentifier"] for failure in response["batchItemFailures"]] == ["msg-0"]
    assert dlq_messages() == []
