"""DynamoDB Streams answers by orjson, in process: the same JSON documents as MiniStack's own
encoding, pages cut before 1 MB at the same record, and what orjson does not take handled as before."""

import asyncio
import datetime
import importlib
import json

import pytest

from emulator.ministack import dynamodb_stream_reads, ttl
from emulator.ministack.dynamodb_stream_reads import compact_json_size
from emulator.ministack.registry import PatchRegistry

TABLE = "reads"


@pytest.fixture
def streams(dynamodb):
    module = importlib.import_module("ministack.services.dynamodb_streams")
    registry = PatchRegistry()
    registry.apply(dynamodb_stream_reads.STREAM_READS_BY_ORJSON)
    yield module, registry
    registry.undo()


def call(module, prefix, action, **data):
    headers = {"x-amz-target": f"{prefix}.{action}"}
    status, response_headers, body = asyncio.run(
        module.handle_request("POST", "/", headers, json.dumps(data).encode(), {})
    )
    assert status == 200, body
    return response_headers, json.loads(body)


def write(dynamodb, items):
    requests = [{"PutRequest": {"Item": item}} for item in items]
    call(dynamodb, "DynamoDB_20120810", "BatchWriteItem", RequestItems={TABLE: requests})


def streamed_table(dynamodb):
    call(
        dynamodb,
        "DynamoDB_20120810",
        "CreateTable",
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return call(dynamodb, "DynamoDB_20120810", "DescribeTable", TableName=TABLE)[1]["Table"]["LatestStreamArn"]


def read_all(module, arn, limit=100):
    """Every page from the start: (records per page, the pages' documents, their headers)."""
    prefix = "DynamoDBStreams_20120810"
    shard = call(module, prefix, "DescribeStream", StreamArn=arn)[1]["StreamDescription"]["Shards"][0]["ShardId"]
    start = {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
    iterator = call(module, prefix, "GetShardIterator", **start)[1]["ShardIterator"]
    pages = []
    while True:
        headers, page = call(module, prefix, "GetRecords", ShardIterator=iterator, Limit=limit)
        pages.append((headers, page))
        if not page["Records"]:
            return pages
        iterator = page["NextShardIterator"]


def comparable(pages):
    """The pages without what differs between two reads: the iterators (they carry the time issued)."""
    return [(headers, page["Records"], "NextShardIterator" in page) for headers, page in pages]


def test_get_records_answers_the_documents_ministack_answers(dynamodb, streams):
    module, registry = streams
    arn = streamed_table(dynamodb)
    items = [
        {"id": {"S": f"d{n}"}, "n": {"N": str(n * 1.5)}, "name": {"S": "température ☃ 🌡"}, "b": {"B": "AAEC"},
         "l": {"L": [{"BOOL": True}, {"NULL": True}, {"M": {"k": {"SS": ["a", "é"]}}}]}}
        for n in range(30)
    ]  # fmt: skip
    write(dynamodb, items[:25])
    write(dynamodb, items[25:])
    write(dynamodb, [{**items[0], "n": {"N": "-1E+20"}}])
    by_orjson = read_all(module, arn, limit=7)
    registry.undo()
    by_json = read_all(module, arn, limit=7)
    assert comparable(by_orjson) == comparable(by_json)
    assert sum(len(page["Records"]) for _, page in by_json) == 31


def test_a_page_stops_before_1_mb_at_the_record_ministack_stops_at(dynamodb, streams):
    module, registry = streams
    arn = streamed_table(dynamodb)
    # 200 KB of UTF-8 per record, 600 KB as MiniStack measures it (JSON escapes each "é" in 6 bytes)
    for n in range(4):
        write(dynamodb, [{"id": {"S": f"big{n}"}, "text": {"S": "é" * 100_000}}])
    by_orjson = [len(page["Records"]) for _, page in read_all(module, arn)]
    registry.undo()
    assert by_orjson == [len(page["Records"]) for _, page in read_all(module, arn)]
    assert by_orjson == [1, 1, 1, 1, 0]


@pytest.mark.parametrize(
    "value",
    [
        {"a": "ascii", "n": 12, "f": 1.5, "t": True, "z": None, "l": [1, "x"]},
        {"text": "é ☃ 🌡", "nested": {"k": ["ü"]}},
        {1: "a key that is not a string"},
        {"big": 2**70},
        {"surrogate": "\ud800"},
        {"when": datetime.datetime(2026, 11, 23, 18, 0, 0)},
        {"raw": b"bytes"},
    ],
)
def test_a_record_s_size_is_the_stdlib_s_compact_ascii_length(value):
    assert compact_json_size(value) == len(json.dumps(value, separators=(",", ":"), default=str).encode())


def test_what_orjson_does_not_take_is_answered_by_ministack_s_encoding(streams):
    module, _ = streams
    ttl.import_dynamodb()
    status, headers, body = module.json_response({1: {"big": 2**70}}, 201)
    assert (status, headers) == (201, {"Content-Type": "application/x-amz-json-1.0"})
    assert json.loads(body) == {"1": {"big": 2**70}}
    with pytest.raises(TypeError):
        module.json_response({"when": datetime.datetime(2026, 11, 23)})
