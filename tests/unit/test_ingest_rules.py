import json
from decimal import Decimal

import pytest

from handlers.core.ingest_rules import (
    REJECTION_CODES,
    IngestRules,
    RejectedMessage,
    created_at_milliseconds,
    item_size,
    message_items,
)
from simulator.malformed import CATALOGUE
from tests.unit.events import b64_json

RULES = IngestRules()
DAY = 86_400


def items_of(message, rules=RULES, encode=b64_json):
    return message_items(encode(message), rules).items


def test_base64_and_plain_json_bodies_give_the_same_items():
    message = {"things_name": "dev-0001", "timestamp": 1700000000, "data": {"temperature": 21.5}}
    assert items_of(message) == items_of(message, encode=json.dumps)


def test_things_name_gives_device_and_sensor_ids():
    (item,) = items_of({"things_name": "dev-0001", "timestamp": 1700000000, "data": {"temperature": 21.5}})
    assert item["deviceID"] == "dev-0001"
    assert item["sensorID"] == "dev-0001-sen"


def test_topic_first_segment_is_the_device_id():
    (item,) = items_of({"topic": "dev-0002/SENSOR/DAT", "timestamp": 1700000000, "data": {"humidity": 40}})
    assert item["deviceID"] == "dev-0002"


def test_data_object_is_one_reading_with_only_its_own_fields():
    (item,) = items_of({"things_name": "dev-0001", "timestamp": 1700000000, "data": {"temperature": 21.5}})
    assert item == {
        "temperature": Decimal("21.5"),
        "createdAt": Decimal(1700000000000),
        "expiredAt": 1700000000 + 31_536_000,
        "deviceID": "dev-0001",
        "sensorID": "dev-0001-sen",
    }


def test_data_list_gives_one_item_per_reading():
    items = items_of(
        {
            "things_name": "dev-0001",
            "timestamp": 1700000000,
            "data": [{"createdAt": 1700000001000, "temperature": 20}, {"createdAt": 1700000002000, "temperature": 21}],
        }
    )
    assert [item["createdAt"] for item in items] == [1700000001000, 1700000002000]
    assert [item["temperature"] for item in items] == [20, 21]


def test_list_reading_without_created_at_takes_the_top_level_timestamp():
    items = items_of({"things_name": "dev-0001", "timestamp": 1700000000, "data": [{"temperature": 20}]})
    assert items[0]["createdAt"] == 1700000000000


def test_flat_message_is_itself_the_reading_with_lower_cased_keys():
    (item,) = items_of({"Things_Name": "dev-0003", "Timestamp": 1700000000, "Temperature": 19.25})
    assert item["deviceID"] == "dev-0003"
    assert item["temperature"] == Decimal("19.25")
    assert item["createdAt"] == 1700000000000
    assert "Temperature" not in item


def test_flat_message_prefers_its_own_created_at():
    (item,) = items_of({"things_name": "dev-0003", "createdAt": 1700000005, "timestamp": 1700000000})
    assert item["createdAt"] == 1700000005000


def test_only_top_level_keys_are_lower_cased():
    (item,) = items_of({"THINGS_NAME": "dev-0001", "TIMESTAMP": 1700000000, "DATA": {"Temperature": 1}})
    assert "Temperature" in item


def test_numbers_are_decimals_never_floats():
    (item,) = items_of({"things_name": "dev-0001", "timestamp": 1700000000, "data": {"t": 0.1, "n": 3, "l": [1.5]}})
    assert item["t"] == Decimal("0.1") and isinstance(item["t"], Decimal)
    assert isinstance(item["n"], Decimal)
    assert isinstance(item["l"][0], Decimal)


@pytest.mark.parametrize(
    "timestamp, expected_ms",
    [
        (1700000000, 1700000000000),  # seconds
        (1700000000123, 1700000000123),  # milliseconds
        (999999999, 999999999000),  # 9-digit seconds (2001): the seed's len()==10 test missed it
        (99999999999, 99999999999000),  # 11-digit seconds still seconds by magnitude
        (100000000000, 100000000000),  # from 1e11 on: milliseconds
        (Decimal("1700000000.5"), 1700000000500),
    ],
)
def test_seconds_and_milliseconds_are_told_apart_by_magnitude(timestamp, expected_ms):
    assert created_at_milliseconds(Decimal(timestamp)) == expected_ms


def test_expired_at_is_creation_seconds_plus_the_ttl():
    rules = IngestRules(ttl_seconds=7 * DAY)
    (item,) = items_of({"things_name": "dev-0001", "timestamp": 1700000000999}, rules)
    assert item["expiredAt"] == 1700000000 + 7 * DAY


def test_production_drops_staging_devices_and_says_which():
    result = message_items(b64_json({"things_name": "stg-dev-0001", "timestamp": 1700000000}), RULES)
    assert result.items == [] and result.filtered_client_id == "stg-dev-0001"


def test_staging_keeps_only_staging_devices():
    staging = IngestRules(staging=True)
    kept = message_items(b64_json({"things_name": "stg-dev-0001", "timestamp": 1700000000}), staging)
    dropped = message_items(b64_json({"things_name": "dev-0001", "timestamp": 1700000000}), staging)
    assert len(kept.items) == 1 and kept.filtered_client_id is None
    assert dropped.items == [] and dropped.filtered_client_id == "dev-0001"


def test_staging_filter_falls_back_to_the_topic_device_without_client_id():
    result = message_items(b64_json({"topic": "stg-dev-9/SENSOR/DAT", "timestamp": 1700000000}), RULES)
    assert result.filtered_client_id == "stg-dev-9"


def test_item_size_counts_names_and_values():
    assert item_size({"ab": "xyz", "n": Decimal("12345")}) == (2 + 3) + (1 + 4)


@pytest.mark.parametrize("malformed", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_malformed_message_is_rejected_with_its_specific_code(malformed):
    with pytest.raises(RejectedMessage) as rejected:
        message_items(malformed.body, RULES)
    assert rejected.value.code == malformed.expected_code
    assert rejected.value.detail


def test_catalogue_covers_every_rejection_the_rules_can_make():
    made_by_the_handler = {"rejected_by_dynamodb", "unprocessable_message"}
    assert {m.expected_code for m in CATALOGUE} == set(REJECTION_CODES) - made_by_the_handler
    assert len(CATALOGUE) >= 25
