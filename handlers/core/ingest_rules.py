"""An SQS message body from a device -> the DynamoDB items it stands for.

The rules of the seed design, kept:
- the body is JSON, or base64 of JSON as an IoT rule's SQS action sends it;
- numbers are Decimals; `things_name` gives `topic = <name>/SENSOR/DAT` and `client_id`;
- top-level keys are lower-cased (before `things_name` is read, so its case does not matter);
- three shapes: `data` is one reading, `data` is a list of readings, or (no `data`) the
  message itself is the reading;
- `createdAt` comes from the reading, else the top-level `timestamp`, in milliseconds;
  `expiredAt = createdAt / 1000 + TTL` in epoch seconds;
- `deviceID` is the topic's first segment and `sensorID = deviceID + "-sen"`;
- the staging filter: in `APP_ENV=Staging` only `stg` devices are kept, elsewhere they are dropped.

What is different: a message that can never be stored raises `RejectedMessage` with a code
from `REJECTION_CODES` instead of being logged and dropped, and a message is all or nothing
(one bad reading rejects the whole message, so it can be replayed from the dead-letter queue).
Seconds vs milliseconds is decided by magnitude, not by the number of digits. The staging
filter falls back to the topic's device id when a message has no `client_id`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from device_data.messages import sensor_topic
from device_data.table import DEFAULT_TTL_SECONDS, HASH_KEY, RANGE_KEY, TTL_ATTRIBUTE

# Below this a timestamp is seconds (1e11 s is the year 5138); from it, milliseconds.
MILLISECONDS_FROM = Decimal(10) ** 11
# From here a "millisecond" timestamp is past the year 5138: microseconds sent by mistake.
MILLISECONDS_BELOW = Decimal(10) ** 14
MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
# DynamoDB stores at most 32 levels of nesting; twice that leaves room for the message's own
# wrapping and stays far below the depth at which Python's parser runs out of stack.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")

# The two codes the handler gives: the rules themselves never raise them.
REJECTED_BY_DYNAMODB = "rejected_by_dynamodb"
UNPROCESSABLE_MESSAGE = "unprocessable_message"

REJECTION_CODES = {
    "empty_body": "the message body is empty",
    "not_base64": "the body is neither JSON nor base64",
    "not_utf8": "the base64 body does not decode to UTF-8 text",
    "not_json": "the body is not valid JSON",
    "too_deeply_nested": f"the JSON nests deeper than {MAX_JSON_DEPTH} levels",
    "non_finite_number": "the JSON holds NaN or Infinity, which DynamoDB cannot store",
    "not_an_object": "the message is not a JSON object",
    "conflicting_keys": "two top-level keys differ only in case",
    "bad_device_field": "things_name, topic or client_id is not a string",
    "missing_device_id": "no device id: things_name and topic are both missing or empty",
    "bad_device_id": "the device id is longer than DynamoDB allows for a partition key",
    "bad_data_type": "data is neither an object nor a list of objects",
    "empty_data": "data is an empty list",
    "bad_reading": "an element of data is not an object",
    "missing_timestamp": "a reading has neither createdAt nor a top-level timestamp",
    "bad_timestamp_type": "the timestamp is not a number",
    "bad_timestamp": "the timestamp is not a positive epoch time in seconds or milliseconds",
    "number_out_of_range": "a number is outside DynamoDB's range or precision",
    "bad_attribute_name": "an attribute name is empty",
    "item_too_large": "an item is over DynamoDB's 400 KB limit",
    REJECTED_BY_DYNAMODB: "DynamoDB refused the item as invalid",
    UNPROCESSABLE_MESSAGE: "turning the message into items failed in a way the rules did not foresee",
}


class RejectedMessage(Exception):
    """The message can never be stored; `code` is one of REJECTION_CODES."""

    def __init__(self, code: str, detail: str):
        assert code in REJECTION_CODES, code
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class IngestRules:
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    staging: bool = False


@dataclass
class MessageItems:
    """What one message turns into: its items, or the client id that the staging filter dropped."""

    items: list[dict[str, Any]] = field(default_factory=list)
    filtered_client_id: str | None = None


def message_items(body: str, rules: IngestRules) -> MessageItems:
    message = _with_things_name(_lower_keys(decode_body(body)))
    client_id = _text_field(message, "client_id")
    device_id = _text_field(message, "topic").split("/")[0]
    filter_id = client_id or device_id
    if not filter_id:
        raise RejectedMessage("missing_device_id", "things_name, topic and client_id are all missing")
    if ("stg" in filter_id) != rules.staging:
        return MessageItems(filtered_client_id=filter_id)
    if not device_id:
        raise RejectedMessage("missing_device_id", "things_name and topic are missing or empty")
    if len(device_id.encode("utf-8")) > MAX_PARTITION_KEY_BYTES:
        raise RejectedMessage("bad_device_id", f"{len(device_id.encode())} bytes")

    timestamp = message.get("timestamp")
    data = message.get("data")
    if data is None:
        readings = [(message, message.get("createdat", timestamp))]
    elif isinstance(data, dict):
        readings = [(data, _first_present(data.get("createdAt"), timestamp))]
    elif isinstance(data, list):
        if not data:
            raise RejectedMessage("empty_data", "data is []")
        for position, reading in enumerate(data):
            if not isinstance(reading, dict):
                raise RejectedMessage("bad_reading", f"data[{position}] is {_kind(reading)}")
        readings = [(reading, _first_present(reading.get("createdAt"), timestamp)) for reading in data]
    else:
        raise RejectedMessage("bad_data_type", f"data is {_kind(data)}")

    return MessageItems(items=[_item(reading, created, device_id, rules) for reading, created in readings])


def decode_body(body: str) -> Any:
    """JSON text, or base64 of JSON text, to Python with every number a Decimal."""
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        raise RejectedMessage("empty_body", "the body is empty")
    if text[0] not in '{["':
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise RejectedMessage("not_base64", f"starts with {text[:20]!r}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RejectedMessage("not_utf8", str(error)) from None
    _check_depth(text)
    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise RejectedMessage("not_json", str(error)) from None


def _check_depth(text: str) -> None:
    """Refuse nesting past MAX_JSON_DEPTH before parsing: the parser would raise RecursionError."""
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise RejectedMessage("too_deeply_nested", f"more than {MAX_JSON_DEPTH} levels of arrays and objects")


def created_at_milliseconds(value: Any) -> Decimal:
    if value is None:
        raise RejectedMessage("missing_timestamp", "no createdAt and no timestamp")
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise RejectedMessage("bad_timestamp_type", f"timestamp is {_kind(value)}")
    milliseconds = value * 1000 if value < MILLISECONDS_FROM else value
    if not 0 < milliseconds < MILLISECONDS_BELOW:
        raise RejectedMessage("bad_timestamp", f"{value} is not epoch seconds or milliseconds")
    if milliseconds == milliseconds.to_integral_value():
        return milliseconds.quantize(Decimal(1))
    return milliseconds


def item_key(item: dict[str, Any]) -> tuple[str, Decimal]:
    return item[HASH_KEY], item[RANGE_KEY]


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values, by its documented sizing rules."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def _item(reading: dict[str, Any], created: Any, device_id: str, rules: IngestRules) -> dict[str, Any]:
    created_ms = created_at_milliseconds(created)
    item = dict(reading)
    item.update(
        {
            TTL_ATTRIBUTE: int(created_ms // 1000) + rules.ttl_seconds,
            RANGE_KEY: created_ms,
            HASH_KEY: device_id,
            "sensorID": device_id + "-sen",
        }
    )
    for name in item:
        if not name:
            raise RejectedMessage("bad_attribute_name", "an attribute name is the empty string")
    _check_numbers(item, path=device_id)
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise RejectedMessage("item_too_large", f"{size} bytes > {MAX_ITEM_BYTES}")
    return item


def _with_things_name(message: dict[str, Any]) -> dict[str, Any]:
    if "things_name" in message:
        name = message["things_name"]
        if not isinstance(name, str):
            raise RejectedMessage("bad_device_field", f"things_name is {_kind(name)}")
        message = {**message, "topic": sensor_topic(name), "client_id": name}
    return message


def _lower_keys(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise RejectedMessage("not_an_object", f"the message is {_kind(message)}")
    lowered: dict[str, Any] = {}
    for name, value in message.items():
        if name.lower() in lowered:
            raise RejectedMessage("conflicting_keys", f"{name!r} collides with another key")
        lowered[name.lower()] = value
    return lowered


def _text_field(message: dict[str, Any], name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RejectedMessage("bad_device_field", f"{name} is {_kind(value)}")
    return value


def _first_present(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _check_numbers(value: Any, path: str) -> None:
    if isinstance(value, Decimal):
        if value and (_significant_digits(value) > 38 or not -130 <= value.adjusted() <= 125):
            raise RejectedMessage("number_out_of_range", f"{value} at {path}")
    elif isinstance(value, dict):
        for name, member in value.items():
            _check_numbers(member, f"{path}.{name}")
    elif isinstance(value, list):
        for position, member in enumerate(value):
            _check_numbers(member, f"{path}[{position}]")


def _significant_digits(value: Decimal) -> int:
    # Not value.normalize(): it rounds to the context's 28 digits and would hide the excess.
    return max(1, len("".join(map(str, value.as_tuple().digits)).strip("0")))


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, (Decimal, int)):
        return (_significant_digits(Decimal(value)) + 1) // 2 + 1
    if isinstance(value, dict):
        return 3 + sum(len(n.encode("utf-8")) + _value_size(v) + 1 for n, v in value.items())
    if isinstance(value, list):
        return 3 + sum(_value_size(v) + 1 for v in value)
    raise TypeError(f"unexpected {type(value).__name__} in an item")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, Decimal) else "null" if value is None else type(value).__name__
    )


def _no_constants(name: str) -> Any:
    raise RejectedMessage("non_finite_number", f"{name} is not a number DynamoDB can store")
