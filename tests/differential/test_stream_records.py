"""Every write path's stream records (count, event names, keys, images, view type, SizeBytes) under each view type."""

from __future__ import annotations

from tests.differential.harness import Backend, Scenarios, n, s

SCENARIOS = Scenarios()


def reading(pk: str, value: str, **more: dict) -> dict:
    return {"pk": s(pk), "value": n(value), **more}


def put_modify_delete(b: Backend, view_type: str) -> None:
    table = b.create_table(stream=view_type)
    b.call("put_item", TableName=table, Item=reading("a", "1", tags={"SS": ["x", "y"]}, blob={"B": b"\x00\x01"}))
    b.call("put_item", TableName=table, Item=reading("a", "2", nested={"M": {"l": {"L": [n("1"), s("t")]}}}))
    b.call("delete_item", TableName=table, Key={"pk": s("a")})
    b.observe_stream(table)


@SCENARIOS.add
def put_put_delete_write_insert_modify_remove_with_both_images(b: Backend) -> None:
    put_modify_delete(b, "NEW_AND_OLD_IMAGES")


@SCENARIOS.add
def put_put_delete_write_keys_only_records(b: Backend) -> None:
    put_modify_delete(b, "KEYS_ONLY")


@SCENARIOS.add
def put_put_delete_write_new_image_records(b: Backend) -> None:
    put_modify_delete(b, "NEW_IMAGE")


@SCENARIOS.add
def put_put_delete_write_old_image_records(b: Backend) -> None:
    put_modify_delete(b, "OLD_IMAGE")


@SCENARIOS.add
def update_item_writes_insert_then_modify_on_a_composite_key(b: Backend) -> None:
    table = b.create_table(sort_key="at", stream="NEW_AND_OLD_IMAGES")
    key = {"pk": s("dev"), "at": n("17")}
    b.call(
        "update_item",
        TableName=table,
        Key=key,
        UpdateExpression="SET t = :t",
        ExpressionAttributeValues={":t": n("20.5")},
    )
    b.call(
        "update_item",
        TableName=table,
        Key=key,
        UpdateExpression="ADD c :one",
        ExpressionAttributeValues={":one": n("1")},
    )
    b.call(
        "update_item",
        TableName=table,
        Key=key,
        UpdateExpression="SET t = :t",
        ExpressionAttributeValues={":t": n("20.50")},
    )
    b.observe_stream(table)


@SCENARIOS.add
def writes_that_change_nothing_write_no_record(b: Backend) -> None:
    table = b.create_table(stream="NEW_AND_OLD_IMAGES")
    b.call("put_item", TableName=table, Item=reading("a", "1"))
    b.call("put_item", TableName=table, Item=reading("a", "1.0"))
    b.call("delete_item", TableName=table, Key={"pk": s("missing")})
    b.call(
        "update_item",
        TableName=table,
        Key={"pk": s("a")},
        UpdateExpression="SET #v = :v",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":v": n("1")},
    )
    b.observe_stream(table)


@SCENARIOS.add
def reputting_a_set_in_another_order_writes_no_record(b: Backend) -> None:
    table = b.create_table(stream="NEW_AND_OLD_IMAGES")
    b.call("put_item", TableName=table, Item=reading("a", "1", tags={"SS": ["x", "y", "z"]}, ns={"NS": ["1", "2"]}))
    b.call("put_item", TableName=table, Item=reading("a", "1", tags={"SS": ["z", "x", "y"]}, ns={"NS": ["2", "1"]}))
    b.observe_stream(table)


@SCENARIOS.add
def failed_conditions_write_no_record(b: Backend) -> None:
    table = b.create_table(stream="NEW_AND_OLD_IMAGES")
    b.call("put_item", TableName=table, Item=reading("a", "1"))
    b.call("put_item", TableName=table, Item=reading("a", "2"), ConditionExpression="attribute_not_exists(pk)")
    b.call("delete_item", TableName=table, Key={"pk": s("a")}, ConditionExpression="attribute_exists(nothing)")
    b.observe_stream(table)


@SCENARIOS.add
def batch_write_item_writes_a_record_per_change(b: Backend) -> None:
    table = b.create_table(stream="NEW_AND_OLD_IMAGES")
    b.call("put_item", TableName=table, Item=reading("gone", "0"))
    b.call(
        "batch_write_item",
        RequestItems={
            table: [
                {"PutRequest": {"Item": reading("a", "1")}},
                {"PutRequest": {"Item": reading("b", "2", note=s("é"))}},
                {"DeleteRequest": {"Key": {"pk": s("gone")}}},
            ]
        },
    )
    b.observe_stream(table)


@SCENARIOS.add
def transact_write_items_writes_a_record_per_change_but_none_for_a_condition_check(b: Backend) -> None:
    table = b.create_table(stream="NEW_AND_OLD_IMAGES")
    b.call("put_item", TableName=table, Item=reading("u", "1"))
    b.call("put_item", TableName=table, Item=reading("d", "1"))
    b.call("put_item", TableName=table, Item=reading("c", "1"))
    b.call(
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": table, "Item": reading("p", "5")}},
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": s("u")},
                    "UpdateExpression": "SET #v = #v + :d",
                    "ExpressionAttributeNames": {"#v": "value"},
                    "ExpressionAttributeValues": {":d": n("2")},
                }
            },
            {"Delete": {"TableName": table, "Key": {"pk": s("d")}}},
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": {"pk": s("c")},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ],
    )
    b.observe_stream(table)


@SCENARIOS.add
def partiql_insert_update_delete_write_records(b: Backend) -> None:
    table = b.create_table(stream="NEW_AND_OLD_IMAGES")
    b.call("execute_statement", Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'value': 1}}")
    b.call("execute_statement", Statement=f'UPDATE "{table}" SET "value" = 2 WHERE pk = \'a\'')
    b.call("execute_statement", Statement=f"DELETE FROM \"{table}\" WHERE pk = 'a'")
    b.observe_stream(table)


@SCENARIOS.add
def partiql_batch_statements_write_records(b: Backend) -> None:
    table = b.create_table(stream="NEW_IMAGE")
    b.call(
        "batch_execute_statement",
        Statements=[
            {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'value': 1}}"},
            {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'b', 'value': ?}}", "Parameters": [n("2")]},
        ],
    )
    b.call(
        "batch_execute_statement",
        Statements=[
            {"Statement": f'UPDATE "{table}" SET "value" = 3 WHERE pk = \'a\''},
            {"Statement": f"DELETE FROM \"{table}\" WHERE pk = 'b'"},
        ],
    )
    b.observe_stream(table)


@SCENARIOS.add
def partiql_transaction_writes_records(b: Backend) -> None:
    table = b.create_table(stream="NEW_AND_OLD_IMAGES")
    b.call("put_item", TableName=table, Item=reading("old", "1"))
    b.call(
        "execute_transaction",
        TransactStatements=[
            {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'new', 'value': 1}}"},
            {"Statement": f'UPDATE "{table}" SET "value" = 5 WHERE pk = \'old\''},
        ],
    )
    b.observe_stream(table)


@SCENARIOS.add
def size_bytes_counts_names_numbers_binaries_and_nested_values(b: Backend) -> None:
    table = b.create_table(sort_key="at", stream="NEW_AND_OLD_IMAGES")
    b.call(
        "put_item",
        TableName=table,
        Item={
            "pk": s("device-0001"),
            "at": n("1700000000123"),
            "small": n("0.000001"),
            "big": n("-123456789012345678901234567890"),
            "flag": {"BOOL": True},
            "none": {"NULL": True},
            "bin": {"B": b"\x00" * 10},
            "bs": {"BS": [b"a", b"bc"]},
            "map": {"M": {"k": s("v"), "inner": {"M": {"deep": n("-0.5")}}, "list": {"L": [n("1"), {"NULL": True}]}}},
            "unicode": s("žluťoučký"),
        },
    )
    b.call("delete_item", TableName=table, Key={"pk": s("device-0001"), "at": n("1700000000123")})
    b.observe_stream(table)


test_matches_dynamodb_local = SCENARIOS.test()
