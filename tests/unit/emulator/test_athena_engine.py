"""The engine's pure parts: which objects a projected table reads, Hive types, Athena's text."""

import datetime as dt

from device_data.history_table import history_table
from emulator.athena_engine import athena_error, athena_text, duckdb_type, partitions

NOW = dt.datetime(2026, 11, 23, 16, 30, tzinfo=dt.UTC)
HISTORY = history_table("dev", "b", "dev_DeviceData/").table_input()


def test_projection_reads_only_projected_hours_up_to_now_and_skips_hidden_objects():
    keys = [
        "dev_DeviceData/2026/11/23/15/a",
        "dev_DeviceData/2026/11/23/16/b",
        "dev_DeviceData/2026/11/23/16/_temporary",
        "dev_DeviceData/2026/11/23/17/future",
        "dev_DeviceData/2024/12/31/23/before-the-range",
        "dev_DeviceData/not-a-partition",
        "errors/2026/11/23/16/x",
    ]
    found = partitions(HISTORY, keys, NOW)
    assert [(p.values, p.keys) for p in found] == [
        ((("datehour", "2026/11/23/15"),), ("dev_DeviceData/2026/11/23/15/a",)),
        ((("datehour", "2026/11/23/16"),), ("dev_DeviceData/2026/11/23/16/b",)),
    ]


def test_without_a_template_projection_reads_hive_folders_and_enums_limit_the_values():
    table = {
        "StorageDescriptor": {"Location": "s3://b/t"},
        "PartitionKeys": [{"Name": "site", "Type": "string"}],
        "Parameters": {"projection.enabled": "true", "projection.site.type": "enum", "projection.site.values": "a,b"},
    }
    found = partitions(table, ["t/site=a/1", "t/site=c/2", "t/a/3"], NOW)
    assert [(p.values, p.keys) for p in found] == [((("site", "a"),), ("t/site=a/1",))]


def test_hive_types_become_duckdbs_and_values_read_as_athena_writes_them():
    assert duckdb_type("struct<deviceID:string,createdAt:bigint>") == 'STRUCT("deviceID" VARCHAR, "createdAt" BIGINT)'
    assert duckdb_type("map<string,array<int>>") == "MAP(VARCHAR, INTEGER[])"
    assert duckdb_type("decimal(38,0)") == "DECIMAL(38,0)"
    assert athena_text({"deviceID": "d1", "createdAt": 1}) == "{deviceID=d1, createdAt=1}"
    assert athena_text([1, None, {"a": None}]) == "[1, null, {a=null}]"
    assert athena_text(True) == "true" and athena_text(None) is None


def test_an_unknown_function_is_athenas_function_not_found():
    class CatalogException(Exception):
        pass

    error = CatalogException(
        'Catalog Error: Scalar Function with name foo does not exist!\nDid you mean "floor"?\n\n'
        "LINE 1: select foo(1)\n               ^^^^^^"
    )
    assert athena_error(error, "select foo(1)", "db") == "FUNCTION_NOT_FOUND: line 1:8: Function 'foo' not registered"
