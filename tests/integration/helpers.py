"""Reading the pipeline's outputs back: table items, history lines, archive entries, queue messages."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

from botocore.exceptions import ClientError

from bootstrap.outputs import archive_counts

RESTORE_DEADLINE_SECONDS = 30


def history_lines(stack) -> list[dict]:
    s3 = stack.client("s3")
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.outputs["history_bucket"], Prefix=stack.outputs["history_prefix"]
    ):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=stack.outputs["history_bucket"], Key=entry["Key"])["Body"].read()
            lines += [json.loads(line) for line in body.decode().splitlines()]
    return lines


def archive_entries(stack) -> list[tuple[str, str, dict]]:
    """(key, storage class, entry) for every archived item. Glacier objects are restored first,
    all restores requested before waiting on any, as one would on S3."""
    s3, bucket = stack.client("s3"), stack.outputs["archive_bucket"]
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=stack.outputs["archive_prefix"]):
        for listed in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=listed["Key"])
            objects.append((listed["Key"], head.get("StorageClass", "STANDARD"), head))
    for key, storage_class, head in objects:
        if storage_class in ("GLACIER", "DEEP_ARCHIVE"):
            request_restore(s3, bucket, key, head)
    entries = []
    for key, storage_class, _ in objects:
        if storage_class in ("GLACIER", "DEEP_ARCHIVE"):
            wait_restored(s3, bucket, key)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        text = gzip.decompress(body).decode() if key.endswith(".gz") else body.decode()
        entries += [(key, storage_class, json.loads(line)) for line in text.splitlines()]
    return entries


def archived_item_count(stack) -> int:
    return archive_counts(stack.client("s3"), stack.outputs["archive_bucket"], stack.outputs["archive_prefix"])[1]


def drain(stack, queue_url: str) -> list[dict]:
    sqs = stack.client("sqs")
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []):
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return messages


def queue_depth(stack, queue_url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def table_items(stack, device_prefix: str = "") -> list[dict]:
    dynamodb = stack.client("dynamodb")
    items = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.outputs["table"]):
        items += [item for item in page["Items"] if item["deviceID"]["S"].startswith(device_prefix)]
    return items


def request_restore(s3, bucket: str, key: str, head: dict) -> None:
    """Ask for a Glacier restore unless one is done or under way."""
    if head.get("Restore"):
        return
    try:
        s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
    except ClientError as error:
        if error.response["Error"]["Code"] != "RestoreAlreadyInProgress":
            raise


def wait_restored(s3, bucket: str, key: str) -> None:
    deadline = time.monotonic() + RESTORE_DEADLINE_SECONDS
    while 'ongoing-request="false"' not in s3.head_object(Bucket=bucket, Key=key).get("Restore", ""):
        if time.monotonic() > deadline:
            raise AssertionError(f"the restore of s3://{bucket}/{key} did not finish in {RESTORE_DEADLINE_SECONDS} s")
        time.sleep(0.2)


def end_process(settings, signum) -> None:
    """Signal only the data plane, and wait until it is gone."""
    from emulator.lifecycle import Paths, process_alive

    pid = int(Paths(Path(settings.state_dir)).pid_file("dataplane").read_text())
    os.kill(pid, signum)
    deadline = time.monotonic() + 30
    while process_alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"data plane {pid} did not exit")
        time.sleep(0.05)
