"""Athena's query engine, locally: SQL over the objects of Glue tables, run by DuckDB.

Each table a query names becomes a DuckDB view in a catalog named `awsdatacatalog`, so the SQL
runs as written (`history`, `db.history`, `awsdatacatalog.db.history`). A table is read as its
Glue definition says:
- the OpenX/Hive JSON SerDe: one JSON document per line, each declared column with its declared
  type (a `string` column holding an object or an array reads as that value's JSON text, as the
  SerDe returns it); keys are matched as written (the OpenX SerDe ignores case);
- partition projection (`projection.enabled`): the partitions are computed from the projection
  (`date` and `enum` types), and only objects under `storage.location.template` for a projected
  value are read, as Athena does; without projection, `key=value` folders give the partitions.
A handful of Trino functions DuckDB names differently are defined as macros, and DuckDB's
errors are told as Athena tells them, in one line.

Used by the embedded backend's Athena (emulator.ministack.athena) and by `make query` where the
backend has no Athena (reading the same S3 objects).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CATALOG = "awsdatacatalog"
JSON_SERDES = ("org.openx.data.jsonserde.JsonSerDe", "org.apache.hive.hcatalog.data.JsonSerDe")

# Trino functions the sample queries and common history questions use, under DuckDB's names.
TRINO_MACROS = (
    "json_extract_scalar(j, p) AS json_extract_string(j, p)",
    "from_unixtime(s) AS make_timestamp(CAST(s * 1000000 AS BIGINT))",
    "to_unixtime(t) AS epoch(t)",
    "from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
    "date_format(t, f) AS strftime(t, f)",
)

_HIVE_SCALARS = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}
# DuckDB's result types as Athena names them in ResultSetMetadata.
_ATHENA_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "decimal",
    "FLOAT": "float",
    "DOUBLE": "double",
    "DECIMAL": "decimal",
    "VARCHAR": "varchar",
    "JSON": "json",
    "BLOB": "varbinary",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "STRUCT": "row",
    "MAP": "map",
}
# Java's date patterns (Athena's projection formats) as regular expressions and strptime codes.
_DATE_PATTERN_PARTS = (
    ("yyyy", r"\d{4}", "%Y"),
    ("MM", r"\d{2}", "%m"),
    ("dd", r"\d{2}", "%d"),
    ("HH", r"\d{2}", "%H"),
    ("mm", r"\d{2}", "%M"),
    ("ss", r"\d{2}", "%S"),
)
_UNIT_SECONDS = {"SECONDS": 1, "MINUTES": 60, "HOURS": 3600, "DAYS": 86400}


class AthenaQueryError(Exception):
    """A query that fails, with Athena's one-line reason (`TABLE_NOT_FOUND: line 1:15: ...`)."""


@dataclass(frozen=True)
class TableObjects:
    """Where a table's objects are read from: the keys under a bucket prefix, and their bytes."""

    list_keys: Callable[[str, str], Iterable[str]]
    read: Callable[[str, str], bytes]


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    column_types: list[str]
    # Each value as Athena's GetQueryResults gives it: text, or None for NULL.
    rows: list[list[str | None]]


def run_query(
    query: str, database: str, tables: Mapping[tuple[str, str], dict[str, Any]], objects: TableObjects
) -> QueryResult:
    """Run `query` with `database` as the current schema; `tables` maps (database, table) to the
    Glue table of every table the query names."""
    import duckdb

    workdir = tempfile.mkdtemp(prefix="athena-engine-")
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for macro in TRINO_MACROS:
            connection.execute(f"CREATE OR REPLACE TEMP MACRO {macro}")
        connection.execute(f"ATTACH ':memory:' AS {CATALOG}")
        for schema in {schema for schema, _ in tables} | {database}:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {CATALOG}.{quoted(schema)}")
        for (schema, name), table in tables.items():
            relation = table_relation(table, objects, os.path.join(workdir, schema, name))
            connection.execute(f"CREATE VIEW {CATALOG}.{quoted(schema)}.{quoted(name)} AS SELECT * FROM {relation}")
        connection.execute(f"USE {CATALOG}.{quoted(database)}")
        try:
            result = connection.execute(query)
            description = result.description or []
            rows = result.fetchall()
        except duckdb.Error as error:
            raise AthenaQueryError(athena_error(error, query, database)) from None
        return QueryResult(
            columns=[column[0] for column in description],
            column_types=[athena_type(str(column[1])) for column in description],
            rows=[[athena_text(value) for value in row] for row in rows],
        )
    finally:
        connection.close()
        shutil.rmtree(workdir, ignore_errors=True)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- types -------------------------------------------------------------------


def duckdb_type(hive: str) -> str:
    """A Hive column type (`struct<a:string,b:array<int>>`) as DuckDB's."""
    text = hive.strip()
    lowered = text.lower()
    if lowered.startswith("struct<") and text.endswith(">"):
        fields = []
        for member in _top_level_split(text[len("struct<") : -1]):
            name, _, kind = member.partition(":")
            fields.append(f"{quoted(name.strip())} {duckdb_type(kind)}")
        return f"STRUCT({', '.join(fields)})"
    if lowered.startswith("array<") and text.endswith(">"):
        return f"{duckdb_type(text[len('array<') : -1])}[]"
    if lowered.startswith("map<") and text.endswith(">"):
        key, value = _top_level_split(text[len("map<") : -1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if lowered.startswith("decimal"):
        return lowered.upper() if "(" in lowered else "DECIMAL(10,0)"
    base = lowered.split("(")[0].strip()
    return _HIVE_SCALARS.get(base, "VARCHAR")


def _top_level_split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def athena_type(duckdb_name: str) -> str:
    base = duckdb_name.upper().split("(")[0].strip()
    if base.endswith("[]"):
        return "array"
    return _ATHENA_TYPES.get(base, "varchar")


def athena_text(value: Any) -> str | None:
    """A value as Athena's result set writes it: `{a=1, b=x}` for a row, `[1, 2]` for an array."""
    if value is None:
        return None
    if isinstance(value, dict | list | tuple):
        return _nested_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + (" UTC" if value.tzinfo else "")
    if isinstance(value, Decimal | float | int | dt.date):
        return str(value)
    if isinstance(value, bytes):
        return value.hex(" ")
    return str(value)


def _nested_text(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_nested_text(member)}" for key, member in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_nested_text(member) for member in value) + "]"
    return "null" if value is None else str(athena_text(value))


# -- partitions --------------------------------------------------------------


@dataclass(frozen=True)
class Partitioned:
    """The objects of one partition (all of a table without partitions) and its values."""

    keys: tuple[str, ...]
    values: tuple[tuple[str, str], ...]


def _bucket_and_prefix(location: str) -> tuple[str, str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    return bucket, prefix


def _hidden(relative_key: str) -> bool:
    # Athena (Trino's Hive reader) skips files and folders whose name starts with "_" or ".".
    return any(part.startswith(("_", ".")) for part in relative_key.split("/"))


def partitions(table: dict[str, Any], keys: Iterable[str], now: dt.datetime) -> list[Partitioned]:
    """Which of a table's object keys Athena reads, grouped by partition values."""
    storage = table.get("StorageDescriptor") or {}
    parameters = table.get("Parameters") or {}
    partition_keys = [str(key["Name"]) for key in table.get("PartitionKeys") or []]
    _bucket, prefix = _bucket_and_prefix(str(storage.get("Location") or ""))
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    readable = sorted(key for key in keys if key.startswith(prefix) and not key.endswith("/"))
    readable = [key for key in readable if not _hidden(key[len(prefix) :])]
    if not partition_keys:
        return [Partitioned(tuple(readable), ())] if readable else []
    if str(parameters.get("projection.enabled", "")).lower() == "true":
        match = _projected_matcher(parameters, partition_keys, now)
        # Without a template, Athena projects Hive's layout under the location: key=value folders.
        template = str(
            parameters.get("storage.location.template")
            or f"{str(storage.get('Location')).rstrip('/')}/"
            + "/".join(f"{name}=${{{name}}}" for name in partition_keys)
            + "/"
        )
        _bucket, template_key = _bucket_and_prefix(template)
        pattern = _template_pattern(template_key, partition_keys, parameters)
    else:
        match = None
        pattern = re.compile(
            re.escape(prefix)
            + "".join(rf"(?:[^/]*/)*?{re.escape(name)}=(?P<p{i}>[^/]+)/" for i, name in enumerate(partition_keys))
        )
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for key in readable:
        found = pattern.match(key)
        if not found:
            continue
        values = tuple((name, found.group(f"p{index}")) for index, name in enumerate(partition_keys))
        if match is not None and not match(values):
            continue
        groups.setdefault(values, []).append(key)
    return [Partitioned(tuple(members), values) for values, members in sorted(groups.items())]


def _template_pattern(
    template_key: str, partition_keys: Sequence[str], parameters: Mapping[str, Any]
) -> re.Pattern[str]:
    pattern = re.escape(template_key)
    for index, name in enumerate(partition_keys):
        kind = str(parameters.get(f"projection.{name}.type", ""))
        if kind == "date":
            value = _date_regex(str(parameters.get(f"projection.{name}.format", "")))
        elif kind == "enum":
            value = "|".join(
                re.escape(v.strip()) for v in str(parameters.get(f"projection.{name}.values", "")).split(",")
            )
        elif kind == "integer":
            value = r"-?\d+"
        else:
            raise AthenaQueryError(f"NOT_SUPPORTED: partition projection type '{kind}' of column '{name}'")
        pattern = pattern.replace(re.escape(f"${{{name}}}"), f"(?P<p{index}>{value})")
    return re.compile(pattern)


def _date_regex(java_format: str) -> str:
    regex = re.escape(java_format)
    for java, part, _code in _DATE_PATTERN_PARTS:
        regex = regex.replace(java, part)
    return regex


def _strptime_format(java_format: str) -> str:
    text = java_format
    for java, _part, code in _DATE_PATTERN_PARTS:
        text = text.replace(java, code)
    return text


def _projected_matcher(
    parameters: Mapping[str, Any], partition_keys: Sequence[str], now: dt.datetime
) -> Callable[[tuple[tuple[str, str], ...]], bool]:
    """Whether a partition's values are ones the projection generates (in range, on the interval)."""
    checks: dict[str, Callable[[str], bool]] = {}
    for name in partition_keys:
        kind = str(parameters.get(f"projection.{name}.type", ""))
        if kind == "date":
            checks[name] = _date_check(parameters, name, now)
        elif kind == "integer":
            checks[name] = _integer_check(str(parameters.get(f"projection.{name}.range", "")))
    return lambda values: all(checks[name](value) for name, value in values if name in checks)


def _integer_check(projected_range: str) -> Callable[[str], bool]:
    low, _, high = projected_range.partition(",")
    return lambda value: int(low) <= int(value) <= int(high)


def _date_check(parameters: Mapping[str, Any], name: str, now: dt.datetime) -> Callable[[str], bool]:
    code = _strptime_format(str(parameters.get(f"projection.{name}.format", "")))
    start_text, _, end_text = str(parameters.get(f"projection.{name}.range", "")).partition(",")
    unit = _UNIT_SECONDS.get(str(parameters.get(f"projection.{name}.interval.unit", "DAYS")).upper(), 86400)
    step = int(str(parameters.get(f"projection.{name}.interval", "1"))) * unit

    def moment(text: str) -> dt.datetime:
        text = text.strip()
        if text.upper() == "NOW":
            return now
        return dt.datetime.strptime(text, code).replace(tzinfo=dt.UTC)

    start, end = moment(start_text), moment(end_text)

    def check(value: str) -> bool:
        try:
            when = dt.datetime.strptime(value, code).replace(tzinfo=dt.UTC)
        except ValueError:
            return False
        return start <= when <= end and (when - start).total_seconds() % step == 0

    return check


# -- relations ---------------------------------------------------------------


def table_relation(table: dict[str, Any], objects: TableObjects, workdir: str) -> str:
    """A DuckDB relation over a Glue table's objects, copied into `workdir`."""
    storage = table.get("StorageDescriptor") or {}
    serde = str((storage.get("SerdeInfo") or {}).get("SerializationLibrary") or "")
    name = str(table.get("Name", ""))
    if serde not in JSON_SERDES:
        raise AthenaQueryError(
            f"NOT_SUPPORTED: table '{name}' uses SerDe '{serde}'; this engine reads JSON SerDe tables"
        )
    columns = [
        (str(column["Name"]), duckdb_type(str(column.get("Type", "string")))) for column in storage.get("Columns") or []
    ]
    partition_columns = [str(key["Name"]) for key in table.get("PartitionKeys") or []]
    bucket, _prefix = _bucket_and_prefix(str(storage.get("Location") or ""))
    found = partitions(table, objects.list_keys(bucket, _prefix), dt.datetime.now(dt.UTC))
    if not found:
        projected = [f"CAST(NULL AS {kind}) AS {quoted(column)}" for column, kind in columns]
        projected += [f"CAST(NULL AS VARCHAR) AS {quoted(column)}" for column in partition_columns]
        return f"(SELECT {', '.join(projected)} WHERE FALSE)"
    declared = "{" + ", ".join(f"{_literal(column)}: {_literal(kind)}" for column, kind in columns) + "}"
    selects = []
    for index, partition in enumerate(found):
        folder = os.path.join(workdir, str(index))
        os.makedirs(folder, exist_ok=True)
        files = []
        for number, key in enumerate(partition.keys):
            path = os.path.join(folder, f"{number}.json")
            with open(path, "wb") as file:
                file.write(objects.read(bucket, key))
            files.append(path)
        values = "".join(f", {_literal(value)} AS {quoted(column)}" for column, value in partition.values)
        listed = "[" + ", ".join(_literal(path) for path in files) + "]"
        selects.append(f"SELECT *{values} FROM read_json({listed}, format = 'newline_delimited', columns = {declared})")
    return "(" + " UNION ALL ".join(selects) + ")"


# -- errors ------------------------------------------------------------------

_POSITION = re.compile(r"^LINE (\d+): ", re.MULTILINE)


def athena_error(error: Exception, query: str, database: str) -> str:
    """DuckDB's error as Athena words it, in one line: `COLUMN_NOT_FOUND: line 1:8: ...`."""
    text = str(error)
    first = text.splitlines()[0] if text else type(error).__name__
    where = _where(text)
    message = first.split(": ", 1)[1] if ": " in first else first
    if found := re.match(r'Referenced column "?(.+?)"? not found', message):
        return f"COLUMN_NOT_FOUND: {where}Column '{found.group(1)}' cannot be resolved"
    if found := re.match(r"Table with name (\S+?) does not exist", message):
        return table_not_found(found.group(1), database, where)
    if found := re.match(r"(?:Scalar|Aggregate|Table) Function with name (\S+?) does not exist", message):
        return f"FUNCTION_NOT_FOUND: {where}Function '{found.group(1)}' not registered"
    category = {
        "ParserException": "SYNTAX_ERROR",
        "BinderException": "SYNTAX_ERROR",
        "ConversionException": "INVALID_CAST_ARGUMENT",
        "OutOfRangeException": "NUMERIC_VALUE_OUT_OF_RANGE",
        "InvalidInputException": "INVALID_FUNCTION_ARGUMENT",
    }.get(type(error).__name__, "GENERIC_USER_ERROR")
    return f"{category}: {where}{message}"


def table_not_found(name: str, database: str, where: str = "") -> str:
    parts = name.split(".")
    qualified = ".".join(([CATALOG] if len(parts) < 3 else []) + ([database] if len(parts) < 2 else []) + parts)
    return f"TABLE_NOT_FOUND: {where}Table '{qualified.lower()}' does not exist"


def _where(text: str) -> str:
    """`line L:C: ` from DuckDB's `LINE L: <query line>` and the caret under it."""
    found = _POSITION.search(text)
    if not found:
        return ""
    after = text[found.end() :].split("\n")
    if len(after) < 2 or "^" not in after[1]:
        return f"line {found.group(1)}:1: "
    return f"line {found.group(1)}:{after[1].index('^') - len(found.group(0)) + 1}: "
