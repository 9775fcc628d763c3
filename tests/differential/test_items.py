"""Writes of whole items: conditions, numbers, sets, item and request limits, batches and transactions."""

from __future__ import annotations

from tests.differential.harness import Backend, LocalDiffersFromAws, Scenarios, n, s

SCENARIOS = Scenarios()


def put_and_read(b: Backend, **attributes: dict) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("k"), **attributes})
    b.call("get_item", TableName=table, Key={"pk": s("k")}, ConsistentRead=True)


@SCENARIOS.add
def numbers_are_stored_in_canonical_form(b: Backend) -> None:
    put_and_read(
        b,
        a=n("1.50"),
        negative_zero=n("-0"),
        c=n("1e2"),
        d=n("00012"),
        e=n("0.000"),
        f=n("-1.23E-5"),
        ns={"NS": ["1.0", "10", "2e1"]},
    )


@SCENARIOS.add
def thirty_eight_significant_digits_are_kept_and_thirty_nine_refused(b: Backend) -> None:
    put_and_read(b, a=n("1234567890123456789012345678901234567.8"))
    put_and_read(b, a=n("1234567890123456789012345678901234567.89"))


@SCENARIOS.add
def numbers_out_of_range_are_refused(b: Backend) -> None:
    put_and_read(b, a=n("1E126"))
    put_and_read(b, a=n("1E-131"))
    put_and_read(b, a=n("9.9999999999999999999999999999999999999E+125"))
    put_and_read(b, a=n("abc"))


@SCENARIOS.add
def a_number_set_with_2_and_2_0_has_a_duplicate(b: Backend) -> None:
    put_and_read(b, ns={"NS": ["2", "2.0"]})


@SCENARIOS.add
def empty_sets_and_duplicate_strings_are_refused(b: Backend) -> None:
    put_and_read(b, ss={"SS": []})
    put_and_read(b, ss={"SS": ["a", "a"]})


@SCENARIOS.add
def empty_strings_and_binaries_are_kept_outside_keys(b: Backend) -> None:
    put_and_read(b, e=s(""), bin={"B": b""}, m={"M": {"e": s("")}})
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("")})


@SCENARIOS.add
def an_item_over_400_kb_is_refused_and_one_just_under_is_kept(b: Backend) -> None:
    table = b.create_table()
    # 400 KB counts attribute names and values: pk (2 + 1) + "big" (3) + value
    b.call("put_item", TableName=table, Item={"pk": s("k"), "big": s("x" * (400 * 1024 - 6))})
    b.call("put_item", TableName=table, Item={"pk": s("k"), "big": s("x" * (400 * 1024 - 5))})


@SCENARIOS.add
def a_partition_key_over_2048_bytes_is_refused(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("k" * 2048)})
    b.call("put_item", TableName=table, Item={"pk": s("k" * 2049)})


@SCENARIOS.add
def a_put_with_a_missing_or_mistyped_key_is_refused(b: Backend) -> None:
    table = b.create_table(sort_key="at")
    b.call("put_item", TableName=table, Item={"pk": s("k")})
    b.call("put_item", TableName=table, Item={"pk": s("k"), "at": s("1")})


@SCENARIOS.add
def attribute_not_exists_refuses_a_second_put_and_returns_the_old_item_when_asked(b: Backend) -> None:
    table = b.create_table()
    item = {"pk": s("k"), "v": n("1")}
    b.call("put_item", TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    b.call("put_item", TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)", message=True)
    b.call(
        "put_item",
        TableName=table,
        Item=item,
        ConditionExpression="attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
        keep=dict,
    )


@SCENARIOS.add
def return_values_of_put_delete_and_a_failed_update_condition(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("k"), "v": n("1")}, ReturnValues="ALL_OLD")
    b.call("put_item", TableName=table, Item={"pk": s("k"), "v": n("2")}, ReturnValues="ALL_OLD")
    b.call(
        "update_item",
        TableName=table,
        Key={"pk": s("k")},
        UpdateExpression="SET v = :x",
        ConditionExpression="v = :x",
        ExpressionAttributeValues={":x": n("3")},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
        keep=dict,
    )
    b.call(
        "update_item",
        TableName=table,
        Key={"pk": s("missing")},
        UpdateExpression="SET v = :x",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":x": n("3")},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    b.call("delete_item", TableName=table, Key={"pk": s("k")}, ReturnValues="ALL_OLD")
    b.call("put_item", TableName=table, Item={"pk": s("k")}, ReturnValues="ALL_NEW")


@SCENARIOS.add
def legacy_attributes_to_get_and_attribute_updates(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("k"), "a": n("1"), "b": s("x"), "ss": {"SS": ["p"]}})
    b.call(
        "update_item",
        TableName=table,
        Key={"pk": s("k")},
        AttributeUpdates={
            "a": {"Action": "ADD", "Value": n("2")},
            "b": {"Action": "DELETE"},
            "ss": {"Action": "ADD", "Value": {"SS": ["q"]}},
            "c": {"Action": "PUT", "Value": s("new")},
        },
        ReturnValues="ALL_NEW",
    )
    b.call("get_item", TableName=table, Key={"pk": s("k")}, AttributesToGet=["a", "c", "missing"])


@SCENARIOS.add
def condition_functions_and_comparisons(b: Backend) -> None:
    """Each condition on a re-put of the same item: it holds (the put succeeds) or fails (ConditionalCheckFailed)."""
    table = b.create_table()
    item = {"pk": s("k"), "name": s("sensor-7"), "l": {"L": [n("1"), n("2")]}, "v": n("5")}
    b.call("put_item", TableName=table, Item=item)
    values = {
        ":p": s("sensor"),
        ":two": n("2"),
        ":seven": s("7"),
        ":lo": n("1"),
        ":hi": n("9"),
        ":five": n("5"),
        ":string": s("S"),
        ":number": s("N"),
    }
    for condition in (
        "begins_with(#n, :p) AND size(l) = :two",
        "contains(#n, :seven) OR v BETWEEN :lo AND :hi",
        "v IN (:lo, :hi, :five) AND NOT attribute_type(v, :string)",
        "l[1] = :two AND size(#n) > :five",
        "attribute_type(v, :number)",
        "v BETWEEN :lo AND :two",
        "NOT (size(l) = :two)",
        "attribute_exists(l[5]) OR begins_with(#n, :seven)",
    ):
        used = {key: value for key, value in values.items() if key in condition}
        b.call(
            "put_item",
            TableName=table,
            Item=item,
            ConditionExpression=condition,
            **({"ExpressionAttributeNames": {"#n": "name"}} if "#n" in condition else {}),
            **({"ExpressionAttributeValues": used} if used else {}),
        )


@SCENARIOS.add
def condition_syntax_errors_are_validation_errors(b: Backend) -> None:
    table = b.create_table()
    for condition in ("v = ", "v == :x", "size(v) :x", "unknown_fn(v)", "v BETWEEN :x", "(v = :x"):
        b.call(
            "put_item",
            TableName=table,
            Item={"pk": s("k")},
            ConditionExpression=condition,
            ExpressionAttributeValues={":x": n("1")},
        )


@SCENARIOS.add
def legacy_expected_with_value_and_comparison_operator(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("k"), "v": n("5")})
    b.call(
        "put_item",
        TableName=table,
        Item={"pk": s("k"), "v": n("6")},
        Expected={"v": {"Value": n("5"), "ComparisonOperator": "EQ"}},
    )
    b.call(
        "put_item",
        TableName=table,
        Item={"pk": s("k"), "v": n("6")},
        Expected={"v": {"ComparisonOperator": "GT", "AttributeValueList": [n("5")]}},
    )
    b.call("put_item", TableName=table, Item={"pk": s("k"), "v": n("7")}, Expected={"v": {"Value": n("6")}})
    b.call("put_item", TableName=table, Item={"pk": s("k")}, Expected={"w": {"Exists": False}})
    b.call("get_item", TableName=table, Key={"pk": s("k")})


@SCENARIOS.add
def batch_write_refuses_more_than_25_requests_and_duplicate_keys(b: Backend) -> None:
    table = b.create_table()
    puts = [{"PutRequest": {"Item": {"pk": s(str(i))}}} for i in range(26)]
    b.call("batch_write_item", RequestItems={table: puts})
    b.call("batch_write_item", RequestItems={table: [puts[0], puts[0]]})
    b.call("batch_write_item", RequestItems={table: [puts[0], {"DeleteRequest": {"Key": {"pk": s("0")}}}]})
    b.call("batch_write_item", RequestItems={table: puts[:25]})


@SCENARIOS.add
def a_write_request_with_neither_put_nor_delete_is_refused(b: Backend) -> None:
    table = b.create_table()
    b.call("batch_write_item", RequestItems={table: [{}]})
    b.call("scan", TableName=table)


@SCENARIOS.add
def batch_get_returns_found_items_and_refuses_over_100_keys(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("a"), "v": n("1")})
    b.call(
        "batch_get_item",
        RequestItems={table: {"Keys": [{"pk": s("a")}, {"pk": s("missing")}], "ProjectionExpression": "v"}},
    )
    b.call("batch_get_item", RequestItems={table: {"Keys": [{"pk": s(str(i))} for i in range(101)]}})
    b.call("batch_get_item", RequestItems={table: {"Keys": [{"pk": s("a")}, {"pk": s("a")}]}})


@SCENARIOS.add
def a_transaction_touching_one_item_twice_is_refused(b: Backend) -> None:
    table = b.create_table()
    b.call(
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": s("k")}}},
            {"Delete": {"TableName": table, "Key": {"pk": s("k")}}},
        ],
    )


@SCENARIOS.add
def a_failed_transaction_condition_cancels_every_write_with_reasons(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("exists"), "v": n("1")})
    try:
        b.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": s("new")}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": s("exists")},
                        "ConditionExpression": "v = :two",
                        "ExpressionAttributeValues": {":two": n("2")},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    except b.ddb.exceptions.TransactionCanceledException as error:
        b.note("cancellation", error.response.get("CancellationReasons"))
    b.call("scan", TableName=table)


@SCENARIOS.add
def transact_get_items_returns_items_in_request_order(b: Backend) -> None:
    table = b.create_table()
    b.call("put_item", TableName=table, Item={"pk": s("a"), "v": n("1")})
    b.call(
        "transact_get_items",
        TransactItems=[
            {"Get": {"TableName": table, "Key": {"pk": s("missing")}}},
            {"Get": {"TableName": table, "Key": {"pk": s("a")}, "ProjectionExpression": "v"}},
        ],
    )


@SCENARIOS.add
def partiql_reads_and_writes_answer_as_dynamodb_does(b: Backend) -> None:
    table = b.create_table()
    b.call("execute_statement", Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'n': 1.50}}")
    b.call(
        "execute_statement",
        Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'n': 2}}",
        local_differs=LocalDiffersFromAws(
            local={"error": "DuplicateItem"},
            aws={"error": "DuplicateItemException"},
            why="ExecuteStatement's modelled error is DuplicateItemException (API reference, botocore's model); "
            "DuplicateItem is the code of a BatchExecuteStatement response's per-statement error",
        ),
    )
    b.call("execute_statement", Statement=f'SELECT * FROM "{table}" WHERE pk = ?', Parameters=[s("a")])
    b.call("execute_statement", Statement=f"UPDATE \"{table}\" SET n = n + 1 WHERE pk = 'a' RETURNING ALL NEW *")
    b.call("execute_statement", Statement=f"DELETE FROM \"{table}\" WHERE pk = 'missing'")


test_matches_dynamodb_local = SCENARIOS.test()
