"""DynamoDB's item size, by the rules of the developer guide ("Item sizes and formats").

The size of an item is the sum of its attribute names' UTF-8 lengths and its values' sizes: a
string its UTF-8 length, a binary its raw length, a number one byte per two significant digits
(aligned on the decimal point) plus one, plus one more when negative, a boolean or null one byte,
a list or map three bytes plus one per element plus its elements (a map's names included), a set
the sum of its members. A stream record's SizeBytes is the size of its keys plus the images it
carries. Values are taken as DynamoDB's JSON carries them (binary base64) or as boto3 parses it
(binary as bytes).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from emulator.text_memo import memoized_by_text

# What a stream record's dynamodb member carries that counts in its SizeBytes.
STREAM_RECORD_PARTS = ("Keys", "NewImage", "OldImage")
LIST_OR_MAP_OVERHEAD = 3


# A stream record sizes the same numbers as the request that wrote it: remembered by their text.
@memoized_by_text
def number_size(text: str) -> int:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        return 1
    if value.is_zero() or not value.is_finite():
        return 1
    sign, digit_tuple, exponent = value.as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    # not Decimal.normalize(): it rounds to the context's 28 digits, DynamoDB keeps 38
    significant = digits.rstrip("0")
    # base-100 digits are aligned on the decimal point
    if (int(exponent) + len(digits) - len(significant)) % 2:
        significant += "0"
    digits = significant
    if len(digits) % 2:
        digits = "0" + digits
    return 1 + len(digits) // 2 + sign


def binary_size(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, TypeError, ValueError):
        return len(str(value).encode())


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one AttributeValue ({"S": ...}, {"N": ...}, ...)."""
    ((kind, member),) = value.items()
    if kind == "S":
        return len(member.encode())
    if kind == "N":
        return number_size(member)
    if kind == "B":
        return binary_size(member)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(text.encode()) for text in member)
    if kind == "NS":
        return sum(number_size(text) for text in member)
    if kind == "BS":
        return sum(binary_size(blob) for blob in member)
    if kind == "L":
        return LIST_OR_MAP_OVERHEAD + sum(1 + value_size(element) for element in member)
    if kind == "M":
        return LIST_OR_MAP_OVERHEAD + sum(1 + len(name.encode()) + value_size(v) for name, v in member.items())
    raise ValueError(f"not a DynamoDB attribute value type: {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def stream_record_size(change: Mapping[str, Any]) -> int:
    """SizeBytes of a stream record's `dynamodb` member: its keys plus the images it carries."""
    return sum(item_size(change[part]) for part in STREAM_RECORD_PARTS if change.get(part))
