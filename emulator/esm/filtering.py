"""Lambda's event filtering (FilterCriteria): does a record match one of the patterns?

Patterns follow the documented syntax: nested objects, and at the leaves a list of conditions of
which one must match (literal values, null, "", prefix, suffix, equals-ignore-case,
anything-but, numeric, exists). Filters are OR'ed; fields within a pattern are AND'ed.
For SQS, a JSON body is matched as an object, any other body as a plain string.
"""

from __future__ import annotations

import contextlib
import json
import operator
from collections.abc import Mapping
from typing import Any

_MISSING = object()
_NUMERIC = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">": operator.gt, ">=": operator.ge}


class FilterPatternError(ValueError):
    """A FilterCriteria pattern that Lambda would also reject."""


def parse_filter_criteria(criteria: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    patterns = []
    for entry in (criteria or {}).get("Filters", []):
        try:
            pattern = json.loads(entry["Pattern"])
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise FilterPatternError(f"invalid filter pattern {entry!r}: {error}") from None
        if not isinstance(pattern, dict):
            raise FilterPatternError(f"a filter pattern must be a JSON object: {entry['Pattern']}")
        patterns.append(pattern)
    return patterns


def record_matches(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """No patterns means no filtering. SQS bodies are parsed as JSON when they are JSON."""
    if not patterns:
        return True
    if "body" in record and isinstance(record["body"], str):
        with contextlib.suppress(json.JSONDecodeError):
            record = {**record, "body": json.loads(record["body"])}
    return any(_matches(pattern, record) for pattern in patterns)


def _matches(pattern: dict[str, Any], value: Any) -> bool:
    for key, condition in pattern.items():
        field = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if isinstance(condition, dict):
            if field is _MISSING or not _matches(condition, field):
                return False
        elif isinstance(condition, list):
            if not any(_condition_holds(rule, field) for rule in condition):
                return False
        else:
            raise FilterPatternError(f"the value of {key!r} must be an object or a list of conditions")
    return True


def _condition_holds(rule: Any, field: Any) -> bool:
    if isinstance(rule, dict) and "exists" in rule:
        return (field is not _MISSING) == bool(rule["exists"])
    if field is _MISSING:
        return False
    candidates = field if isinstance(field, list) else [field]
    return any(_value_matches(rule, candidate) for candidate in candidates)


def _value_matches(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        if rule is None or isinstance(rule, bool) or isinstance(value, bool):
            return rule is value
        return bool(rule == value)
    ((kind, argument),) = rule.items()
    if kind == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if kind == "suffix":
        return isinstance(value, str) and value.endswith(argument)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(argument).lower()
    if kind == "anything-but":
        excluded = argument if isinstance(argument, list) else [argument]
        if len(excluded) == 1 and isinstance(excluded[0], dict):
            return not _value_matches(excluded[0], value)
        return not any(_value_matches(item, value) for item in excluded)
    if kind == "numeric":
        number = _number(value)
        if number is None:
            return False
        comparisons = list(zip(argument[::2], argument[1::2], strict=False))
        if len(argument) % 2 or not comparisons or any(op not in _NUMERIC for op, _ in comparisons):
            raise FilterPatternError(f"invalid numeric condition {argument!r}")
        return all(_NUMERIC[op](number, float(bound)) for op, bound in comparisons)
    raise FilterPatternError(f"unsupported filter condition {kind!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        # DynamoDB carries numbers as strings ({"N": "42"}); Lambda compares them as numbers.
        try:
            return float(value)
        except ValueError:
            return None
    return None
