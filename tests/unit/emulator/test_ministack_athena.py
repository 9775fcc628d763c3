"""Athena in process: queries read the declared Glue table (JSON SerDe, partition projection),
fail as Athena does, write their results where Athena does, and never answer placeholder rows."""

import asyncio
import csv
import importlib
import io
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from device_data.history_table import history_table
from emulator.ministack import athena, ttl
from emulator.ministack.registry import PatchRegistry

BUCKET = "athena-contract-history"
HISTORY = history_table("contract", BUCKET, "dev_DeviceData/")
WORKGROUP_RESULTS = HISTORY.results_location


def call(service, action, payload):
    module = importlib.import_module(f"ministack.services.{service}")
    prefix = {"glue": "AWSGlue", "athena": "AmazonAthena"}[service]
    status, _headers, body = asyncio.run(
        module.handle_request("POST", "/", {"x-amz-target": f"{prefix}.{action}"}, json.dumps(payload).encode(), {})
    )
    return status, json.loads(body) if body else {}


def s3(method, path, body=b"", query=None):
    module = importlib.import_module("ministack.services.s3")
    return asyncio.run(module.handle_request(method, path, {}, body, query or {}))


def line(device, created, action="INSERT", temperature=21.5, expired=False):
    image = {"deviceID": device, "createdAt": created, "temperature": temperature}
    return json.dumps(
        {
            "action": action,
            "keys": {"deviceID": device, "createdAt": created},
            "new_image": None if action == "REMOVE" else image,
            "old_image": image if action != "INSERT" else None,
            "timestamp": created // 1000,
            "timestamp_utc": "2026-11-23 10:00:00",
            "event_id": f"e{created}",
            "sequence_number": str(created),
            "table": "dev_DeviceData",
            "expired": expired,
        }
    )


@pytest.fixture
def patched():
    ttl.import_dynamodb()
    registry = PatchRegistry()
    registry.apply(athena.NO_PLACEHOLDER_ROWS)
    registry.apply(athena.QUERIES_RUN_BY_THE_ENGINE)
    registry.apply(athena.RESULTS_AT_THE_OUTPUT_LOCATION)
    yield
    registry.undo()


@pytest.fixture
def history(patched):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    earlier = hour - timedelta(hours=1)
    assert s3("PUT", f"/{BUCKET}")[0] == 200
    objects = {
        f"dev_DeviceData/{earlier:%Y/%m/%d/%H}/h-1-a": [line("d1", 1000), line("d2", 2000)],
        f"dev_DeviceData/{hour:%Y/%m/%d/%H}/h-1-b": [
            line("d1", 1000, "MODIFY", 22.0),
            line("d2", 2000, "REMOVE", expired=True),
        ],
        # Outside the projection: not a partition folder, and a year before the projected range.
        "dev_DeviceData/stray-object": [line("x", 1)],
        "dev_DeviceData/2024/01/01/00/h-1-old": [line("x", 2)],
    }
    for key, lines in objects.items():
        assert s3("PUT", f"/{BUCKET}/{key}", "".join(f"{text}\n" for text in lines).encode())[0] == 200
    call("glue", "DeleteTable", {"DatabaseName": HISTORY.database, "Name": HISTORY.table})
    call("glue", "CreateDatabase", {"DatabaseInput": HISTORY.database_input()})
    assert (
        call("glue", "CreateTable", {"DatabaseName": HISTORY.database, "TableInput": HISTORY.table_input()})[0] == 200
    )
    return earlier, hour


def run(sql):
    """StartQueryExecution, then GetQueryExecution until it ends, on one event loop: the query
    runs as a task of the loop that served StartQueryExecution."""
    module = importlib.import_module("ministack.services.athena")

    async def scenario():
        _status, _headers, body = await module.handle_request(
            "POST",
            "/",
            {"x-amz-target": "AmazonAthena.StartQueryExecution"},
            json.dumps(
                {
                    "QueryString": sql,
                    "QueryExecutionContext": {"Database": HISTORY.database},
                    "ResultConfiguration": {"OutputLocation": WORKGROUP_RESULTS},
                }
            ).encode(),
            {},
        )
        query_id = json.loads(body)["QueryExecutionId"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _status, _headers, body = module._get_query_execution({"QueryExecutionId": query_id})
            execution = json.loads(body)["QueryExecution"]
            if execution["Status"]["State"] in ("SUCCEEDED", "FAILED"):
                return execution
            await asyncio.sleep(0.02)
        raise AssertionError(f"query {query_id} did not finish in 10 s")

    return asyncio.run(scenario())


def rows(execution):
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    status, answer = call("athena", "GetQueryResults", {"QueryExecutionId": execution["QueryExecutionId"]})
    assert status == 200
    return [[datum.get("VarCharValue") for datum in row["Data"]] for row in answer["ResultSet"]["Rows"]]


def test_the_history_table_is_read_with_its_declared_columns_and_projected_partitions(history):
    earlier, hour = history
    execution = run(
        "SELECT datehour, action, keys.deviceID AS device, json_extract_scalar(new_image, '$.temperature') AS t, "
        "expired FROM history ORDER BY datehour, device"
    )
    assert rows(execution) == [
        ["datehour", "action", "device", "t", "expired"],
        [f"{earlier:%Y/%m/%d/%H}", "INSERT", "d1", "21.5", "false"],
        [f"{earlier:%Y/%m/%d/%H}", "INSERT", "d2", "21.5", "false"],
        [f"{hour:%Y/%m/%d/%H}", "MODIFY", "d1", "22.0", "false"],
        [f"{hour:%Y/%m/%d/%H}", "REMOVE", "d2", None, "true"],
    ]


def test_a_group_by_counts_and_a_partition_filter_reads_only_its_hour(history):
    _earlier, hour = history
    execution = run(
        f"SELECT action, count(*) AS n FROM history WHERE datehour = '{hour:%Y/%m/%d/%H}' "
        "GROUP BY action ORDER BY action"
    )
    assert rows(execution) == [["action", "n"], ["MODIFY", "1"], ["REMOVE", "1"]]


def test_results_are_written_to_the_output_location_as_csv_with_a_header(history):
    execution = run("SELECT keys.deviceID AS device, count(*) AS changes FROM history GROUP BY 1 ORDER BY 1")
    output = execution["ResultConfiguration"]["OutputLocation"]
    assert output == f"{WORKGROUP_RESULTS}{execution['QueryExecutionId']}.csv"
    status, _headers, body = s3("GET", "/" + output.removeprefix("s3://"))
    assert status == 200
    assert list(csv.reader(io.StringIO(body.decode()))) == [["device", "changes"], ["d1", "2"], ["d2", "2"]]


def test_a_table_glue_does_not_have_fails_the_query_naming_it(history):
    execution = run("SELECT *\nFROM  nope")
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"] == (
        f"TABLE_NOT_FOUND: line 2:7: Table 'awsdatacatalog.{HISTORY.database}.nope' does not exist"
    )


def test_sql_errors_are_athenas_in_one_line(history):
    unknown_column = run("SELECT temperature FROM history")
    assert (
        unknown_column["Status"]["StateChangeReason"]
        == "COLUMN_NOT_FOUND: line 1:8: Column 'temperature' cannot be resolved"
    )
    syntax = run("SELEC 1")
    assert syntax["Status"]["State"] == "FAILED"
    assert syntax["Status"]["StateChangeReason"].startswith("SYNTAX_ERROR: line 1:1: ")
    assert "\n" not in syntax["Status"]["StateChangeReason"]


def test_without_an_engine_a_query_fails_instead_of_answering_placeholder_rows(patched, monkeypatch):
    module = importlib.import_module("ministack.services.athena")
    monkeypatch.setattr(module, "ATHENA_ENGINE", "mock")
    execution = run("SELECT 1")
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"] == athena.NO_ENGINE


def test_a_csv_table_is_still_read_by_ministacks_own_path(history):
    assert s3("PUT", f"/{BUCKET}/csv/rows.csv", b"a,1\nb,2\n")[0] == 200
    call("glue", "DeleteTable", {"DatabaseName": HISTORY.database, "Name": "rows"})
    table = {
        "Name": "rows",
        "StorageDescriptor": {
            "Columns": [{"Name": "name", "Type": "string"}, {"Name": "n", "Type": "int"}],
            "Location": f"s3://{BUCKET}/csv/",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                "Parameters": {"field.delim": ","},
            },
        },
    }
    assert call("glue", "CreateTable", {"DatabaseName": HISTORY.database, "TableInput": table})[0] == 200
    assert rows(run("SELECT name, n FROM rows ORDER BY n")) == [["name", "n"], ["a", "1"], ["b", "2"]]
