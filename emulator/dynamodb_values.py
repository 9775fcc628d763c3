"""DynamoDB's equality of attribute values: sets are unordered, numbers compared by value (2 = 2.0)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

SET_TYPES = ("SS", "NS", "BS")


def number_key(text: str) -> Decimal | str:
    """A number's value, for comparing and de-duplicating; the text itself when it is no number."""
    try:
        return Decimal(text).normalize()
    except (InvalidOperation, TypeError, ValueError):
        return text


def _comparable(value: Any) -> Any:
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    ((kind, member),) = value.items()
    if kind == "N":
        return (kind, number_key(member))
    if kind == "NS":
        return (kind, frozenset(number_key(text) for text in member))
    if kind in SET_TYPES:
        return (kind, frozenset(member))
    if kind == "L":
        return (kind, tuple(_comparable(element) for element in member))
    if kind == "M":
        return (kind, frozenset((name, _comparable(v)) for name, v in member.items()))
    return (kind, member)


def same_item(first: Mapping[str, Any] | None, second: Mapping[str, Any] | None) -> bool:
    """Whether two items hold the same values, as DynamoDB compares them."""
    if first is None or second is None:
        return first is second
    return first.keys() == second.keys() and all(_comparable(first[k]) == _comparable(second[k]) for k in first)
