import json
from decimal import Decimal

import pytest

from env_settings.reader import SettingError
from handlers import ingest
from simulator.malformed import CATALOGUE
from tests.unit.events import b64_json, sqs_event


def reading(device="dev-0001", timestamp=1700000000, **data):
    return {"things_name": device, "timestamp": timestamp, "data": data or {"temperature": 21.5}}


def failed_ids(response):
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def stored_items(table):
    return sorted(table.scan()["Items"], key=lambda item: (item["deviceID"], item["createdAt"]))


def test_good_batch_is_stored_and_nothing_is_reported(device_table, dlq, lambda_context, dlq_messages):
    event = sqs_event(*(b64_json(reading(timestamp=1700000000 + n)) for n in range(30)))
    response = ingest.handler(event, lambda_context)
    assert response == {"batchItemFailures": []}
    assert len(stored_items(device_table)) == 30
    assert dlq_messages() == []


def test_every_payload_form_lands_with_the_ingest_attributes(device_table, dlq, lambda_context):
    event = sqs_event(
        b64_json(reading("dev-a", 1700000000, temperature=20)),
        json.dumps(
            {
                "topic": "dev-b/SENSOR/DAT",
                "timestamp": 1700000000123,
                "data": [{"humidity": 40}, {"createdAt": 1700000001, "humidity": 41}],
            }
        ),
        b64_json({"things_name": "dev-c", "timestamp": 1700000000, "battery": 3.7}),
    )
    assert ingest.handler(event, lambda_context) == {"batchItemFailures": []}
    items = {(item["deviceID"], int(item["createdAt"])): item for item in stored_items(device_table)}
    assert set(items) == {
        ("dev-a", 1700000000000),
        ("dev-b", 1700000000123),
        ("dev-b", 1700000001000),
        ("dev-c", 1700000000000),
    }
    assert items[("dev-a", 1700000000000)]["temperature"] == 20
    assert items[("dev-b", 1700000001000)]["expiredAt"] == 1700000001 + 31_536_000
    assert items[("dev-c", 1700000000000)]["sensorID"] == "dev-c-sen"
    assert items[("dev-c", 1700000000000)]["battery"] == Decimal("3.7")


def test_last_write_wins_for_the_same_device_and_time(device_table, dlq, lambda_context):
    event = sqs_event(b64_json(reading(temperature=1)), b64_json(reading(temperature=2)))
    assert ingest.handler(event, lambda_context) == {"batchItemFailures": []}
    (item,) = stored_items(device_table)
    assert item["temperature"] == 2


def test_staging_devices_are_dropped_in_production_without_error(device_table, dlq, lambda_context, dlq_messages):
    event = sqs_event(b64_json(reading("stg-dev-1")), b64_json(reading("dev-1")))
    assert ingest.handler(event, lambda_context) == {"batchItemFailures": []}
    assert [item["deviceID"] for item in stored_items(device_table)] == ["dev-1"]
    assert dlq_messages() == []


def test_staging_environment_keeps_only_staging_devices(device_table, dlq, lambda_context, monkeypatch):
    monkeypatch.setenv("APP_ENV", "Staging")
    event = sqs_event(b64_json(reading("stg-dev-1")), b64_json(reading("dev-1")))
    assert ingest.handler(event, lambda_context) == {"batchItemFailures": []}
    assert [item["deviceID"] for item in stored_items(device_table)] == ["stg-dev-1"]


def test_every_malformed_message_is_parked_with_its_own_reason_and_costs_no_good_one(
    device_table, dlq, lambda_context, dlq_messages
):
    bodies, expected, good_keys = [], {}, []
    for index, malformed in enumerate(CATALOGUE):
        bodies.append(b64_json(reading("dev-good", 1700000000 + index)))
        good_keys.append(1700000000000 + index * 1000)
        bodies.append(malformed.body)
        expected[f"msg-{2 * index + 1}"] = (malformed.body, malformed.expected_code)
    event = sqs_event(*bodies)
    for start in range(0, len(bodies), 10):  # SQS batches of 10, as the mapping would deliver them
        assert ingest.handler({"Records": event["Records"][start : start + 10]}, lambda_context) == {
            "batchItemFailures": []
        }
    parked = {message["source_message_id"]: message for message in dlq_messages()}
    assert set(parked) == set(expected)
    for message_id, (body, code) in expected.items():
        assert parked[message_id]["body"] == body
        assert parked[message_id]["error_code"] == code, message_id
        assert parked[message_id]["error_reason"] and parked[message_id]["handler"] == lambda_context.function_name
    assert [int(item["createdAt"]) for item in stored_items(device_table)] == good_keys


def test_unprocessed_items_are_retried_until_written(device_table, dlq, lambda_context, inject_faults):
    def first_call_leaves_two_unprocessed(real, **kwargs):
        requests = kwargs["RequestItems"]["dev_DeviceData"]
        if len(faulty.calls["batch_write_item"]) == 1:
            real(RequestItems={"dev_DeviceData": requests[2:]})
            return {"UnprocessedItems": {"dev_DeviceData": requests[:2]}}
        return real(**kwargs)

    faulty = inject_faults(ingest, "dynamodb", batch_write_item=first_call_leaves_two_unprocessed)
    event = sqs_event(*(b64_json(reading(timestamp=1700000000 + n)) for n in range(5)))
    assert ingest.handler(event, lambda_context) == {"batchItemFailures": []}
    retried = faulty.calls["batch_write_item"][1]["RequestItems"]["dev_DeviceData"]
    assert [r["PutRequest"]["Item"]["createdAt"]["N"] for r in retried] == ["1700000000000", "1700000001000"]
    assert len(stored_items(device_table)) == 5


def test_items_that_stay_unprocessed_are_reported_and_only_those(device_table, dlq, lambda_context, inject_faults):
    def never_writes_device_b(real, **kwargs):
        requests = kwargs["RequestItems"]["dev_DeviceData"]
        stuck = [r for r in requests if r["PutRequest"]["Item"]["deviceID"]["S"] == "dev-b"]
        if len(stuck) < len(requests):
            real(RequestItems={"dev_DeviceData": [r for r in requests if r not in stuck]})
        return {"UnprocessedItems": {"dev_DeviceData": stuck} if stuck else {}}

    faulty = inject_faults(ingest, "dynamodb", batch_write_item=never_writes_device_b)
    event = sqs_event(b64_json(reading("dev-a")), b64_json(reading("dev-b")), b64_json(reading("dev-c")))
    response = ingest.handler(event, lambda_context)
    assert failed_ids(response) == ["msg-1"]
    assert len(faulty.calls["batch_write_item"]) == 6, "RETRY_ATTEMPTS defaults to 6"
    assert [item["deviceID"] for item in stored_items(device_table)] == ["dev-a", "dev-c"]


def test_throttled_batch_write_is_retried_then_succeeds(
    device_table, dlq, lambda_context, inject_faults, make_client_error
):
    def throttle_twice(real, **kwargs):
        if len(faulty.calls["batch_write_item"]) <= 2:
            raise make_client_error("ProvisionedThroughputExceededException")
        return real(**kwargs)

    faulty = inject_faults(ingest, "dynamodb", batch_write_item=throttle_twice)
    assert ingest.handler(sqs_event(b64_json(reading())), lambda_context) == {"batchItemFailures": []}
    assert len(stored_items(device_table)) == 1


def test_persistent_server_errors_report_the_whole_batch_for_retry(
    device_table, dlq, lambda_context, inject_faults, make_client_error
):
    def always_fail(real, **kwargs):
        raise make_client_error("InternalServerError", status=500)

    inject_faults(ingest, "dynamodb", batch_write_item=always_fail)
    event = sqs_event(b64_json(reading("dev-a")), "garbage!", b64_json(reading("dev-b")))
    response = ingest.handler(event, lambda_context)
    assert failed_ids(response) == ["msg-0", "msg-2"], "the garbage message is parked, not retried"


def test_item_dynamodb_refuses_goes_to_the_dlq_and_the_rest_are_stored(
    device_table, dlq, lambda_context, inject_faults, make_client_error, dlq_messages
):
    def refuse_poison(real, **kwargs):
        items = [r["PutRequest"]["Item"] for r in kwargs["RequestItems"]["dev_DeviceData"]]
        if any("poison" in item for item in items):
            raise make_client_error("ValidationException")
        return real(**kwargs)

    def put_refusing_poison(real, **kwargs):
        if "poison" in kwargs["Item"]:
            raise make_client_error("ValidationException")
        return real(**kwargs)

    inject_faults(ingest, "dynamodb", batch_write_item=refuse_poison, put_item=put_refusing_poison)
    event = sqs_event(b64_json(reading("dev-a")), b64_json(reading("dev-b", poison=1)), b64_json(reading("dev-c")))
    assert ingest.handler(event, lambda_context) == {"batchItemFailures": []}
    assert [item["deviceID"] for item in stored_items(device_table)] == ["dev-a", "dev-c"]
    (parked,) = dlq_messages()
    assert parked["error_code"] == "rejected_by_dynamodb" and parked["source_message_id"] == "msg-1"


def test_dlq_send_partial_failure_retries_only_the_failed_entry(
    device_table, dlq, lambda_context, inject_faults, dlq_messages
):
    def fail_first_entry_once(real, **kwargs):
        entries = kwargs["Entries"]
        if len(faulty.calls["send_message_batch"]) == 1:
            result = real(QueueUrl=kwargs["QueueUrl"], Entries=entries[1:])
            result["Failed"] = [{"Id": entries[0]["Id"], "SenderFault": False, "Code": "InternalError"}]
            return result
        return real(**kwargs)

    faulty = inject_faults(ingest, "sqs", send_message_batch=fail_first_entry_once)
    response = ingest.handler(sqs_event("bad one", "bad two"), lambda_context)
    assert response == {"batchItemFailures": []}
    assert [len(call["Entries"]) for call in faulty.calls["send_message_batch"]] == [2, 1]
    assert sorted(m["body"] for m in dlq_messages()) == ["bad one", "bad two"]


def test_message_that_cannot_be_parked_stays_on_the_queue(device_table, dlq, lambda_context, inject_faults):
    def sender_fault_for_all(real, **kwargs):
        return {
            "Successful": [],
            "Failed": [
                {"Id": e["Id"], "SenderFault": True, "Code": "InvalidParameterValue"} for e in kwargs["Entries"]
            ],
        }

    inject_faults(ingest, "sqs", send_message_batch=sender_fault_for_all)
    response = ingest.handler(sqs_event(b64_json(reading()), "bad one"), lambda_context)
    assert failed_ids(response) == ["msg-1"]


def test_without_a_dlq_unstorable_messages_are_left_for_sqs_redrive(device_table, lambda_context, monkeypatch):
    monkeypatch.delenv("DLQ_URL", raising=False)
    response = ingest.handler(sqs_event(b64_json(reading()), "bad one"), lambda_context)
    assert failed_ids(response) == ["msg-1"]


def test_missing_table_name_fails_the_invocation_loudly(mocked_aws, lambda_context, monkeypatch):
    monkeypatch.delenv("TABLE_NAME", raising=False)
    with pytest.raises(SettingError, match="TABLE_NAME"):
        ingest.handler(sqs_event(b64_json(reading())), lambda_context)


def test_logs_are_quiet_on_success_and_one_json_object_per_line_on_rejection(
    device_table, dlq, lambda_context, handler_logs
):
    logged = handler_logs(ingest)
    ingest.handler(sqs_event(b64_json(reading())), lambda_context)
    assert logged() == []
    ingest.handler(sqs_event("not base64!"), lambda_context)
    parked = [line for line in logged() if line["message"] == "message parked in the dead-letter queue"]
    assert parked[0]["error_code"] == "not_base64" and parked[0]["level"] == "WARNING"
    assert parked[0]["function_name"] == lambda_context.function_name
