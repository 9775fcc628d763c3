import gzip
import json

import boto3
import pytest

from env_settings.reader import SettingError
from handlers import archive
from handlers.core.archive_objects import ArchiveError, boto3_item
from handlers.settings import ArchiveSettings
from tests.unit.events import device_item, device_keys, stream_record

NOW = 1_800_000_000


def expired_item(n, device="dev-0001"):
    return device_item(device, 1_700_000_000_000 + n, NOW - 10, temperature={"N": f"21.{n}"}, tags={"SS": ["a", "b"]})


def ttl_removal(item, created=NOW, **kwargs):
    return stream_record("REMOVE", device_keys(item), old_image=item, created=created, table="dev_DeviceData", **kwargs)


def archived_objects(bucket):
    """Every archive object: its storage class and its body, read after a Glacier restore
    (GetObject on an unrestored GLACIER object fails, as on S3)."""
    s3 = boto3.client("s3")
    objects = {}
    for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        if entry["StorageClass"] in ("GLACIER", "DEEP_ARCHIVE"):
            s3.restore_object(Bucket=bucket, Key=entry["Key"], RestoreRequest={"Days": 1})
        objects[entry["Key"]] = (entry["StorageClass"], s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
    return objects


def entries_of(body):
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def test_ttl_removals_of_one_invocation_become_one_glacier_object(archive_bucket, lambda_context):
    records = [ttl_removal(expired_item(n), ttl_removal=True) for n in range(3)]
    archive.handler({"Records": records}, lambda_context)
    ((key, (storage_class, body)),) = archived_objects(archive_bucket).items()
    assert storage_class == "GLACIER"
    assert key.startswith("archive/dev_DeviceData/2027/01/15/") and key.endswith(".jsonl.gz")
    assert [entry["event_id"] for entry in entries_of(body)] == [r["eventID"] for r in records]


def test_manual_deletes_inserts_and_modifies_are_not_archived(archive_bucket, lambda_context):
    live = device_item("dev-0001", 1_700_000_000_000, NOW + 1000)
    records = [
        ttl_removal(live),  # a person deleted a live item
        stream_record("INSERT", device_keys(live), new_image=live, table="dev_DeviceData"),
        stream_record("MODIFY", device_keys(live), new_image=live, old_image=live, table="dev_DeviceData"),
    ]
    archive.handler({"Records": records}, lambda_context)
    assert archived_objects(archive_bucket) == {}


def test_on_ttl_if_expired_a_removal_without_identity_whose_ttl_passed_counts_as_ttl(
    archive_bucket, lambda_context, monkeypatch
):
    monkeypatch.setenv("REMOVALS_WITHOUT_IDENTITY", "ttl-if-expired")
    expired, live = expired_item(1), device_item("dev-0002", 1_700_000_000_000, NOW + 1)
    archive.handler({"Records": [ttl_removal(expired), ttl_removal(live)]}, lambda_context)
    ((_, (_, body)),) = archived_objects(archive_bucket).items()
    assert [entry["item"] for entry in entries_of(body)] == [expired]


def test_by_default_a_removal_without_identity_is_manual_even_when_its_ttl_passed(archive_bucket, lambda_context):
    """As on AWS, where every TTL delete carries DynamoDB's userIdentity: deleting by hand an
    item that expired but was not swept yet is not a TTL removal."""
    archive.handler({"Records": [ttl_removal(expired_item(1))]}, lambda_context)
    assert archived_objects(archive_bucket) == {}


def test_a_retried_batch_overwrites_its_object_instead_of_archiving_twice(archive_bucket, lambda_context):
    records = [ttl_removal(expired_item(n), ttl_removal=True) for n in range(4)]
    archive.handler({"Records": records}, lambda_context)
    first = archived_objects(archive_bucket)
    archive.handler({"Records": records}, lambda_context)
    assert archived_objects(archive_bucket) == first


def test_archived_entry_restores_the_exact_item(archive_bucket, device_table, lambda_context):
    item = device_item(
        "dev-0001",
        1_700_000_000_000,
        NOW - 1,
        reading={"M": {"t": {"N": "0.1"}, "raw": {"B": "AAEC"}}},
        ns={"NS": ["1", "2.5"]},
    )
    archive.handler({"Records": [ttl_removal(item, ttl_removal=True)]}, lambda_context)
    ((_, (_, body)),) = archived_objects(archive_bucket).items()
    (entry,) = entries_of(body)
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName=device_table.name, Item=boto3_item(entry["item"]))
    restored = dynamodb.get_item(TableName=device_table.name, Key=boto3_item(entry["keys"]))["Item"]
    assert restored["reading"]["M"]["t"] == {"N": "0.1"}
    assert restored["reading"]["M"]["raw"]["B"] == bytes([0, 1, 2])
    assert sorted(restored["ns"]["NS"]) == ["1", "2.5"]
    assert entry["expired_at"] == NOW - 1 and entry["removed_at"] == NOW


def test_per_item_layout_writes_the_seed_key_per_item(archive_bucket, lambda_context, monkeypatch):
    monkeypatch.setenv("ARCHIVE_LAYOUT", "per-item")
    records = [ttl_removal(expired_item(n), ttl_removal=True) for n in range(2)]
    archive.handler({"Records": records}, lambda_context)
    objects = archived_objects(archive_bucket)
    assert sorted(objects) == ["archive/dev-0001/1700000000000.json", "archive/dev-0001/1700000000001.json"]
    assert all(storage_class == "GLACIER" for storage_class, _ in objects.values())
    assert json.loads(objects["archive/dev-0001/1700000000001.json"][1])["item"] == expired_item(1)


def test_storage_class_comes_from_the_environment(archive_bucket, lambda_context, monkeypatch):
    monkeypatch.setenv("ARCHIVE_STORAGE_CLASS", "DEEP_ARCHIVE")
    archive.handler({"Records": [ttl_removal(expired_item(1), ttl_removal=True)]}, lambda_context)
    assert [storage_class for storage_class, _ in archived_objects(archive_bucket).values()] == ["DEEP_ARCHIVE"]


def test_s3_failure_raises_so_the_batch_is_retried(archive_bucket, lambda_context, inject_faults, make_client_error):
    def refuse(real, **kwargs):
        raise make_client_error("AccessDenied", status=403)

    inject_faults(archive, "s3", put_object=refuse)
    with pytest.raises(Exception, match="AccessDenied"):
        archive.handler({"Records": [ttl_removal(expired_item(1), ttl_removal=True)]}, lambda_context)


def test_a_removal_without_old_image_is_an_error_not_a_silent_skip(archive_bucket, lambda_context):
    record = ttl_removal(expired_item(1), ttl_removal=True)
    del record["dynamodb"]["OldImage"]
    with pytest.raises(ArchiveError, match="NEW_AND_OLD_IMAGES"):
        archive.handler({"Records": [record]}, lambda_context)


def test_unknown_layout_is_a_configuration_error():
    with pytest.raises(SettingError, match="ARCHIVE_LAYOUT"):
        ArchiveSettings.from_env({"ARCHIVE_BUCKET": "b", "ARCHIVE_LAYOUT": "zip"})
