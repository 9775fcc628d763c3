"""Query and Scan (key conditions, filters, pagination, projections) and capacity accounting."""

from __future__ import annotations

from typing import Any

from tests.differential.harness import Backend, LocalDiffersFromAws, Scenarios, n, s, sorted_items

SCENARIOS = Scenarios()


def readings(b: Backend, count: int = 6, **table: Any) -> str:
    """Readings of devices d0 and d1 at times 1..count, with a value and a nested map."""
    name = b.create_table(sort_key="ts", **table)
    for device in ("d0", "d1"):
        for at in range(1, count + 1):
            item = {"pk": s(device), "ts": n(str(at)), "v": n(str(at * 10)), "m": {"M": {"x": n(str(at)), "y": s("y")}}}
            b.ddb.put_item(TableName=name, Item=item)
    return name


def query(b: Backend, table: str, condition: str = "pk = :d", values: dict | None = None, **more: Any) -> dict:
    return b.call(
        "query",
        TableName=table,
        KeyConditionExpression=condition,
        ExpressionAttributeValues={":d": s("d0"), **(values or {})},
        **more,
    )


@SCENARIOS.add
def query_ranges_and_order(b: Backend) -> None:
    table = readings(b)
    query(b, table, "pk = :d AND ts BETWEEN :a AND :b", {":a": n("2"), ":b": n("4")}, ScanIndexForward=False)
    query(b, table, "pk = :d AND ts > :a", {":a": n("4")})
    query(b, table, "pk = :d AND ts <= :a", {":a": n("2")}, ProjectionExpression="ts")


@SCENARIOS.add
def query_pages_with_limit_and_last_evaluated_key(b: Backend) -> None:
    table = readings(b)
    page = query(b, table, Limit=4)
    query(b, table, Limit=4, ExclusiveStartKey=page["LastEvaluatedKey"])
    query(b, table, Limit=6)


@SCENARIOS.add
def a_filter_counts_scanned_and_matching_items_separately(b: Backend) -> None:
    table = readings(b)
    query(b, table, FilterExpression="v > :v", values={":v": n("35")}, Limit=3)
    query(b, table, FilterExpression="m.x = :x", values={":x": n("2")}, Select="COUNT")


@SCENARIOS.add
def a_filter_on_a_key_attribute_is_refused(b: Backend) -> None:
    table = readings(b)
    query(b, table, FilterExpression="ts > :a", values={":a": n("2")}, message=True)


@SCENARIOS.add
def an_or_in_a_key_condition_is_refused(b: Backend) -> None:
    table = readings(b)
    query(b, table, "pk = :d OR ts = :a", {":a": n("2")}, message=True)
    query(b, table, "pk = :d AND (ts = :a OR ts = :b)", {":a": n("2"), ":b": n("3")}, message=True)


@SCENARIOS.add
def key_condition_errors(b: Backend) -> None:
    table = readings(b)
    query(b, table, "ts = :a", {":a": n("2")})
    query(b, table, "pk = :d AND v = :a", {":a": n("2")})
    query(b, table, "pk <> :d")
    query(b, table, "pk = :d AND begins_with(ts, :a)", {":a": n("1")})
    query(b, table, "pk = :d AND ts = :a", {":a": s("1")})


@SCENARIOS.add
def begins_with_on_a_string_sort_key(b: Backend) -> None:
    table = b.create_table(sort_key="sk", sort_type="S")
    for sk in ("a#1", "a#2", "b#1", "a"):
        b.ddb.put_item(TableName=table, Item={"pk": s("d0"), "sk": s(sk)})
    query(b, table, "pk = :d AND begins_with(sk, :p)", {":p": s("a#")})


@SCENARIOS.add
def projections_of_nested_paths_and_list_elements(b: Backend) -> None:
    table = b.create_table()
    b.call(
        "put_item",
        TableName=table,
        Item={"pk": s("k"), "m": {"M": {"a": n("1"), "b": {"M": {"c": s("c")}}}}, "l": {"L": [n("0"), n("1"), n("2")]}},
    )
    b.call("get_item", TableName=table, Key={"pk": s("k")}, ProjectionExpression="m.b.c, l[2], l[0], absent")
    b.call("get_item", TableName=table, Key={"pk": s("k")}, ProjectionExpression="m, m.a")


@SCENARIOS.add
def scan_filters_and_counts(b: Backend) -> None:
    table = readings(b, count=3)
    b.call(
        "scan",
        TableName=table,
        FilterExpression="v >= :v",
        ExpressionAttributeValues={":v": n("20")},
        keep=lambda r: {**r, "Items": sorted_items(r["Items"])},
    )
    b.call("scan", TableName=table, Select="COUNT")


@SCENARIOS.add
def scan_of_one_partition_pages_with_limit(b: Backend) -> None:
    table = b.create_table(sort_key="ts")
    for at in range(5):
        b.ddb.put_item(TableName=table, Item={"pk": s("only"), "ts": n(str(at))})
    page = b.call("scan", TableName=table, Limit=2)
    page = b.call("scan", TableName=table, Limit=2, ExclusiveStartKey=page["LastEvaluatedKey"])
    b.call("scan", TableName=table, Limit=2, ExclusiveStartKey=page["LastEvaluatedKey"])


@SCENARIOS.add
def a_reserved_word_in_a_projection_is_refused(b: Backend) -> None:
    table = readings(b, count=1)
    query(b, table, ProjectionExpression="status")
    query(b, table, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"})


@SCENARIOS.add
def a_global_secondary_index_is_queried_with_its_projection(b: Backend) -> None:
    table = b.create_table(
        extra={
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "kind", "AttributeType": "S"},
                {"AttributeName": "ts", "AttributeType": "N"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by-kind",
                    "KeySchema": [
                        {"AttributeName": "kind", "KeyType": "HASH"},
                        {"AttributeName": "ts", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v"]},
                }
            ],
        }
    )
    for index, kind in enumerate(("temp", "temp", "hum", "temp")):
        item = {"pk": s(f"d{index}"), "kind": s(kind), "ts": n(str(index)), "v": n(str(index)), "w": s("x")}
        b.ddb.put_item(TableName=table, Item=item)
    b.ddb.put_item(TableName=table, Item={"pk": s("no-kind"), "ts": n("9")})
    b.call(
        "query",
        TableName=table,
        IndexName="by-kind",
        KeyConditionExpression="kind = :k AND ts >= :a",
        ExpressionAttributeValues={":k": s("temp"), ":a": n("1")},
        ScanIndexForward=False,
    )
    b.call(
        "query",
        TableName=table,
        IndexName="by-kind",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": s("temp")},
        Limit=1,
    )
    b.call(
        "query",
        TableName=table,
        IndexName="by-kind",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": s("temp")},
        ConsistentRead=True,
    )


@SCENARIOS.add
def a_parallel_scan_returns_every_item_once(b: Backend) -> None:
    table = readings(b, count=5)
    seen = []
    for segment in range(3):
        seen += b.ddb.scan(TableName=table, Segment=segment, TotalSegments=3)["Items"]
    b.note("items", sorted_items(seen))
    b.call("scan", TableName=table, Segment=3, TotalSegments=3)


@SCENARIOS.add
def read_capacity_rounds_item_size_up_to_4_kb(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("small"), "v": s("x")}, ReturnConsumedCapacity="TOTAL")
    b.call("put_item", TableName=table, Item={"pk": s("big"), "v": s("x" * 9000)}, ReturnConsumedCapacity="TOTAL")
    for key in ("small", "big", "missing"):
        for consistent in (False, True):
            b.call(
                "get_item",
                TableName=table,
                Key={"pk": s(key)},
                ConsistentRead=consistent,
                ReturnConsumedCapacity="TOTAL",
            )


@SCENARIOS.add
def batch_get_reports_consumed_capacity_when_asked(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("big"), "v": s("x" * 9000)})
    b.call("put_item", TableName=table, Item={"pk": s("small")})
    b.call(
        "batch_get_item",
        RequestItems={table: {"Keys": [{"pk": s("big")}, {"pk": s("small")}, {"pk": s("none")}]}},
        ReturnConsumedCapacity="TOTAL",
        keep=lambda r: {**r, "Responses": {t: sorted_items(i) for t, i in r["Responses"].items()}},
    )


@SCENARIOS.add
def query_and_scan_capacity_sum_item_sizes(b: Backend) -> None:
    table = readings(b, count=4)
    query(b, table, ReturnConsumedCapacity="TOTAL", Select="COUNT")
    query(b, table, ReturnConsumedCapacity="TOTAL", Select="COUNT", ConsistentRead=True)
    b.call("scan", TableName=table, ReturnConsumedCapacity="TOTAL", Select="COUNT")


@SCENARIOS.add
def write_capacity_rounds_item_size_up_to_1_kb(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("k"), "v": s("x" * 1500)}, ReturnConsumedCapacity="TOTAL")
    b.call(
        "update_item",
        TableName=table,
        Key={"pk": s("k")},
        UpdateExpression="SET w = :w",
        ExpressionAttributeValues={":w": s("y" * 1000)},
        ReturnConsumedCapacity="TOTAL",
    )
    b.call("delete_item", TableName=table, Key={"pk": s("k")}, ReturnConsumedCapacity="TOTAL")


@SCENARIOS.add
def a_transaction_bills_two_units_per_kb(b: Backend) -> None:
    table = b.create_table()
    b.call(
        "transact_write_items",
        TransactItems=[{"Put": {"TableName": table, "Item": {"pk": s("t"), "v": s("x" * 1500)}}}],
        ReturnConsumedCapacity="TOTAL",
        local_differs=LocalDiffersFromAws(
            local={"ConsumedCapacity": [{"CapacityUnits": 4.0, "TableName": "<table 0>"}]},
            aws={"ConsumedCapacity": [{"CapacityUnits": 4.0, "TableName": "<table 0>", "WriteCapacityUnits": 4.0}]},
            why="AWS also reports WriteCapacityUnits on a transaction's ConsumedCapacity (recorded against "
            "DynamoDB in eu-west-2 by paritysuite/dynamodb-conformance#67, nubo-db/dynoxide#123)",
        ),
    )


test_matches_dynamodb_local = SCENARIOS.test()
