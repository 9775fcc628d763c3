"""What the stack is (outputs.json) and how much is in each stage (status), from the declaration."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from aws_calls.sessions import ClientFactory
from bootstrap.stack import BucketRole, QueueRole, Stack


def outputs(stack: Stack, queue_url: Callable[[str], str], iot_endpoint: str | None = None) -> dict:
    """`iot_endpoint`: where devices connect (Deployer.iot_endpoint), None where IoT Core is not served."""
    history, archive = stack.bucket(BucketRole.HISTORY), stack.bucket(BucketRole.ARCHIVE)
    return {
        "endpoint": stack.config.endpoint,
        "region": stack.config.region,
        "table": stack.table.name,
        "queue_url": queue_url(stack.queue(QueueRole.INGEST).name),
        "dlq_url": queue_url(stack.queue(QueueRole.DEAD_LETTER).name),
        "failures_queue_url": queue_url(stack.queue(QueueRole.STREAM_FAILURES).name),
        "history_bucket": history.name,
        "history_prefix": history.prefix,
        "archive_bucket": archive.name,
        "archive_prefix": archive.prefix,
        "delivery_stream": stack.delivery_stream.name,
        "functions": {str(function.role): function.name for function in stack.functions},
        "iot_endpoint": iot_endpoint,
        "iot_topic_rule": stack.topic_rule.name,
        "iot_errors_queue_url": queue_url(stack.queue(QueueRole.IOT_ERRORS).name),
        "history_database": stack.history_table.database,
        "history_table": stack.history_table.table,
        "athena_workgroup": stack.history_table.workgroup,
    }


def outputs_path(state_dir: str) -> Path:
    return Path(state_dir) / "outputs.json"


def write_outputs(values: dict, state_dir: str) -> Path:
    path = outputs_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Replaced, not rewritten: a reader never sees half a file, and a file another user left
    # (the compose bootstrap before it ran as the host user) does not stop the next deploy.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(values, indent=2) + "\n")
    os.replace(partial, path)
    return path


def archive_counts(s3, bucket: str, prefix: str) -> tuple[int, int]:
    """(objects, items) in the archive. Each object's item-count metadata is read with HeadObject,
    which works on Glacier objects without a restore."""
    objects = items = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            objects += 1
            items += int(s3.head_object(Bucket=bucket, Key=entry["Key"])["Metadata"]["item-count"])
    return objects, items


def stage_counts(values: dict, client: ClientFactory) -> dict:
    """How many messages, items, history lines and archived items each stage holds now."""
    sqs, dynamodb, s3 = client("sqs"), client("dynamodb"), client("s3")

    def queue_depth(url: str) -> dict:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return {
            "visible": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        }

    items = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=values["table"], Select="COUNT"):
        items += page["Count"]

    history_objects = history_lines = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=values["history_bucket"], Prefix=values["history_prefix"]
    ):
        for entry in page.get("Contents", []):
            history_objects += 1
            history_lines += (
                s3.get_object(Bucket=values["history_bucket"], Key=entry["Key"])["Body"].read().count(b"\n")
            )

    archive_objects, archived_items = archive_counts(s3, values["archive_bucket"], values["archive_prefix"])
    return {
        "ingest_queue": queue_depth(values["queue_url"]),
        "dead_letter_queue": queue_depth(values["dlq_url"]),
        "stream_failures_queue": queue_depth(values["failures_queue_url"]),
        "iot_errors_queue": queue_depth(values["iot_errors_queue_url"]),
        "table_items": items,
        "history": {"objects": history_objects, "lines": history_lines},
        "archive": {"objects": archive_objects, "items": archived_items},
    }
