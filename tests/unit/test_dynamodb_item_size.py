"""DynamoDB's item size; the expected sizes are the SizeBytes DynamoDB Local (AWS's build of 2026-01-16)
wrote for records of these items."""

import pytest

from emulator.dynamodb_item_size import item_size, number_size, stream_record_size
from emulator.dynamodb_values import same_item

KEYS = {"pk": {"S": "a"}}


@pytest.mark.parametrize(
    ("attribute", "size_bytes"),
    [
        ({"small": {"N": "0.000001"}}, 13),
        ({"big": {"N": "-123456789012345678901234567890"}}, 26),
        ({"flag": {"BOOL": True}}, 11),
        ({"none": {"NULL": True}}, 11),
        ({"bs": {"BS": [b"a", b"bc"]}}, 11),
        ({"map": {"M": {"k": {"S": "v"}}}}, 15),
        ({"deep": {"M": {"inner": {"M": {"deep": {"N": "-0.5"}}}}}}, 30),
        ({"list": {"L": [{"N": "1"}, {"NULL": True}]}}, 18),
        ({"n123": {"N": "1700000000123"}}, 18),
        ({"u": {"S": "žluťoučký"}}, 20),
    ],
)
def test_a_new_image_records_size_is_its_keys_plus_its_image(attribute, size_bytes):
    assert stream_record_size({"Keys": KEYS, "NewImage": {**KEYS, **attribute}, "StreamViewType": "NEW_IMAGE"}) == (
        size_bytes
    )


def test_binary_counts_its_raw_bytes_whether_base64_or_bytes():
    assert item_size({"b": {"B": "AAE="}}) == item_size({"b": {"B": b"\x00\x01"}}) == 3


def test_numbers_count_base_100_digits_aligned_on_the_point():
    assert [number_size(text) for text in ("0", "1", "10", "100", "0.5", "-0.5", "1E+2")] == [1, 2, 2, 2, 2, 3, 2]


def test_a_keys_only_record_counts_only_its_keys():
    assert stream_record_size({"Keys": KEYS, "StreamViewType": "KEYS_ONLY"}) == 3


def test_items_are_the_same_when_sets_differ_only_in_order_and_numbers_only_in_form():
    first = {"pk": {"S": "a"}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2"]}, "n": {"N": "2"}}
    second = {"pk": {"S": "a"}, "ss": {"SS": ["y", "x"]}, "ns": {"NS": ["2.0", "1"]}, "n": {"N": "2.00"}}
    assert same_item(first, second)
    assert not same_item(first, {**second, "l": {"L": []}})
    assert not same_item({"l": {"L": [{"N": "1"}, {"N": "2"}]}}, {"l": {"L": [{"N": "2"}, {"N": "1"}]}})
