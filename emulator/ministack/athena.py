"""Athena on the embedded backend: real SQL over the objects of Glue tables, or a loud failure.

MiniStack runs a query with DuckDB when the package is installed, and otherwise answers any
SELECT with a placeholder row (`mock_value`). With DuckDB, it reads a JSON table with DuckDB's
guessed columns, not the declared ones, knows partitions only from `key=value` folders (so a
table over Firehose's `YYYY/MM/DD/HH/` layout with partition projection has no partition
column), and leaves a table missing from Glue to DuckDB, whose error names no database.

Here:
- `QUERIES_RUN_BY_THE_ENGINE`: a query over JSON SerDe tables runs in `emulator.athena_engine`
  (declared columns and types, partition projection, Athena's errors in one line); a table not
  in Glue fails the query with Athena's TABLE_NOT_FOUND. Queries over other formats (CSV,
  Parquet...) or S3 Tables catalogs keep MiniStack's path.
- `NO_PLACEHOLDER_ROWS`: without an engine a query fails, saying what to install.
- `RESULTS_AT_THE_OUTPUT_LOCATION`: MiniStack reports `<location><id>.csv` as the result's
  OutputLocation, as Athena does, but wrote the file under it (`<id>.csv/<id>.csv`); it is now
  written where it is reported, with its `.metadata` beside it.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterable
from typing import Any

from emulator.athena_engine import (
    JSON_SERDES,
    AthenaQueryError,
    QueryResult,
    TableObjects,
    run_query,
    table_not_found,
)
from emulator.ministack.registry import Originals, Patch, Target

ATHENA = "ministack.services.athena"
RUN_DUCKDB = Target(ATHENA, "_run_duckdb")
SAVE_RESULTS = Target(ATHENA, "_save_query_results")
MOCK_RESULTS = Target(ATHENA, "_mock_query_results")

NO_ENGINE = (
    "GENERIC_INTERNAL_ERROR: the embedded backend has no SQL engine for Athena queries: "
    "install duckdb in its virtualenv (pip install duckdb; make install does)"
)


def _no_placeholder(originals: Originals) -> dict[Target, Any]:
    def refuse(query: str) -> dict[str, Any]:
        raise RuntimeError(NO_ENGINE)

    return {MOCK_RESULTS: refuse}


NO_PLACEHOLDER_ROWS = Patch(
    name="athena-no-placeholder-rows",
    summary="Without DuckDB an Athena query fails, saying so, instead of answering placeholder rows",
    targets={MOCK_RESULTS: "e7b9c45309d6d2efc028ba4409069ec98343086a11aed665f5fecf6f61b67457"},
    build=_no_placeholder,
    # The DDL path (CREATE/DROP TABLE) runs before the engine is chosen and keeps working.
    relies_on={Target(ATHENA, "_execute_query"): "0c4e4ef194947b6452cdebb5e1265fb6d98c79bf446fe135587e7dfaf8df6752"},
)


def _s3_objects() -> TableObjects:
    s3 = importlib.import_module("ministack.services.s3")

    def list_keys(bucket: str, prefix: str) -> Iterable[str]:
        stored = s3._buckets.get(bucket)
        return [key for key in list(stored["objects"]) if key.startswith(prefix)] if stored else []

    def read(bucket: str, key: str) -> bytes:
        return s3._get_object_data(bucket, key) or b""

    return TableObjects(list_keys, read)


def glue_tables(query: str, database: str) -> dict[tuple[str, str], dict[str, Any]] | None:
    """The Glue table of every table `query` names, by (database, table); None when it names an
    S3 Tables catalog or a table the engine does not read (not JSON: CSV, Parquet...), which
    MiniStack's own path answers. Raises AthenaQueryError for a table Glue does not have."""
    athena = importlib.import_module(ATHENA)
    glue = importlib.import_module("ministack.services.glue")
    tables = {}
    for reference in athena._table_references(query):
        if (reference.catalog or "").lower().startswith(athena._S3_TABLES_CATALOG_PREFIX):
            return None
        # A name followed by "(" is a function in FROM (UNNEST, VALUES), not a table.
        if query[reference.end :].lstrip().startswith("("):
            continue
        schema = reference.database or database
        table = glue._tables.get(f"{schema}/{reference.table}")
        if table is None:
            line = query.count("\n", 0, reference.start) + 1
            column = reference.start - (query.rfind("\n", 0, reference.start) + 1) + 1
            where = f"line {line}:{column}: "
            if schema not in glue._databases:
                raise AthenaQueryError(f"SCHEMA_NOT_FOUND: {where}Schema '{schema}' does not exist")
            raise AthenaQueryError(table_not_found(f"{schema}.{reference.table}", database, where))
        serde = ((table.get("StorageDescriptor") or {}).get("SerdeInfo") or {}).get("SerializationLibrary")
        if serde not in JSON_SERDES:
            return None
        tables[(schema, reference.table)] = table
    return tables


def _engine_runs_queries(originals: Originals) -> dict[Target, Any]:
    original = originals[RUN_DUCKDB]

    async def run(query: str, database: str, catalog: str | None = None) -> dict[str, Any]:
        tables = glue_tables(query, database or "default")
        if tables is None:
            result: dict[str, Any] = await original(query, database, catalog)
            return result
        answer: QueryResult = await asyncio.to_thread(run_query, query, database or "default", tables, _s3_objects())
        return {"columns": answer.columns, "column_types": answer.column_types, "rows": answer.rows}

    return {RUN_DUCKDB: run}


QUERIES_RUN_BY_THE_ENGINE = Patch(
    name="athena-queries-through-glue-tables",
    summary=(
        "Athena queries read Glue tables as declared (JSON SerDe columns and types, partition projection) "
        "and fail as Athena does (TABLE_NOT_FOUND, COLUMN_NOT_FOUND, ... in one line)"
    ),
    targets={RUN_DUCKDB: "734c2e91cdac17e05a7d2dd2bcbc90227fddd54033e8274dd6acacb7852f133d"},
    build=_engine_runs_queries,
    relies_on={
        Target(ATHENA, "_table_references"): "f2a468cd12d96ce7fbf39a9ca7aefc9af195ba8fc722add7c8523bef01f9c05a",
        Target(ATHENA, "_S3_TABLES_CATALOG_PREFIX"): "d47d692a2276208b235e778d0c324cb029ee8703d5657f42e7a6286c55ebfc1f",
        Target(ATHENA, "_execute_query"): "0c4e4ef194947b6452cdebb5e1265fb6d98c79bf446fe135587e7dfaf8df6752",
        # The S3 store's shape, as MiniStack's own reader of a table's objects uses it.
        Target(ATHENA, "_materialize_table_files"): "e4f134f666f9c516d316244978063db6c1c0bf02d5069f9d9f6d318abc4ecc7d",
        Target(
            "ministack.services.s3", "_get_object_data"
        ): "8735d1f5e33130762824a98fd11199beaa4a2153ee9459ad97f33b97c8798277",
    },
)


def _results_where_reported(originals: Originals) -> dict[Target, Any]:
    original = originals[SAVE_RESULTS]

    async def save(query_id: str) -> None:
        execution = importlib.import_module(ATHENA)._executions.get(query_id)
        configuration = execution["ResultConfiguration"]
        reported = configuration["OutputLocation"]
        # The original appends "<id>.csv" to the folder it is given.
        configuration["OutputLocation"] = reported.rsplit("/", 1)[0] + "/"
        try:
            await original(query_id)
        finally:
            configuration["OutputLocation"] = reported

    return {SAVE_RESULTS: save}


RESULTS_AT_THE_OUTPUT_LOCATION = Patch(
    name="athena-results-at-the-output-location",
    summary="A query's result CSV is written at the OutputLocation GetQueryExecution reports, not under it",
    targets={SAVE_RESULTS: "4ff2ac770a744f4b2e55a98ff1c5e877220ee2c36018a4ed805d88e6131f60ff"},
    build=_results_where_reported,
)
