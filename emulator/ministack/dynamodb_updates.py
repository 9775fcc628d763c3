"""UpdateItem (and a transaction's Update) as DynamoDB applies it: expressions DynamoDB refuses are
refused, `REMOVE l[0], l[1]` removes the two original elements, and number sets compare by value.

MiniStack accepts `SET v = = :x`, a clause given twice, overlapping paths, unknown functions,
list_append of a non-list and ADD of an empty set; it removes list elements one after the other
(so the second index names a shifted element) and treats `2` and `2.0` as two set members. A
transaction holding a refused expression is refused whole (ValidationException), not cancelled;
an undefined value or name is reported before unused ones, as DynamoDB does.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping
from typing import Any

from emulator.dynamodb_update_rules import (
    UpdateExpressionError,
    check_update_expression,
    removal_order,
    undefined_reference_error,
)
from emulator.ministack.registry import Originals, Patch, Target

DYNAMODB = "ministack.services.dynamodb"
APPLY_UPDATE_EXPRESSION = Target(DYNAMODB, "_apply_update_expression")
APPLY_REMOVE = Target(DYNAMODB, "_apply_remove")
TRANSACT_WRITE_ITEMS = Target(DYNAMODB, "_transact_write_items")
UPDATE_ITEM = Target(DYNAMODB, "_update_item")
SPLIT_BY_COMMA = Target(DYNAMODB, "_split_by_comma")
PARSE_PATH = Target(DYNAMODB, "_parse_path_from_tokens")
REMOVE_AT_PATH = Target(DYNAMODB, "_remove_at_path")
CANONICAL_NUMBER = Target(DYNAMODB, "_ddb_canonicalize_number")
INVALID_PATH = "The document path provided in the update expression is invalid for update"


def _canonical_number_sets(value: Any, canonical: Any) -> Any:
    """The value with every number set's members in DynamoDB's canonical form (2.0 -> 2), deduplicated."""
    if isinstance(value, Mapping):
        if set(value) == {"NS"} and isinstance(value["NS"], list):
            return {"NS": list(dict.fromkeys(canonical(text) or text for text in value["NS"]))}
        return {key: _canonical_number_sets(member, canonical) for key, member in value.items()}
    if isinstance(value, list):
        return [_canonical_number_sets(member, canonical) for member in value]
    return value


def _checked_updates(originals: Originals) -> dict[Target, Any]:
    apply_update = originals[APPLY_UPDATE_EXPRESSION]
    dynamodb = importlib.import_module(DYNAMODB)

    def apply_update_expression(item: Any, expression: str, values: Any, names: Any, updated_attrs: Any = None) -> Any:
        check_update_expression(expression or "", names or {}, values or {})
        canonical = dynamodb._ddb_canonicalize_number
        try:
            return apply_update(
                _canonical_number_sets(item, canonical),
                expression,
                _canonical_number_sets(values or {}, canonical),
                names,
                updated_attrs,
            )
        except ValueError as error:
            # DynamoDB does not name the path (MiniStack appends ": <path>")
            if str(error).startswith(INVALID_PATH):
                raise ValueError(INVALID_PATH) from None
            raise

    def apply_remove(item: Any, tokens: Any, names: Any, updated_attrs: Any) -> None:
        paths = [dynamodb._parse_path_from_tokens(part, names) for part in dynamodb._split_by_comma(tokens)]
        for path in sorted((p for p in paths if p), key=lambda p: removal_order(tuple(p)), reverse=True):
            updated_attrs.add(tuple(path))
            dynamodb._remove_at_path(item, copy.copy(path))

    def transact_write_items(data: Any) -> Any:
        # a transaction with an expression DynamoDB refuses is refused whole, not cancelled
        for action in data.get("TransactItems") or [] if isinstance(data, Mapping) else []:
            update = action.get("Update") if isinstance(action, Mapping) else None
            if isinstance(update, Mapping) and isinstance(update.get("UpdateExpression"), str):
                try:
                    check_update_expression(
                        update["UpdateExpression"],
                        update.get("ExpressionAttributeNames") or {},
                        update.get("ExpressionAttributeValues") or {},
                    )
                except UpdateExpressionError as error:
                    return dynamodb.error_response_json("ValidationException", str(error), 400)
        return originals[TRANSACT_WRITE_ITEMS](data)

    def update_item(data: Any) -> Any:
        expression = data.get("UpdateExpression") if isinstance(data, Mapping) else None
        if isinstance(expression, str):
            error = undefined_reference_error(
                expression, data.get("ExpressionAttributeNames") or {}, data.get("ExpressionAttributeValues") or {}
            )
            if error:
                return dynamodb.error_response_json("ValidationException", error, 400)
        return originals[UPDATE_ITEM](data)

    return {
        UPDATE_ITEM: update_item,
        APPLY_UPDATE_EXPRESSION: apply_update_expression,
        APPLY_REMOVE: apply_remove,
        TRANSACT_WRITE_ITEMS: transact_write_items,
    }


UPDATES_AS_DYNAMODB = Patch(
    name="dynamodb-update-expressions-checked",
    summary=(
        "Update expressions DynamoDB refuses are refused; REMOVE of several list elements removes the original "
        "positions; number sets compare members by value"
    ),
    targets={
        UPDATE_ITEM: "4ae0d444448996b69846b0ae1a195998d9bfaa9510322542324158b56fd569ef",
        TRANSACT_WRITE_ITEMS: "d931eab087546b66b8b9dc0152f42fe620848566c18b2c5418cd9d8008973344",
        APPLY_UPDATE_EXPRESSION: "ffd488974842767c6a0a40034487594549bc2f2864a0ac43393891c49531f11d",
        APPLY_REMOVE: "ba095c9fd9c468d219a79b5e54dfcef2561eac82d72893ed1b0ec109dadca88c",
    },
    relies_on={
        SPLIT_BY_COMMA: "5bbb6c2a3634629be34eabdb3b78fbc2620880c3f1f06d506373dc4c0e4b394b",
        PARSE_PATH: "2e35ac68b0973f9d077ec17f8d943fd01bd630e6af0ede3c675d40e9dcbf88a8",
        REMOVE_AT_PATH: "6b34925d081d048c9e11f8639504d6f7b4eba7b27913aa1b8c8b0e68cc29ba7c",
        CANONICAL_NUMBER: "cfa3862c4b5124a614d1e681cf8d67618397942bf27ef146481ef017d58ca309",
    },
    build=_checked_updates,
)
