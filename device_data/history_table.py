"""The change history as an Athena table: a Glue database and table over Firehose's objects, and
the Athena workgroup that queries it, declared as data.

The table reads each history line (handlers.core.history_lines) with the OpenX JSON SerDe. The
item images are arbitrary device readings, so `new_image` and `old_image` are strings holding
the image's JSON, read with `json_extract_scalar(new_image, '$.temperature')`. The key is a
struct whose field names are the item's attribute names, as written.

Firehose writes under `<prefix>YYYY/MM/DD/HH/` (UTC), without `key=value` folders, so the
`datehour` partition is projected (Athena's partition projection, as its Firehose example does):
no partition is ever added to the catalog, and a query filtering on `datehour` reads only the
hours it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from device_data.table import HASH_KEY, RANGE_KEY

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
HISTORY_TABLE = "history"
PARTITION_KEY = "datehour"
# Firehose's default key layout: the hour the buffer was delivered, in UTC.
PARTITION_FORMAT = "yyyy/MM/dd/HH"
# The first hour projected: no history of this pipeline is older.
PROJECTION_START = "2025/01/01/00"
RESULTS_FOLDER = "athena-results/"

# The history line's keys in its order (handlers.core.history_lines), with their Hive types.
HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("action", "string"),
    ("keys", f"struct<{HASH_KEY}:string,{RANGE_KEY}:bigint>"),
    ("new_image", "string"),
    ("old_image", "string"),
    ("timestamp", "bigint"),
    ("timestamp_utc", "string"),
    ("event_id", "string"),
    ("sequence_number", "string"),
    ("table", "string"),
    ("expired", "boolean"),
)


@dataclass(frozen=True)
class HistoryTable:
    database: str
    table: str
    workgroup: str
    bucket: str
    prefix: str

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def results_location(self) -> str:
        """Where the workgroup's query results go: the history bucket, outside the table's prefix."""
        return f"s3://{self.bucket}/{RESULTS_FOLDER}"

    def projection(self) -> dict[str, str]:
        return {
            "projection.enabled": "true",
            f"projection.{PARTITION_KEY}.type": "date",
            f"projection.{PARTITION_KEY}.format": PARTITION_FORMAT,
            f"projection.{PARTITION_KEY}.range": f"{PROJECTION_START},NOW",
            f"projection.{PARTITION_KEY}.interval": "1",
            f"projection.{PARTITION_KEY}.interval.unit": "HOURS",
            "storage.location.template": f"{self.location}${{{PARTITION_KEY}}}/",
        }

    def database_input(self) -> dict[str, Any]:
        """Glue CreateDatabase's DatabaseInput."""
        return {"Name": self.database, "Description": "The DeviceData table's change history"}

    def table_input(self) -> dict[str, Any]:
        """Glue CreateTable's TableInput, as Athena writes it for the equivalent CREATE EXTERNAL TABLE."""
        return {
            "Name": self.table,
            "Description": "Every change of the DeviceData table, one JSON line per stream record",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"EXTERNAL": "TRUE", "classification": "json", **self.projection()},
            "PartitionKeys": [{"Name": PARTITION_KEY, "Type": "string"}],
            "StorageDescriptor": {
                "Columns": [{"Name": name, "Type": kind} for name, kind in HISTORY_COLUMNS],
                "Location": self.location,
                "InputFormat": TEXT_INPUT_FORMAT,
                "OutputFormat": TEXT_OUTPUT_FORMAT,
                "SerdeInfo": {"SerializationLibrary": JSON_SERDE, "Parameters": {"serialization.format": "1"}},
            },
        }

    def workgroup_configuration(self) -> dict[str, Any]:
        """Athena CreateWorkGroup's Configuration."""
        return {
            "ResultConfiguration": {"OutputLocation": self.results_location},
            "EnforceWorkGroupConfiguration": True,
            "PublishCloudWatchMetricsEnabled": False,
        }


def history_table(env: str, bucket: str, prefix: str) -> HistoryTable:
    """Glue and Athena names allow lower-case letters, digits and underscores only."""
    name = env.lower().replace("-", "_")
    return HistoryTable(
        database=f"{name}_device_data",
        table=HISTORY_TABLE,
        workgroup=f"{env}-device-history",
        bucket=bucket,
        prefix=prefix,
    )
