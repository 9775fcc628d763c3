"""Requests DynamoDB refuses before reading or writing, as ValidationException messages (None: accepted),
worded as DynamoDB Local (AWS's build) words them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_WORD = re.compile(r"(?<![:#\w])(#?[A-Za-z_][A-Za-z0-9_]*)")
_FUNCTIONS_AND_KEYWORDS = {
    "AND", "OR", "NOT", "BETWEEN", "IN", "attribute_exists", "attribute_not_exists", "attribute_type",
    "begins_with", "contains", "size",
}  # fmt: skip


def key_condition_error(expression: str) -> str | None:
    if re.search(r"\bOR\b", expression, flags=re.IGNORECASE):
        return "Invalid operator used in KeyConditionExpression: OR"
    return None


def filter_on_key_error(expression: str, names: Mapping[str, str], key_attributes: Iterable[str]) -> str | None:
    """A Query's FilterExpression naming a key attribute at the top level of a path."""
    keys = set(key_attributes)
    for match in _WORD.finditer(re.sub(r"\.\s*#?\w+", "", expression)):
        word = match.group(1)
        if word in _FUNCTIONS_AND_KEYWORDS or word.upper() in _FUNCTIONS_AND_KEYWORDS:
            continue
        name = names.get(word, word)
        if name in keys:
            return f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {name}"
    return None


def write_request_error(request_items: Mapping[str, Any]) -> str | None:
    """A BatchWriteItem WriteRequest must hold exactly one of PutRequest and DeleteRequest."""
    for requests in request_items.values():
        for request in requests if isinstance(requests, list) else []:
            if not isinstance(request, Mapping) or len({"PutRequest", "DeleteRequest"} & request.keys()) != 1:
                return (
                    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
                    "supported datatypes"
                )
    return None


def ttl_update_error(current: Mapping[str, Any] | None, enabled: bool, attribute: str) -> str | None:
    """UpdateTimeToLive that would not change the state: enabling an enabled TTL (on any attribute), or
    disabling a disabled one."""
    status = (current or {}).get("TimeToLiveStatus", "DISABLED")
    if enabled and status == "ENABLED":
        if (current or {}).get("AttributeName") != attribute:
            return "TimeToLive is active on a different AttributeName"
        return "TimeToLive is already enabled"
    if not enabled and status != "ENABLED":
        return "TimeToLive is already disabled"
    return None


def stream_update_error(current: Mapping[str, Any] | None, requested: Mapping[str, Any]) -> str | None:
    enabled_now = bool((current or {}).get("StreamEnabled"))
    if requested.get("StreamEnabled"):
        if not requested.get("StreamViewType"):
            return "Invalid StreamViewType: Stream ViewType must not be null or empty when enabling streams."
        if enabled_now:
            return "Table already has an enabled stream"
    elif not enabled_now:
        return "Table has no stream to disable"
    return None
