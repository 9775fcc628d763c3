"""python -m bootstrap.query --sql "SELECT ..." [--format table|csv|json]: SQL over the change history.

Through Athena where the backend has it (the embedded backend, AWS): StartQueryExecution in the
stack's workgroup with the history database as the current one, then GetQueryResults. Where it
has not (LocalStack Community), DuckDB reads the same S3 objects through the same table
definition (emulator.athena_engine). A failed query prints Athena's reason in one line.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from aws_calls.sessions import ClientFactory
from bootstrap.__main__ import _check_backend as check_backend_of
from bootstrap.cli import one_line_errors
from bootstrap.clients import client_factory
from bootstrap.config import DeployTarget, StackConfig
from bootstrap.deploy import _code, _not_offered
from bootstrap.local_stack import StackError
from bootstrap.stack import declare
from emulator.lifecycle import EmulatorError
from emulator.settings import EmulatorSettings
from env_settings.reader import SettingError

COMMAND = "query"
POLL_SECONDS = 0.2
QUERY_DEADLINE_SECONDS = 600
DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class QueryError(Exception):
    """A query that failed: Athena's reason, one line."""


Rows = list[list[str | None]]


def format_result(columns: Sequence[str], rows: Rows, output: OutputFormat) -> str:
    if output == OutputFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if value is None else value for value in row] for row in rows)
        return buffer.getvalue()
    if output == OutputFormat.JSON:
        return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], indent=2) + "\n"
    return format_table(columns, rows)


def format_table(columns: Sequence[str], rows: Rows) -> str:
    """Aligned columns, NULL for a null, and the row count."""
    shown = [["NULL" if value is None else value for value in row] for row in rows]
    widths = [max([len(name)] + [len(row[index]) for row in shown]) for index, name in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return " | ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()

    lines = [line(columns), "-+-".join("-" * width for width in widths)] + [line(row) for row in shown]
    count = f"({len(rows)} row{'' if len(rows) == 1 else 's'})"
    return "\n".join([*lines, count]) + "\n"


def result_rows(pages: Sequence[dict[str, Any]], statement_type: str) -> tuple[list[str], Rows]:
    """Columns and rows from GetQueryResults pages: a DML result's first row repeats the column names."""
    columns = [str(info["Name"]) for info in pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] if pages else []
    rows: Rows = []
    for number, page in enumerate(pages):
        page_rows = page["ResultSet"]["Rows"]
        if number == 0 and statement_type == "DML":
            page_rows = page_rows[1:]
        rows += [[datum.get("VarCharValue") for datum in row["Data"]] for row in page_rows]
    return columns, rows


def athena_offered(config: StackConfig, client: ClientFactory, workgroup: str) -> bool:
    try:
        client("athena").get_work_group(WorkGroup=workgroup)
    except ClientError as error:
        if config.is_local and _not_offered(error):
            return False
        if _code(error) == "InvalidRequestException":
            raise StackError(f"the Athena workgroup {workgroup} does not exist: deploy first (make deploy)") from None
        raise
    return True


def query_athena(client: ClientFactory, sql: str, database: str, workgroup: str) -> tuple[list[str], Rows]:
    athena = client("athena")
    query_id = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database}, WorkGroup=workgroup
    )["QueryExecutionId"]
    deadline = time.monotonic() + QUERY_DEADLINE_SECONDS
    while True:
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        status = execution["Status"]
        if status["State"] in DONE:
            break
        if time.monotonic() > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise QueryError(f"query {query_id} did not finish in {QUERY_DEADLINE_SECONDS} s: stopped")
        time.sleep(POLL_SECONDS)
    if status["State"] != "SUCCEEDED":
        reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or status["State"]
        raise QueryError(" ".join(str(reason).split()))
    pages = list(athena.get_paginator("get_query_results").paginate(QueryExecutionId=query_id))
    return result_rows(pages, execution.get("StatementType", "DML"))


def query_duckdb(client: ClientFactory, sql: str, table_input: dict[str, Any], database: str) -> tuple[list[str], Rows]:
    from emulator.athena_engine import AthenaQueryError, TableObjects, run_query

    s3 = client("s3")

    def list_keys(bucket: str, prefix: str) -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    def read(bucket: str, key: str) -> bytes:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    try:
        result = run_query(sql, database, {(database, table_input["Name"]): table_input}, TableObjects(list_keys, read))
    except AthenaQueryError as error:
        raise QueryError(str(error)) from None
    return result.columns, result.rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap.query", description="SQL over the change history.")
    parser.add_argument("--sql", required=True, help="the query (Athena's SQL); the history table is `history`")
    parser.add_argument("--format", type=OutputFormat, choices=list(OutputFormat), default=OutputFormat.TABLE)
    parser.add_argument("--target", type=DeployTarget, choices=list(DeployTarget), default=DeployTarget.LOCAL)
    args = parser.parse_args(argv)
    if not args.sql.strip():
        print('error: no SQL given: make query SQL="SELECT ..."', file=sys.stderr)
        return 2

    def work() -> int:
        config = StackConfig.from_env(args.target)
        # As every other command: only this stack's backend, and one line when nothing answers.
        check_backend_of(config, EmulatorSettings.from_env(), COMMAND)
        client = client_factory(config)
        history = declare(config, client("sts").get_caller_identity()["Account"]).history_table
        try:
            if athena_offered(config, client, history.workgroup):
                columns, rows = query_athena(client, args.sql, history.database, history.workgroup)
            else:
                columns, rows = query_duckdb(client, args.sql, history.table_input(), history.database)
        except QueryError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        sys.stdout.write(format_result(columns, rows, args.format))
        return 0

    return one_line_errors(work, (SettingError, StackError, EmulatorError))


if __name__ == "__main__":
    sys.exit(main())
