"""The pipeline's resources, declared once, as data.

`declare(config, account_id)` returns the whole stack; `deploy`, `teardown`, `outputs` and
`status` all read it. Settings come from the seed designs, corrected where they were wrong:
- the queue's visibility timeout is six times the function timeout (AWS's guidance for Lambda
  consumers; the seed's 900 s queue with a 900 s function gets messages delivered twice);
- unprocessable messages end in a dead-letter queue (maxReceiveCount 5), never dropped;
- one table stream (NEW_AND_OLD_IMAGES) feeds both history and archive;
- every role may call only the actions its function uses on the resources it uses (the seeds
  gave AmazonS3FullAccess and an admin role);
- buckets block public access, encrypt by default and deny requests without TLS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bootstrap.config import StackConfig, TableBilling
from device_data.table import HASH_KEY, RANGE_KEY, TTL_ATTRIBUTE

RUNTIME = "python3.12"
MAX_RECEIVE_COUNT = 5
PROVISIONED_READ, PROVISIONED_WRITE = 38, 22


@dataclass(frozen=True)
class QueueUrl:
    """A queue's URL, known only once the queue exists; the deployer resolves it."""

    queue: str


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str
    range_key: str
    billing: TableBilling
    ttl_attribute: str
    stream_view: str = "NEW_AND_OLD_IMAGES"
    point_in_time_recovery: bool = True


@dataclass(frozen=True)
class Queue:
    name: str
    visibility_timeout: int = 30
    retention_seconds: int = 1_209_600
    dead_letter_queue: str | None = None
    sender_role: str | None = None


@dataclass(frozen=True)
class Bucket:
    name: str
    versioned: bool


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Role:
    name: str
    service: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class DeliveryStream:
    name: str
    bucket: str
    prefix: str
    role: str
    buffer_seconds: int
    buffer_mb: int


@dataclass(frozen=True)
class Function:
    key: str
    name: str
    handler: str
    role: str
    timeout: int
    memory: int
    environment: tuple[tuple[str, str | QueueUrl], ...]


@dataclass(frozen=True)
class EventSourceMapping:
    function: str
    source_queue: str | None = None
    source_table: str | None = None
    batch_size: int = 10
    batching_window: int = 0
    starting_position: str | None = None
    bisect_on_error: bool = False
    retry_attempts: int | None = None
    on_failure_queue: str | None = None
    filter_patterns: tuple[str, ...] = ()
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class Stack:
    config: StackConfig
    account_id: str
    table: Table
    queues: tuple[Queue, ...]
    buckets: tuple[Bucket, ...]
    roles: tuple[Role, ...]
    delivery_stream: DeliveryStream
    functions: tuple[Function, ...]
    mappings: tuple[EventSourceMapping, ...]
    names: dict = field(default_factory=dict)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.config.region}:{self.account_id}:{resource}"

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"

    def queue_arn(self, name: str) -> str:
        return self.arn("sqs", name)

    def function(self, key: str) -> Function:
        return next(function for function in self.functions if function.key == key)


def declare(config: StackConfig, account_id: str) -> Stack:
    env, region = config.env, config.region
    arn = lambda service, resource: f"arn:aws:{service}:{region}:{account_id}:{resource}"  # noqa: E731

    table = Table(f"{env}_DeviceData", HASH_KEY, RANGE_KEY, config.billing, TTL_ATTRIBUTE)
    table_arn = arn("dynamodb", f"table/{table.name}")
    stream_arns = f"{table_arn}/stream/*"

    ingest_queue, dlq, failures = f"{env}_ba_sqs", f"{env}_ba_sqs_dlq", f"{env}_stream_failures"
    device_role = f"{env}-iot-device"
    history_bucket = f"{env}-device-history-{account_id}"
    archive_bucket = f"{env}-device-archive-{account_id}"
    delivery_stream = f"{env}-device-history"
    names = {
        "ingest": f"{env}-sensor-data-ingest",
        "history": f"{env}-dynamodb-history",
        "archive": f"{env}-dynamodb-archive",
    }

    def logs(function_name: str) -> Statement:
        return Statement(
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
            (
                arn("logs", f"log-group:/aws/lambda/{function_name}"),
                arn("logs", f"log-group:/aws/lambda/{function_name}:*"),
            ),
        )

    stream_reader = Statement(
        ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"),
        (stream_arns,),
    )
    send_failures = Statement(("sqs:SendMessage",), (arn("sqs", failures),))
    roles = (
        Role(device_role, "iot.amazonaws.com", (Statement(("sqs:SendMessage",), (arn("sqs", ingest_queue),)),)),
        Role(
            f"{names['ingest']}-role",
            "lambda.amazonaws.com",
            (
                Statement(("dynamodb:BatchWriteItem", "dynamodb:PutItem"), (table_arn,)),
                Statement(
                    (
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ),
                    (arn("sqs", ingest_queue),),
                ),
                Statement(("sqs:SendMessage",), (arn("sqs", dlq),)),
                logs(names["ingest"]),
            ),
        ),
        Role(
            f"{names['history']}-role",
            "lambda.amazonaws.com",
            (
                stream_reader,
                send_failures,
                Statement(("firehose:PutRecordBatch",), (arn("firehose", f"deliverystream/{delivery_stream}"),)),
                logs(names["history"]),
            ),
        ),
        Role(
            f"{names['archive']}-role",
            "lambda.amazonaws.com",
            (
                stream_reader,
                send_failures,
                Statement(("s3:PutObject",), (f"arn:aws:s3:::{archive_bucket}/archive/*",)),
                logs(names["archive"]),
            ),
        ),
        Role(
            f"{delivery_stream}-firehose-role",
            "firehose.amazonaws.com",
            (
                Statement(
                    (
                        "s3:AbortMultipartUpload",
                        "s3:GetBucketLocation",
                        "s3:ListBucket",
                        "s3:ListBucketMultipartUploads",
                    ),
                    (f"arn:aws:s3:::{history_bucket}",),
                ),
                Statement(
                    ("s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"), (f"arn:aws:s3:::{history_bucket}/*",)
                ),
            ),
        ),
    )

    function_settings = {"timeout": config.function_timeout, "memory": config.function_memory}
    ttl_environment = (("TTL_ATTRIBUTE", table.ttl_attribute),)
    ingest_environment: tuple = (
        ("TABLE_NAME", table.name),
        ("DLQ_URL", QueueUrl(dlq)),
        ("TTL_SECONDS", str(config.ttl_seconds)),
    )
    if config.app_env:
        ingest_environment += (("APP_ENV", config.app_env),)
    functions = (
        Function(
            "ingest",
            names["ingest"],
            "handlers.ingest.handler",
            f"{names['ingest']}-role",
            environment=ingest_environment,
            **function_settings,
        ),
        Function(
            "history",
            names["history"],
            "handlers.history.handler",
            f"{names['history']}-role",
            environment=(("DELIVERY_STREAM_NAME", delivery_stream), *ttl_environment),
            **function_settings,
        ),
        Function(
            "archive",
            names["archive"],
            "handlers.archive.handler",
            f"{names['archive']}-role",
            environment=(
                ("ARCHIVE_BUCKET", archive_bucket),
                ("ARCHIVE_STORAGE_CLASS", config.archive_storage_class),
                ("ARCHIVE_LAYOUT", config.archive_layout),
                *ttl_environment,
            ),
            **function_settings,
        ),
    )

    # A short window fills the batches (one Firehose call per up to 100 changes, one archive object
    # per up to 100 expiries) at the cost of at most a second before Firehose's own buffering.
    stream_mapping = {
        "source_table": table.name,
        "batch_size": 100,
        "batching_window": config.stream_batch_window,
        "starting_position": "TRIM_HORIZON",
        "bisect_on_error": True,
        "retry_attempts": config.stream_retry_attempts,
        "on_failure_queue": failures,
    }
    mappings = (
        EventSourceMapping(
            names["ingest"],
            source_queue=ingest_queue,
            batch_size=20,
            batching_window=config.ingest_batch_window,
            report_batch_item_failures=True,
        ),
        EventSourceMapping(names["history"], **stream_mapping),
        # The filter passes every REMOVE: LocalStack's TTL deletes carry no userIdentity, so the
        # archive function itself tells a TTL removal from a manual delete.
        EventSourceMapping(
            names["archive"], filter_patterns=(json.dumps({"eventName": ["REMOVE"]}),), **stream_mapping
        ),
    )

    return Stack(
        config=config,
        account_id=account_id,
        table=table,
        queues=(
            Queue(dlq),
            Queue(failures),
            Queue(
                ingest_queue,
                visibility_timeout=6 * config.function_timeout,
                dead_letter_queue=dlq,
                sender_role=device_role,
            ),
        ),
        buckets=(Bucket(history_bucket, versioned=True), Bucket(archive_bucket, versioned=False)),
        roles=roles,
        delivery_stream=DeliveryStream(
            delivery_stream,
            history_bucket,
            f"{table.name}/",
            f"{delivery_stream}-firehose-role",
            config.history_buffer_seconds,
            config.history_buffer_mb,
        ),
        functions=functions,
        mappings=mappings,
        names=names,
    )


def policy_document(role: Role) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(statement.actions), "Resource": list(statement.resources)}
            for statement in role.statements
        ],
    }


def trust_document(role: Role) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": role.service}, "Action": "sts:AssumeRole"}],
    }


def queue_policy(stack: Stack, queue: Queue) -> dict | None:
    if not queue.sender_role:
        return None
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheDeviceRoleSends",
                "Effect": "Allow",
                "Principal": {"AWS": stack.role_arn(queue.sender_role)},
                "Action": "sqs:SendMessage",
                "Resource": stack.queue_arn(queue.name),
            }
        ],
    }


def bucket_policy(bucket: Bucket) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyRequestsWithoutTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket.name}", f"arn:aws:s3:::{bucket.name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
