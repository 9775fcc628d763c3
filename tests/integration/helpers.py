"""Reading the pipeline's outputs back: table items, history lines, archive entries, queue messages."""
from __future__ import annotations

import gzip
import json
import time

from botocore.exceptions import ClientError

RESTORE_DEADLINE_SECONDS = 30


def history_lines(stack) -> list[dict]:
    s3 = stack.client("s3")
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.outputs["history_bucket"], Prefix=stack.outputs["history_prefix"]):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=stack.outputs["history_bucket"], Key=entry["Key"])["Body"].read()
            lines += [json.loads(line) for line in body.decode().splitlines()]
    return lines


def archive_entries(stack) -> list[tuple[str, str, dict]]:
    """(key, storage class, entry) for every archived item, restoring Glacier objects first."""
    s3 = stack.client("s3")
    entries = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.outputs["archive_bucket"], Prefix=stack.outputs["archive_prefix"]):
        for listed in page.get("Contents", []):
            head = s3.head_object(Bucket=stack.outputs["archive_bucket"], Key=listed["Key"])
            storage_class = head.get("StorageClass", "STANDARD")
            if storage_class in ("GLACIER", "DEEP_ARCHIVE"):
                restore(s3, stack.outputs["archive_bucket"], listed["Key"], head)
            body = s3.get_object(Bucket=stack.outputs["archive_bucket"], Key=listed["Key"])["Body"].read()
            text = gzip.decompress(body).decode() if listed["Key"].endswith(".gz") else body.decode()
            entries += [(listed["Key"], storage_class, json.loads(line)) for line in text.splitlines()]
    return entries


def drain(stack, queue_url: str) -> list[dict]:
    sqs = stack.client("sqs")
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", []):
        messages += batch
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    return messages


def queue_depth(stack, queue_url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def table_items(stack, device_prefix: str = "") -> list[dict]:
    dynamodb = stack.client("dynamodb")
    items = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.outputs["table"]):
        items += [item for item in page["Items"] if item["deviceID"]["S"].startswith(device_prefix)]
    return items


def restore(s3, bucket: str, key: str, head: dict) -> None:
    """Ask for a Glacier restore (unless one is done or under way) and wait until it is done."""
    if 'ongoing-request="false"' in head.get("Restore", ""):
        return
    try:
        s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
    except ClientError as error:
        if error.response["Error"]["Code"] != "RestoreAlreadyInProgress":
            raise
    deadline = time.monotonic() + RESTORE_DEADLINE_SECONDS
    while 'ongoing-request="false"' not in s3.head_object(Bucket=bucket, Key=key).get("Restore", ""):
        if time.monotonic() > deadline:
            raise AssertionError(f"the restore of s3://{bucket}/{key} did not finish in {RESTORE_DEADLINE_SECONDS} s")
        time.sleep(0.2)
