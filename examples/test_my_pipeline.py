"""Copy this file next to your own tests: `iot_stack` comes with the project (a pytest plugin),
so `.venv/bin/pytest my_tests/` runs it against the stack `make up` started, or a fresh one."""

import uuid

import pytest


@pytest.fixture
def device_id():
    # Your own device: the helpers read only what it sends, whatever else the stack receives.
    return f"example-{uuid.uuid4().hex[:8]}"


def test_a_reading_becomes_an_item_and_a_history_line(iot_stack, device_id):
    before = iot_stack.history_point()
    reading = iot_stack.send_reading(device_id, {"temperature": 21.5}, via="sqs")

    item = iot_stack.wait_for_item(reading)
    assert item["temperature"] == {"N": "21.5"}
    (line,) = iot_stack.wait_for_history(lambda line: line["keys"]["deviceID"] == device_id, since=before)
    assert line["action"] == "INSERT"


def test_a_message_that_is_not_json_is_dead_lettered_with_its_reason(iot_stack, device_id):
    truncated = f'{{"things_name": "{device_id}", "data": {{'.encode()
    iot_stack.send_payload(device_id, truncated, via="sqs")

    letter = iot_stack.wait_for_dead_letter(lambda letter: device_id.encode() in letter.payload)
    assert letter.code == "not_json" and letter.reason
