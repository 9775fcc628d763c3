"""What DynamoDB refuses in an UpdateExpression before it touches the item, as a ValidationException message.

Checked here: each clause (SET, REMOVE, ADD, DELETE) at most once; each action's grammar (SET
`path = operand [+|- operand]`, an operand a path, a value or if_not_exists/list_append; REMOVE a
path; ADD and DELETE a path and a value); the function names; list_append's value operands being
lists; ADD and DELETE values being sets (ADD also a number); and no two paths overlapping (the same
path twice, or a path and one inside it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
SET_FUNCTIONS = ("if_not_exists", "list_append")
CONDITION_FUNCTIONS = ("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size")
PREFIX = "Invalid UpdateExpression: "
_TOKEN = re.compile(
    r"\s*(?:(?P<name>#[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*)|(?P<value>:[A-Za-z0-9_]+)"
    r"|(?P<index>\[\s*\d+\s*\])|(?P<punct>[=+\-(),.])|(?P<other>\S+))"
)
PathPart = str | int


class UpdateExpressionError(ValueError):
    """The message DynamoDB answers with (ValidationException)."""


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    position: int = 0

    def peek(self) -> tuple[str, str]:
        return self.items[self.position] if self.position < len(self.items) else ("end", "<EOF>")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def syntax_error(self) -> UpdateExpressionError:
        """DynamoDB's message: the offending token, near it the tokens before and after."""
        _kind, text = self.peek()
        near = " ".join(t for _k, t in self.items[max(self.position - 1, 0) : self.position + 2])
        return UpdateExpressionError(f'{PREFIX}Syntax error; token: "{text}", near: "{near}"')


def _tokens(expression: str) -> _Tokens:
    found = []
    for match in _TOKEN.finditer(expression):
        kind = match.lastgroup or "other"
        found.append((kind, match.group(kind)))
    return _Tokens(found)


def _path(tokens: _Tokens, names: Mapping[str, str]) -> tuple[PathPart, ...]:
    kind, text = tokens.take()
    if kind != "name" or text.upper() in CLAUSES:
        tokens.position -= 1
        raise tokens.syntax_error()
    parts: list[PathPart] = [names.get(text, text)]
    while tokens.peek()[0] == "index" or tokens.peek()[1] == ".":
        kind, text = tokens.take()
        if kind == "index":
            parts.append(int(text.strip("[] ")))
            continue
        kind, text = tokens.take()
        if kind != "name":
            tokens.position -= 1
            raise tokens.syntax_error()
        parts.append(names.get(text, text))
    return tuple(parts)


def _value_type(values: Mapping[str, Any], reference: str) -> str | None:
    value = values.get(reference)
    return next(iter(value)) if isinstance(value, Mapping) and len(value) == 1 else None


def _operand(tokens: _Tokens, names: Mapping[str, str], values: Mapping[str, Any]) -> None:
    kind, text = tokens.peek()
    if kind == "value":
        tokens.take()
        return
    if kind == "name" and tokens.items[tokens.position + 1 : tokens.position + 2] == [("punct", "(")]:
        tokens.take()
        tokens.take()
        if text in CONDITION_FUNCTIONS:
            raise UpdateExpressionError(
                f"{PREFIX}The function is not allowed in an update expression; function: {text}"
            )
        if text not in SET_FUNCTIONS:
            raise UpdateExpressionError(f"{PREFIX}Invalid function name; function: {text}")
        arguments = [tokens.peek()]
        _operand(tokens, names, values)
        while tokens.peek() == ("punct", ","):
            tokens.take()
            arguments.append(tokens.peek())
            _operand(tokens, names, values)
        if tokens.take() != ("punct", ")"):
            tokens.position -= 1
            raise tokens.syntax_error()
        if len(arguments) != 2:
            raise UpdateExpressionError(
                f"{PREFIX}Incorrect number of operands for operator or function; operator or function: {text}, "
                f"number of operands: {len(arguments)}"
            )
        if text == "list_append":
            for kind_, reference in arguments:
                operand_type = _value_type(values, reference) if kind_ == "value" else None
                if operand_type not in (None, "L"):
                    raise UpdateExpressionError(
                        f"{PREFIX}Incorrect operand type for operator or function; operator or function: "
                        f"list_append, operand type: {operand_type}"
                    )
        return
    _path(tokens, names)


def check_update_expression(
    expression: str, names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None
) -> None:
    """Raises UpdateExpressionError with DynamoDB's message when the expression is refused."""
    names, values = names or {}, values or {}
    tokens = _tokens(expression)
    seen: set[str] = set()
    paths: list[tuple[PathPart, ...]] = []
    if tokens.peek()[0] == "end":
        raise tokens.syntax_error()
    while tokens.peek()[0] != "end":
        kind, text = tokens.take()
        clause = text.upper()
        if kind != "name" or clause not in CLAUSES:
            tokens.position -= 1
            raise tokens.syntax_error()
        if clause in seen:
            raise UpdateExpressionError(
                f'{PREFIX}The "{clause}" section can only be used once in an update expression;'
            )
        seen.add(clause)
        while True:
            paths.append(_path(tokens, names))
            if clause == "SET":
                if tokens.take() != ("punct", "="):
                    tokens.position -= 1
                    raise tokens.syntax_error()
                _operand(tokens, names, values)
                if tokens.peek() in (("punct", "+"), ("punct", "-")):
                    tokens.take()
                    _operand(tokens, names, values)
            elif clause in ("ADD", "DELETE"):
                kind, reference = tokens.take()
                if kind != "value":
                    tokens.position -= 1
                    raise tokens.syntax_error()
                _check_add_or_delete_operand(clause, reference, _value_type(values, reference), values.get(reference))
            if tokens.peek() != ("punct", ","):
                break
            tokens.take()
        if tokens.peek()[0] != "end" and tokens.peek()[1].upper() not in CLAUSES:
            raise tokens.syntax_error()
    _check_overlaps(paths)


def _check_add_or_delete_operand(clause: str, reference: str, operand_type: str | None, value: Any) -> None:
    allowed = ("N", "SS", "NS", "BS") if clause == "ADD" else ("SS", "NS", "BS")
    if operand_type in ("SS", "NS", "BS") and not value[operand_type]:
        kind = {"SS": "string", "NS": "number", "BS": "binary"}[operand_type]
        raise UpdateExpressionError(
            "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: "
            f"An {kind} set  may not be empty for key {reference}"
        )
    if operand_type is not None and operand_type not in allowed:
        raise UpdateExpressionError(
            f"{PREFIX}Incorrect operand type for operator or function; operator: {clause}, "
            f"operand type: {operand_type}, typeSet: ALLOWED_FOR_ADD_OPERAND"
        )


def _shown(path: tuple[PathPart, ...]) -> str:
    return "[" + ", ".join(f"[{part}]" if isinstance(part, int) else part for part in path) + "]"


def _check_overlaps(paths: list[tuple[PathPart, ...]]) -> None:
    for index, first in enumerate(paths):
        for second in paths[index + 1 :]:
            shorter = min(len(first), len(second))
            if first[:shorter] == second[:shorter]:
                raise UpdateExpressionError(
                    f"{PREFIX}Two document paths overlap with each other; must remove or rewrite one of these paths; "
                    f"path one: {_shown(first)}, path two: {_shown(second)}"
                )


def removal_order(path: tuple[PathPart, ...]) -> tuple[tuple[int, Any], ...]:
    """Sort key removing list elements from the highest index down, so each named position is the original one."""
    return tuple((1, part) if isinstance(part, int) else (0, part) for part in path)


def undefined_reference_error(expression: str, names: Mapping[str, str], values: Mapping[str, Any]) -> str | None:
    """DynamoDB names an undefined value or name in an UpdateExpression before it looks for unused ones."""
    for kind, text in _tokens(expression).items:
        if kind == "value" and text not in values:
            return f"{PREFIX}An expression attribute value used in expression is not defined; attribute value: {text}"
        if kind == "name" and text.startswith("#") and text not in names:
            return (
                f"{PREFIX}An expression attribute name used in the document path is not defined; attribute name: {text}"
            )
    return None
