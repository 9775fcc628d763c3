"""DynamoDB's typed JSON ("attribute values") to plain Python values and JSON.

Equivalent to boto3's TypeDeserializer (a unit test holds the two side by side), written
here so the pure layer stays free of boto3. Numbers become Decimal, binary becomes bytes,
sets become Python sets.

`to_json_value` then makes those values JSON-ready without losing anything:

    N  -> JSON number, exact (Decimal kept; `dumps` writes its digits)
    B  -> {"$b64": "<base64>"}
    SS -> {"$ss": [sorted strings]}
    NS -> {"$ns": [sorted numbers]}
    BS -> {"$bs": [sorted base64 strings]}

`from_json_value` reverses it. The tagged objects are the only lossy spot: a map whose only
key is one of those tags reads back as that type.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

AttributeValue = dict[str, Any]

SET_TAGS = {"$ss": "SS", "$ns": "NS", "$bs": "BS"}
BINARY_TAG = "$b64"


def to_python(value: AttributeValue) -> Any:
    """One typed attribute value, e.g. {"N": "20"}, to a Python value (Decimal("20"))."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type key, got {sorted(value)}")
    ((kind, payload),) = value.items()
    if kind == "S":
        return payload
    if kind == "N":
        return Decimal(payload)
    if kind == "B":
        return _bytes(payload)
    if kind == "BOOL":
        return bool(payload)
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: to_python(member) for name, member in payload.items()}
    if kind == "L":
        return [to_python(member) for member in payload]
    if kind == "SS":
        return set(payload)
    if kind == "NS":
        return {Decimal(number) for number in payload}
    if kind == "BS":
        return {_bytes(member) for member in payload}
    raise ValueError(f"unknown attribute value type {kind!r}")


def image_to_python(image: dict[str, AttributeValue] | None) -> dict[str, Any] | None:
    """A whole item image (Keys, NewImage, OldImage) to a dict of Python values."""
    if image is None:
        return None
    return {name: to_python(value) for name, value in image.items()}


def to_json_value(value: Any) -> Any:
    """A Python value from `to_python` to a JSON-ready value (see the module doc)."""
    if isinstance(value, dict):
        return {name: to_json_value(member) for name, member in value.items()}
    if isinstance(value, list):
        return [to_json_value(member) for member in value]
    if isinstance(value, (bytes, bytearray)):
        return {BINARY_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (set, frozenset)):
        return _tagged_set(value)
    return value


def from_json_value(value: Any) -> Any:
    """Reverse `to_json_value` (after parsing with parse_float/parse_int=Decimal)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, payload),) = value.items()
            if tag == BINARY_TAG:
                return base64.b64decode(payload)
            if tag == "$ss":
                return set(payload)
            if tag == "$ns":
                return {Decimal(number) for number in payload}
            if tag == "$bs":
                return {base64.b64decode(member) for member in payload}
        return {name: from_json_value(member) for name, member in value.items()}
    if isinstance(value, list):
        return [from_json_value(member) for member in value]
    return value


def dumps(value: Any) -> str:
    """JSON text like json.dumps' default style, but with Decimals written exactly as numbers."""
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts)


def _encode(value: Any, emit: Callable[[str], None]) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON representation")
        emit(str(value))
    elif isinstance(value, dict):
        emit("{")
        for index, (name, member) in enumerate(value.items()):
            if index:
                emit(", ")
            emit(json.dumps(str(name), ensure_ascii=False))
            emit(": ")
            _encode(member, emit)
        emit("}")
    elif isinstance(value, (list, tuple)):
        emit("[")
        for index, member in enumerate(value):
            if index:
                emit(", ")
            _encode(member, emit)
        emit("]")
    else:
        emit(json.dumps(value, ensure_ascii=False, allow_nan=False))


def _tagged_set(members: set[Any] | frozenset[Any]) -> dict[str, list[Any]]:
    sample = next(iter(members), "")
    if isinstance(sample, str):
        return {"$ss": sorted(members)}
    if isinstance(sample, (bytes, bytearray)):
        return {"$bs": sorted(base64.b64encode(bytes(m)).decode("ascii") for m in members)}
    return {"$ns": sorted(members)}


def _bytes(payload: Any) -> bytes:
    # Lambda events and the low-level JSON API carry binary as base64 text.
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    return base64.b64decode(payload)
