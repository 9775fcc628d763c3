"""Table, TTL and stream configuration changes, shard iterator types and bad iterators."""

from __future__ import annotations

from tests.differential.harness import Backend, LocalDiffersFromAws, Scenarios, s

SCENARIOS = Scenarios()


def ttl_state(response: dict) -> dict:
    return response.get("TimeToLiveDescription") or response.get("TimeToLiveSpecification") or response


def stream_state(response: dict) -> dict:
    table = response.get("TableDescription") or response.get("Table") or {}
    return {"StreamSpecification": table.get("StreamSpecification"), "has_stream": "LatestStreamArn" in table}


def update_ttl(b: Backend, table: str, enabled: bool, attribute: str) -> None:
    # AWS's own texts: "TimeToLive is already enabled", "... is active on a different AttributeName"
    b.call(
        "update_time_to_live",
        TableName=table,
        TimeToLiveSpecification={"Enabled": enabled, "AttributeName": attribute},
        keep=ttl_state,
        message=True,
    )
    b.call("describe_time_to_live", TableName=table, keep=ttl_state)


@SCENARIOS.add
def ttl_enabled_once_then_disabled(b: Backend) -> None:
    table = b.create_table()
    b.call("describe_time_to_live", TableName=table, keep=ttl_state)
    update_ttl(b, table, True, "expiredAt")
    update_ttl(b, table, False, "expiredAt")


@SCENARIOS.add
def enabling_ttl_twice_is_refused(b: Backend) -> None:
    table = b.create_table()
    update_ttl(b, table, True, "expiredAt")
    update_ttl(b, table, True, "expiredAt")


@SCENARIOS.add
def enabling_ttl_on_another_attribute_is_refused(b: Backend) -> None:
    table = b.create_table()
    update_ttl(b, table, True, "expiredAt")
    update_ttl(b, table, True, "other")


@SCENARIOS.add
def disabling_ttl_that_is_not_enabled_is_refused(b: Backend) -> None:
    table = b.create_table()
    update_ttl(b, table, False, "expiredAt")


def update_stream(b: Backend, table: str, specification: dict) -> None:
    b.call("update_table", TableName=table, StreamSpecification=specification, keep=stream_state)
    b.call("describe_table", TableName=table, keep=stream_state)


@SCENARIOS.add
def a_stream_is_enabled_disabled_and_enabled_again(b: Backend) -> None:
    table = b.create_table()
    update_stream(b, table, {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    update_stream(b, table, {"StreamEnabled": False})
    update_stream(b, table, {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})


@SCENARIOS.add
def enabling_an_enabled_stream_is_refused(b: Backend) -> None:
    table = b.create_table(stream="NEW_IMAGE")
    update_stream(b, table, {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    update_stream(b, table, {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})


@SCENARIOS.add
def a_stream_without_a_view_type_is_refused(b: Backend) -> None:
    table = b.create_table()
    update_stream(b, table, {"StreamEnabled": True})
    b.call(
        "create_table",
        TableName=b.table_name(),
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True},
        keep=lambda r: r["TableDescription"]["TableStatus"],
    )


@SCENARIOS.add
def disabling_a_stream_that_is_not_enabled_is_refused(b: Backend) -> None:
    table = b.create_table()
    update_stream(b, table, {"StreamEnabled": False})


@SCENARIOS.add
def missing_tables_and_duplicate_names(b: Backend) -> None:
    missing = b.table_name()
    b.call(
        "describe_table",
        TableName=missing,
        message=True,
        local_differs=LocalDiffersFromAws(
            local={"error": "ResourceNotFoundException", "message": "Cannot do operations on a non-existent table"},
            aws={
                "error": "ResourceNotFoundException",
                "message": "Requested resource not found: Table: <table 0> not found",
            },
            why="DynamoDB Local's own wording; AWS names the table (recorded against AWS by dynein's tests)",
        ),
    )
    b.call("put_item", TableName=missing, Item={"pk": s("k")})
    table = b.create_table()
    b.call(
        "create_table",
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@SCENARIOS.add
def a_table_description_reports_keys_billing_and_stream(b: Backend) -> None:
    table = b.create_table(sort_key="at", stream="NEW_AND_OLD_IMAGES")
    b.call(
        "describe_table",
        TableName=table,
        keep=lambda r: {
            key: r["Table"].get(key)
            for key in ("TableName", "KeySchema", "AttributeDefinitions", "TableStatus", "StreamSpecification")
        },
    )


def stream_of(b: Backend, table: str) -> tuple[str, str]:
    arn = b.ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = b.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return arn, shard


def read_from(b: Backend, iterator_type: str, table: str, arn: str, shard: str, **more: str) -> None:
    iterator = b.call(
        "get_shard_iterator",
        service="streams",
        StreamArn=arn,
        ShardId=shard,
        ShardIteratorType=iterator_type,
        keep=lambda _r: "ok",
        **more,
    ).get("ShardIterator")
    if iterator:
        b.call(
            "get_records",
            service="streams",
            ShardIterator=iterator,
            keep=lambda r: [(x["eventName"], x["dynamodb"]["Keys"]) for x in r["Records"]],
        )


@SCENARIOS.add
def shard_iterator_types_start_where_they_say(b: Backend) -> None:
    table = b.create_table(stream="KEYS_ONLY")
    b.ddb.put_item(TableName=table, Item={"pk": s("first")})
    arn, shard = stream_of(b, table)
    latest = b.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    b.ddb.put_item(TableName=table, Item={"pk": s("second")})
    b.call(
        "get_records", service="streams", ShardIterator=latest, keep=lambda r: [x["eventName"] for x in r["Records"]]
    )
    records = b.streams.get_records(
        ShardIterator=b.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
    )["Records"]
    first = records[0]["dynamodb"]["SequenceNumber"]
    read_from(b, "TRIM_HORIZON", table, arn, shard)
    read_from(b, "AT_SEQUENCE_NUMBER", table, arn, shard, SequenceNumber=first)
    read_from(b, "AFTER_SEQUENCE_NUMBER", table, arn, shard, SequenceNumber=first)


@SCENARIOS.add
def bad_shard_iterators_and_missing_streams_are_refused(b: Backend) -> None:
    table = b.create_table(stream="KEYS_ONLY")
    arn, shard = stream_of(b, table)
    b.call("get_records", service="streams", ShardIterator="not-an-iterator")
    b.call(
        "get_shard_iterator",
        service="streams",
        StreamArn=arn,
        ShardId="shardId-00000000000000000000-deadbeef",
        ShardIteratorType="LATEST",
    )
    b.call(
        "get_shard_iterator", service="streams", StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER"
    )
    missing = arn.replace(table, b.table_name())
    b.call("describe_stream", service="streams", StreamArn=missing, message=True)


@SCENARIOS.add
def a_stream_describes_its_view_type_keys_and_status_and_pages_records_by_limit(b: Backend) -> None:
    table = b.create_table(sort_key="at", stream="NEW_AND_OLD_IMAGES")
    for at in range(3):
        b.ddb.put_item(TableName=table, Item={"pk": s("d"), "at": {"N": str(at)}})
    arn, shard = stream_of(b, table)
    b.call(
        "describe_stream",
        service="streams",
        StreamArn=arn,
        keep=lambda r: {
            key: r["StreamDescription"].get(key) for key in ("StreamViewType", "KeySchema", "StreamStatus", "TableName")
        },
    )
    iterator = b.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    page = b.call(
        "get_records",
        service="streams",
        ShardIterator=iterator["ShardIterator"],
        Limit=2,
        keep=lambda r: [x["dynamodb"]["Keys"] for x in r["Records"]],
    )
    b.call(
        "get_records",
        service="streams",
        ShardIterator=page["NextShardIterator"],
        keep=lambda r: [x["dynamodb"]["Keys"] for x in r["Records"]],
    )


@SCENARIOS.add
def list_streams_names_the_tables_stream(b: Backend) -> None:
    table = b.create_table(stream="NEW_IMAGE")
    b.call("list_streams", service="streams", TableName=table)


test_matches_dynamodb_local = SCENARIOS.test()
