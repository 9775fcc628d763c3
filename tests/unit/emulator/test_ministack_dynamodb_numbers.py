"""DynamoDB numbers remembered by their text, in process: every answer is the original function's,
and a BatchWriteItem computes each distinct number once."""

import asyncio
import json

import pytest

from emulator.ministack import dynamodb_numbers
from emulator.ministack.registry import PatchRegistry

TABLE = "numbers"
TEXTS = [
    "0", "-0", "1", "1.50", "+7", "007", "1E+2", "1e-130", "1e-131", "9.9999E+125", "1E+126",
    "123456789012345678901234567890123456789", "12345678901234567890123456789012345678", " 5", "1_000",
    "", "-", ".", "1.", ".5", "abc", "NaN", "Infinity", "1e9223372036854775808",
]  # fmt: skip
NOT_TEXTS = [5, 1.5, None, ["1"], {"N": "1"}]


@pytest.fixture
def patched(dynamodb):
    registry = PatchRegistry()
    registry.apply(dynamodb_numbers.NUMBERS_MEMOIZED)
    [applied] = registry.applied
    yield dynamodb, {target.attribute: original for target, original in applied.originals.items()}
    registry.undo()


def call(dynamodb, action, **data):
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = asyncio.run(dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    return status, json.loads(body)


def test_each_function_answers_as_the_original_for_texts_and_other_values(patched):
    dynamodb, originals = patched
    for name, original in originals.items():
        for value in TEXTS + TEXTS + NOT_TEXTS:
            try:
                expected = ("returns", original(value))
            except Exception as error:  # the original's own failure, which the memo must repeat
                expected = ("raises", type(error))
            try:
                actual = ("returns", getattr(dynamodb, name)(value))
            except Exception as error:
                actual = ("raises", type(error))
            assert actual == expected, (name, value)


def create_table(dynamodb):
    call(
        dynamodb,
        "CreateTable",
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_a_batch_write_computes_each_distinct_number_once_and_stores_it_canonical(patched):
    dynamodb, _ = patched
    create_table(dynamodb)
    items = [{"id": {"S": f"d{n}"}, "at": {"N": f"{1000 + n}.0"}, "t": {"N": "21.50"}} for n in range(25)]
    status, _ = call(
        dynamodb, "BatchWriteItem", RequestItems={TABLE: [{"PutRequest": {"Item": item}} for item in items]}
    )
    assert status == 200
    # 26 distinct texts as sent ("1000.0", ..., "21.50") and 26 canonical ones ("1000", ..., "21.5")
    for name in ("_number_error", "_ddb_canonicalize_number", "_number_size_bytes"):
        computed = getattr(dynamodb, name).cache_info()  # a fresh memo per patch
        # once per distinct text, where MiniStack asks two or three times
        assert computed.misses <= 52 and computed.hits + computed.misses >= 2 * 50, (name, computed)
    _, stored = call(dynamodb, "GetItem", TableName=TABLE, Key={"id": {"S": "d3"}})
    assert stored["Item"] == {"id": {"S": "d3"}, "at": {"N": "1003"}, "t": {"N": "21.5"}}


def test_a_refused_number_is_refused_with_the_same_message(patched):
    dynamodb, _ = patched
    create_table(dynamodb)
    answers = []
    for _ in range(2):  # the second time from the memo
        answers.append(call(dynamodb, "PutItem", TableName=TABLE, Item={"id": {"S": "x"}, "n": {"N": "1E+126"}}))
    assert answers[0] == answers[1]
    assert answers[0][0] == 400 and "Number overflow" in answers[0][1]["message"]
