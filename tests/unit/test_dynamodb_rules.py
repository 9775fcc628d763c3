"""What DynamoDB refuses before it touches an item, and how it bills reads (pure rules, no MiniStack)."""

import pytest

from emulator.dynamodb_capacity import read_units
from emulator.dynamodb_request_rules import (
    filter_on_key_error,
    key_condition_error,
    stream_update_error,
    ttl_update_error,
    write_request_error,
)
from emulator.dynamodb_update_rules import UpdateExpressionError, check_update_expression, removal_order

VALUES = {":x": {"N": "1"}, ":y": {"N": "2"}, ":s": {"S": "e"}, ":l": {"L": []}, ":ss": {"SS": ["a"]}}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("SET v = = :x", 'Syntax error; token: "=", near: "= = :x"'),
        ("SET a = size(b)", "The function is not allowed in an update expression; function: size"),
        ("SET a = :x SET b = :x", 'The "SET" section can only be used once'),
        ("SET v = :x REMOVE v", "Two document paths overlap with each other"),
        ("SET m = :x, m.c = :y", "path one: [m], path two: [m, c]"),
        ("SET a = no_such_function(:x)", "Invalid function name; function: no_such_function"),
        ("SET l = list_append(l, :s)", "operator or function: list_append, operand type: S"),
        ("ADD tags :empty", "An string set  may not be empty for key :empty"),
        ("DELETE n :x", "operator: DELETE, operand type: N"),
        ("REMOVE", 'Syntax error; token: "<EOF>", near: "REMOVE"'),
        ("v = :x", 'Syntax error; token: "v", near: "v ="'),
    ],
)
def test_expressions_dynamodb_refuses_are_refused_with_its_message(expression, message):
    with pytest.raises(
        UpdateExpressionError, match=r"^(Invalid UpdateExpression: |ExpressionAttributeValues)"
    ) as error:
        check_update_expression(expression, {}, {**VALUES, ":empty": {"SS": []}})
    assert message in str(error.value)


@pytest.mark.parametrize(
    "expression",
    [
        "REMOVE l[0], l[1]",
        "set a = if_not_exists(a, :x) + :y, #n = list_append(:l, l) add c :x delete s :ss",
        "SET m.a.b[2] = :x, m.a.c = :y",
    ],
)
def test_expressions_dynamodb_accepts_are_accepted(expression):
    check_update_expression(expression, {"#n": "name"}, VALUES)


def test_list_elements_are_removed_from_the_highest_index_down():
    paths = [("l", 0), ("l", 2), ("m", "k"), ("l", 1)]
    in_order = sorted(paths, key=removal_order, reverse=True)
    assert [path for path in in_order if path[0] == "l"] == [("l", 2), ("l", 1), ("l", 0)]


def test_key_conditions_and_query_filters():
    assert key_condition_error("pk = :d OR at = :a") == "Invalid operator used in KeyConditionExpression: OR"
    assert key_condition_error("pk = :d AND begins_with(sk, :ORx)") is None
    assert "Primary key attribute: at" in filter_on_key_error("#t > :a", {"#t": "at"}, ["pk", "at"])
    assert filter_on_key_error("m.at > :a AND size(v) > :b", {}, ["pk", "at"]) is None


def test_a_write_request_holds_exactly_one_of_put_and_delete():
    put = {"PutRequest": {"Item": {}}}
    assert write_request_error({"t": [put]}) is None
    assert write_request_error({"t": [put, {}]})
    assert write_request_error({"t": [{**put, "DeleteRequest": {"Key": {}}}]})


def test_ttl_and_stream_changes_that_change_nothing_are_refused():
    enabled = {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiredAt"}
    assert ttl_update_error(None, True, "expiredAt") is None
    assert ttl_update_error(enabled, True, "expiredAt") == "TimeToLive is already enabled"
    assert ttl_update_error(enabled, True, "other") == "TimeToLive is active on a different AttributeName"
    assert ttl_update_error(None, False, "expiredAt") == "TimeToLive is already disabled"
    assert ttl_update_error(enabled, False, "expiredAt") is None
    streaming = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert stream_update_error(streaming, streaming) == "Table already has an enabled stream"
    assert stream_update_error(None, {"StreamEnabled": True})
    assert stream_update_error(None, {"StreamEnabled": False}) == "Table has no stream to disable"
    assert stream_update_error({"StreamEnabled": False}, streaming) is None


def test_reads_round_each_item_up_to_4_kb_and_halve_for_eventual_consistency():
    assert read_units([9000], consistent=False) == 1.5
    assert read_units([9000, 10], consistent=True) == 4.0
    assert read_units([0], consistent=False) == 0.5
