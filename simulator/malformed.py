"""Messages the ingest function can never store, one or more per rejection code.

Each entry is (name, body, the rejection code the ingest function must park it with). The
simulator mixes them into a run with --bad-ratio; the unit tests send every one of them.
"""

from __future__ import annotations

import base64
import json
from typing import NamedTuple

from device_data.messages import IOT_MAX_PAYLOAD_BYTES, MessageFate


class MalformedMessage(NamedTuple):
    name: str
    body: str
    expected_code: str


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def _reading(**overrides) -> dict:
    message = {"things_name": "dev-0001", "timestamp": 1700000000, "data": {"temperature": 21.5}}
    message.update(overrides)
    return message


CATALOGUE: tuple[MalformedMessage, ...] = (
    MalformedMessage("whitespace body", "   ", "empty_body"),
    MalformedMessage("plain text", "hello device", "not_base64"),
    MalformedMessage("base64 with a stray character", _b64('{"a": 1}') + "!", "not_base64"),
    MalformedMessage("base64 of latin-1 bytes", _b64(b"\xff\xfe{}"), "not_utf8"),
    MalformedMessage("base64 of plain text", _b64("not json at all"), "not_json"),
    MalformedMessage(
        "JSON nested 10,000 deep",
        json.dumps(_reading(data={"deep": "<deep>"})).replace('"<deep>"', "[" * 10_000 + "]" * 10_000),
        "too_deeply_nested",
    ),
    MalformedMessage("truncated JSON", '{"things_name": "dev-0001", "data": {', "not_json"),
    MalformedMessage("base64 of truncated JSON", _b64('{"things_name": "dev-0001"'), "not_json"),
    MalformedMessage(
        "NaN reading",
        '{"things_name": "dev-0001", "timestamp": 1700000000, "data": {"temperature": NaN}}',
        "non_finite_number",
    ),
    MalformedMessage(
        "Infinity reading",
        _b64('{"things_name": "dev-0001", "timestamp": 1700000000, "data": {"temperature": Infinity}}'),
        "non_finite_number",
    ),
    MalformedMessage("-Infinity timestamp", '{"things_name": "dev-0001", "timestamp": -Infinity}', "non_finite_number"),
    MalformedMessage("JSON list", _b64(json.dumps([_reading()])), "not_an_object"),
    MalformedMessage("JSON string", '"dev-0001"', "not_an_object"),
    MalformedMessage("keys differing in case", json.dumps({**_reading(), "Timestamp": 1700000001}), "conflicting_keys"),
    MalformedMessage("numeric things_name", json.dumps(_reading(things_name=42)), "bad_device_field"),
    MalformedMessage(
        "topic is an object", json.dumps({"topic": {"name": "dev-0001"}, "timestamp": 1700000000}), "bad_device_field"
    ),
    MalformedMessage("no device at all", json.dumps({"timestamp": 1700000000, "temperature": 20}), "missing_device_id"),
    MalformedMessage("empty things_name", json.dumps(_reading(things_name="")), "missing_device_id"),
    MalformedMessage(
        "client_id without topic", json.dumps({"client_id": "dev-0001", "timestamp": 1700000000}), "missing_device_id"
    ),
    MalformedMessage(
        "topic starting with a slash",
        json.dumps({"topic": "/SENSOR/DAT", "timestamp": 1700000000}),
        "missing_device_id",
    ),
    MalformedMessage("device id over 2048 bytes", json.dumps(_reading(things_name="d" * 3000)), "bad_device_id"),
    MalformedMessage("data is a string", json.dumps(_reading(data="21.5")), "bad_data_type"),
    MalformedMessage("data is a number", _b64(json.dumps(_reading(data=21.5))), "bad_data_type"),
    MalformedMessage("data is an empty list", json.dumps(_reading(data=[])), "empty_data"),
    MalformedMessage("data list holds a number", json.dumps(_reading(data=[{"temperature": 1}, 2])), "bad_reading"),
    MalformedMessage("data list holds null", json.dumps(_reading(data=[None])), "bad_reading"),
    MalformedMessage(
        "no timestamp anywhere",
        json.dumps({"things_name": "dev-0001", "data": {"temperature": 20}}),
        "missing_timestamp",
    ),
    MalformedMessage(
        "flat reading without timestamp",
        json.dumps({"things_name": "dev-0001", "temperature": 20}),
        "missing_timestamp",
    ),
    MalformedMessage(
        "one list reading without timestamp",
        json.dumps({"things_name": "dev-0001", "data": [{"createdAt": 1700000000}, {"temperature": 1}]}),
        "missing_timestamp",
    ),
    MalformedMessage("timestamp as text", json.dumps(_reading(timestamp="1700000000")), "bad_timestamp_type"),
    MalformedMessage("timestamp as boolean", json.dumps(_reading(timestamp=True)), "bad_timestamp_type"),
    MalformedMessage(
        "createdAt as ISO date", json.dumps(_reading(data={"createdAt": "2023-10-04T05:47:25Z"})), "bad_timestamp_type"
    ),
    MalformedMessage("negative timestamp", json.dumps(_reading(timestamp=-5)), "bad_timestamp"),
    MalformedMessage("zero timestamp", json.dumps(_reading(timestamp=0)), "bad_timestamp"),
    MalformedMessage("microsecond timestamp", json.dumps(_reading(timestamp=1700000000000000)), "bad_timestamp"),
    MalformedMessage(
        "number with 40 digits",
        '{"things_name": "dev-0001", "timestamp": 1700000000, '
        '"data": {"count": 1234567890123456789012345678901234567890}}',
        "number_out_of_range",
    ),
    MalformedMessage(
        "number too large",
        '{"things_name": "dev-0001", "timestamp": 1700000000, "data": {"energy": 1e200}}',
        "number_out_of_range",
    ),
    MalformedMessage(
        "number too small",
        '{"things_name": "dev-0001", "timestamp": 1700000000, "data": {"drift": 1e-200}}',
        "number_out_of_range",
    ),
    MalformedMessage(
        "nested number too large",
        '{"things_name": "dev-0001", "timestamp": 1700000000, "data": {"stats": {"max": [1, 9e300]}}}',
        "number_out_of_range",
    ),
    MalformedMessage("empty attribute name", json.dumps(_reading(data={"": 1})), "bad_attribute_name"),
    MalformedMessage("reading over 400 KB", json.dumps(_reading(data={"blob": "x" * 420_000})), "item_too_large"),
)


class PublishedMalformed(NamedTuple):
    """A malformed message as a device publishes it: the topic rule base64-encodes the payload
    (useBase64), and the pipeline ends it as `fate`, with `expected_code` when dead-lettered."""

    name: str
    payload: bytes
    expected_code: str
    fate: MessageFate = MessageFate.DEAD_LETTERED


def published(message: MalformedMessage) -> PublishedMalformed | None:
    """The payload a device would publish to end with the same body, or None when IoT Core would
    refuse it (over its payload limit). A body the ingest function does not decode as base64 is
    the payload itself; once the rule has base64-encoded it, the ingest function decodes it and
    finds no JSON: the codes for bodies that are empty or not base64 become `not_json`."""
    text = message.body.strip()
    decodes = bool(text) and text[0] not in '{["'
    try:
        payload = base64.b64decode(text, validate=True) if decodes else message.body.encode()
    except ValueError:
        payload = message.body.encode()
        decodes = False
    if len(payload) > IOT_MAX_PAYLOAD_BYTES:
        return None
    code = message.expected_code if decodes or message.expected_code not in _ONLY_UNENCODED else "not_json"
    return PublishedMalformed(message.name, payload, code)


_ONLY_UNENCODED = ("empty_body", "not_base64")

# What devices can publish through IoT Core that can never be stored: the catalogue as published,
# and a payload SQS cannot carry at all, which the rule's error action parks.
PUBLISHED_CATALOGUE: tuple[PublishedMalformed, ...] = (
    *(entry for entry in map(published, CATALOGUE) if entry is not None),
    PublishedMalformed("empty payload", b"", "", MessageFate.RULE_ERROR),
)
