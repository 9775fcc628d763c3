"""make query (result formatting, the DuckDB path) and make restore (selection, planning, put-back)."""

import gzip
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError

from bootstrap.config import StackConfig
from bootstrap.query import OutputFormat, QueryError, athena_offered, format_result, query_duckdb, result_rows
from bootstrap.restore import (
    ArchivedObject,
    Request,
    RestoreError,
    Restorer,
    Tier,
    candidate,
    entries,
    epoch_ms,
    matches,
    restored_item,
)
from device_data.history_table import history_table
from tests.unit.bootstrap.test_stack import NoIotCore

COLUMNS = ["device", "changes"]
ROWS = [["dev-0001", "12"], ["dev-0002", None]]
REQUEST = Request("dev-0001", epoch_ms("2026-11-01"), epoch_ms("2026-11-02T00:00:00Z"), 30)


def test_a_table_aligns_columns_shows_null_and_counts_rows():
    assert format_result(COLUMNS, ROWS, OutputFormat.TABLE) == (
        "device   | changes\n---------+--------\ndev-0001 | 12\ndev-0002 | NULL\n(2 rows)\n"
    )


def test_csv_has_a_header_and_empty_nulls_and_json_keeps_null():
    assert format_result(COLUMNS, ROWS, OutputFormat.CSV) == "device,changes\ndev-0001,12\ndev-0002,\n"
    assert json.loads(format_result(COLUMNS, ROWS, OutputFormat.JSON)) == [
        {"device": "dev-0001", "changes": "12"},
        {"device": "dev-0002", "changes": None},
    ]


def test_a_dml_results_first_row_of_column_names_is_not_a_row():
    def page(*rows):
        return {
            "ResultSet": {
                "ResultSetMetadata": {"ColumnInfo": [{"Name": "a"}]},
                "Rows": [{"Data": [{"VarCharValue": value} if value else {}]} for value in rows],
            }
        }

    assert result_rows([page("a", "1"), page("2", None)], "DML") == (["a"], [["1"], ["2"], [None]])


def test_iso_times_are_utc_unless_they_say_otherwise():
    assert epoch_ms("2026-11-01") == 1793491200000
    assert epoch_ms("2026-11-01T09:00:00+09:00") == 1793491200000
    with pytest.raises(RestoreError, match="not an ISO 8601"):
        epoch_ms("yesterday")


def test_per_item_objects_are_chosen_by_their_key():
    assert candidate(f"archive/dev-0001/{REQUEST.start_ms + 5}.json", "archive/", REQUEST)
    assert not candidate(f"archive/dev-0002/{REQUEST.start_ms + 5}.json", "archive/", REQUEST)
    assert not candidate(f"archive/dev-0001/{REQUEST.end_ms + 1}.json", "archive/", REQUEST)


def test_batch_objects_removed_before_the_range_cannot_hold_its_readings():
    def batch(day):
        return f"archive/dev_DeviceData/{day}/2026-01-01T000000.000/1-2-abc.jsonl.gz"

    assert candidate(batch("2026/11/01"), "archive/", REQUEST)
    assert candidate(batch("2027/11/01"), "archive/", REQUEST)
    assert not candidate(batch("2026/10/31"), "archive/", REQUEST)


def test_an_object_is_readable_once_restored_and_waited_for_while_restoring():
    assert not ArchivedObject("k", "GLACIER", "").readable
    assert ArchivedObject("k", "GLACIER", 'ongoing-request="true"').restoring
    assert ArchivedObject("k", "GLACIER", 'ongoing-request="false", expiry-date="x"').readable
    assert ArchivedObject("k", "STANDARD", "").readable


def test_entries_match_on_device_and_created_at_and_keep_every_attribute_but_the_ttl():
    item = {
        "deviceID": {"S": "dev-0001"},
        "createdAt": {"N": str(REQUEST.start_ms)},
        "expiredAt": {"N": "1"},
        "raw": {"B": "AAE="},
        "tags": {"SS": ["a"]},
    }
    entry = {"keys": {"deviceID": item["deviceID"], "createdAt": item["createdAt"]}, "item": item}
    body = gzip.compress((json.dumps(entry) + "\n").encode())
    (read,) = entries("x.jsonl.gz", body)
    assert matches(read, REQUEST)
    assert not matches({**read, "keys": {**read["keys"], "createdAt": {"N": str(REQUEST.end_ms + 1)}}}, REQUEST)
    renewed = restored_item(read, "expiredAt", 30, now=1000.0)
    assert renewed == {**item, "raw": {"B": b"\x00\x01"}, "expiredAt": {"N": str(1000 + 30 * 86400)}}
    assert "expiredAt" not in restored_item(read, "expiredAt", None, now=1000.0)


def test_without_athena_duckdb_reads_the_same_objects_through_the_same_table(mocked_aws):
    config = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    history = history_table("dev", "dev-device-history-000000000000", "dev_DeviceData/")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=history.bucket)
    hour = datetime.now(UTC)
    line = {"action": "INSERT", "keys": {"deviceID": "d1", "createdAt": 1}, "new_image": {"temperature": 20}}
    s3.put_object(
        Bucket=history.bucket,
        Key=f"dev_DeviceData/{hour:%Y/%m/%d/%H}/dev-device-history-1-x",
        Body=(json.dumps(line) + "\n").encode(),
    )
    client = lambda service: NoIotCore() if service == "athena" else boto3.client(service, region_name="us-east-1")  # noqa: E731
    assert not athena_offered(config, client, history.workgroup)
    sql = "SELECT keys.deviceID AS device, json_extract_scalar(new_image, '$.temperature') AS t, datehour FROM history"
    assert query_duckdb(client, sql, history.table_input(), history.database) == (
        ["device", "t", "datehour"],
        [["d1", "20", f"{hour:%Y/%m/%d/%H}"]],
    )
    with pytest.raises(QueryError, match=r"^TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.dev_device_data.nope'"):
        query_duckdb(client, "SELECT * FROM nope", history.table_input(), history.database)


def test_put_back_restores_new_readings_skips_present_ones_and_reports_each_failure(device_table):
    s3 = boto3.client("s3", region_name="us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    s3.create_bucket(Bucket="archive")

    def archived(created, **extra):
        keys = {"deviceID": {"S": "dev-0001"}, "createdAt": {"N": str(created)}}
        entry = {"keys": keys, "item": {**keys, "t": {"N": "1"}, **extra}}
        s3.put_object(Bucket="archive", Key=f"archive/dev-0001/{created}.json", Body=json.dumps(entry).encode())

    start = REQUEST.start_ms
    archived(start)
    archived(start + 1)
    # A key attribute of the wrong type: DynamoDB refuses the item, the others still go in.
    archived(start + 2, deviceID={"N": "1"})
    dynamodb.put_item(
        TableName=device_table.name, Item={"deviceID": {"S": "dev-0001"}, "createdAt": {"N": str(start + 1)}}
    )
    restorer = Restorer(
        lambda service: boto3.client(service, region_name="us-east-1"),
        "archive",
        "archive/",
        device_table.name,
        "expiredAt",
    )

    objects = restorer.plan(REQUEST)
    assert [archived.readable for archived in objects] == [True, True, True]
    outcome = restorer.put_back(REQUEST, objects, now=1000.0)

    assert outcome.restored == [f"dev-0001@{start}"]
    assert outcome.skipped == [f"dev-0001@{start + 1}"]
    assert [name for name, _reason in outcome.failed] == [f"dev-0001@{start + 2}"]
    assert "ValidationException" in outcome.failed[0][1]


class FakeGlacier:
    """S3 as a restore meets it: one object already restoring (readable after two looks), one archived."""

    def __init__(self):
        self.requested, self.looks = [], 0

    def restore_object(self, Bucket, Key, RestoreRequest):
        if Key == "restoring":
            raise ClientError({"Error": {"Code": "RestoreAlreadyInProgress"}}, "RestoreObject")
        self.requested.append((Key, RestoreRequest["GlacierJobParameters"]["Tier"]))

    def head_object(self, Bucket, Key):
        self.looks += 1
        done = self.looks > 2
        return {"StorageClass": "GLACIER", "Restore": f'ongoing-request="{"false" if done else "true"}"'}


def test_an_object_already_restoring_is_waited_for_not_asked_again_and_progress_is_said():
    glacier, said = FakeGlacier(), []
    restorer = Restorer(lambda _service: glacier, "b", "archive/", "t", "expiredAt", said.append, poll_seconds=0)
    objects = [
        ArchivedObject("restoring", "GLACIER", 'ongoing-request="true"'),
        ArchivedObject("archived", "GLACIER", ""),
        ArchivedObject("restored", "GLACIER", 'ongoing-request="false", expiry-date="x"'),
    ]
    assert restorer.request_restores(objects, Tier.BULK) == 1
    assert glacier.requested == [("archived", "Bulk")]
    restorer.wait_readable(objects)
    assert said[0] == "waiting for 2 of 3 archive objects to be restored (0 s)"
