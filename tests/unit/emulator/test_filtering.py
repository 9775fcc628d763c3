import json

import pytest

from emulator.esm.filtering import FilterPatternError, parse_filter_criteria, record_matches


def patterns(*pattern_objects):
    return parse_filter_criteria({"Filters": [{"Pattern": json.dumps(p)} for p in pattern_objects]})


REMOVE = {
    "eventName": "REMOVE",
    "dynamodb": {"NewImage": None, "OldImage": {"t": {"N": "42"}, "site": {"S": "tokyo-1"}}},
}
INSERT = {"eventName": "INSERT", "dynamodb": {"NewImage": {"t": {"N": "7"}, "site": {"S": "osaka-2"}}}}


def test_no_filter_passes_everything():
    assert record_matches([], INSERT)


def test_event_name_filter_selects_removes_only():
    only_removes = patterns({"eventName": ["REMOVE"]})
    assert record_matches(only_removes, REMOVE)
    assert not record_matches(only_removes, INSERT)


def test_filters_are_or_and_fields_are_and():
    either = patterns(
        {"eventName": ["INSERT"]},
        {"eventName": ["REMOVE"], "dynamodb": {"OldImage": {"site": {"S": [{"prefix": "tokyo"}]}}}},
    )
    assert record_matches(either, INSERT) and record_matches(either, REMOVE)
    both = patterns({"eventName": ["REMOVE"], "dynamodb": {"OldImage": {"site": {"S": [{"prefix": "osaka"}]}}}})
    assert not record_matches(both, REMOVE)


@pytest.mark.parametrize(
    "condition, matches_remove",
    [
        ({"numeric": [">", 40]}, True),
        ({"numeric": [">=", 0, "<", 10]}, False),
        ({"anything-but": ["42"]}, False),
        ({"anything-but": {"prefix": "4"}}, False),
    ],
)
def test_numeric_and_anything_but_on_dynamodb_numbers(condition, matches_remove):
    pattern = patterns({"dynamodb": {"OldImage": {"t": {"N": [condition]}}}})
    assert record_matches(pattern, REMOVE) is matches_remove


def test_exists_and_null_conditions():
    assert record_matches(patterns({"dynamodb": {"NewImage": [None]}}), REMOVE)
    assert record_matches(patterns({"userIdentity": [{"exists": False}]}), REMOVE)
    assert not record_matches(patterns({"userIdentity": [{"exists": True}]}), REMOVE)


def test_suffix_and_equals_ignore_case():
    assert record_matches(patterns({"dynamodb": {"NewImage": {"site": {"S": [{"suffix": "-2"}]}}}}), INSERT)
    assert record_matches(patterns({"eventName": [{"equals-ignore-case": "insert"}]}), INSERT)


def test_sqs_json_bodies_are_matched_as_objects_and_others_as_text():
    by_device = patterns({"body": {"things_name": [{"prefix": "stg-"}]}})
    assert record_matches(by_device, {"body": json.dumps({"things_name": "stg-1"})})
    assert not record_matches(by_device, {"body": "stg-1 plain text"})
    assert record_matches(patterns({"body": ["plain"]}), {"body": "plain"})


def test_a_pattern_lambda_would_reject_is_an_error():
    with pytest.raises(FilterPatternError):
        parse_filter_criteria({"Filters": [{"Pattern": "not json"}]})
    with pytest.raises(FilterPatternError):
        record_matches(patterns({"eventName": "REMOVE"}), REMOVE)
