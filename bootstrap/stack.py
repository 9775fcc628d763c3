"""The pipeline's resources, declared once, as data.

`declare(config, account_id)` returns the whole stack; `declare_template(config)` the same with
CloudFormation's placeholders, which bootstrap.template renders into the one template that every
deploy, teardown, outputs and status goes through. Settings come from the seed designs, corrected where they were wrong:
- the queue's visibility timeout is six times the function timeout (AWS's guidance for Lambda
  consumers; the seed's 900 s queue with a 900 s function gets messages delivered twice);
- unprocessable messages end in a dead-letter queue (maxReceiveCount 5), never dropped;
- one table stream (NEW_AND_OLD_IMAGES) feeds both history and archive;
- every role may call only the actions its function uses on the resources it uses (the seeds
  gave AmazonS3FullAccess and an admin role);
- buckets block public access, encrypt by default and deny requests without TLS;
- devices reach the queue only through the topic rule (SQS action, useBase64): the rule's role
  is the one principal the ingest queue admits, and a failed rule execution is parked on its own
  queue by the rule's error action; a device's IoT policy lets it connect as its own thing and
  publish only to its own topic.

Every resource carries its role in the pipeline (QueueRole, BucketRole, FunctionRole, and for an
IAM role whom it serves, AssumedBy), and is found by it: `stack.queue(QueueRole.INGEST)`.
Nothing is recognised by its shape or its name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

from bootstrap.config import StackConfig
from device_data.archive import ARCHIVE_PREFIX
from device_data.history_table import HistoryTable, history_table
from device_data.messages import SENSOR_TOPIC_FILTER, sensor_topic
from device_data.table import HASH_KEY, RANGE_KEY, STREAM_VIEW, TTL_ATTRIBUTE
from env_settings.reader import SettingError

RUNTIME = "python3.12"
MAX_RECEIVE_COUNT = 5
INGEST_BATCH_SIZE = 20
# Firehose takes 500 records per PutRecordBatch: a batch of up to 1,000 changes costs the history
# function one or two calls, and the archive one object, where batches of 100 cost one each.
# GetRecords returns at most 1,000 records, so one poll can fill a batch.
STREAM_BATCH_SIZE = 1000
# Lambda refuses an SQS mapping whose batch is over this without a batching window of at least 1 s.
SQS_BATCH_WITHOUT_WINDOW = 10
# The rules engine's current SQL version; it is what AWS picks when a rule names none.
IOT_SQL_VERSION = "2016-03-23"
# IoT policy variables: AWS fills them in per connection, so one policy serves every device.
THING_NAME = "${iot:Connection.Thing.ThingName}"
PROVISIONED_READ, PROVISIONED_WRITE = 38, 22


class Parameter(StrEnum):
    """What a deploy sets without editing the declaration: the template's parameters. A declared
    value that is a Parameter is the parameter's value at deploy time (bootstrap.template)."""

    ENV_NAME = "EnvName"
    TTL_SECONDS = "TtlSeconds"
    BILLING_MODE = "BillingMode"
    HISTORY_BUFFER_SECONDS = "HistoryBufferSeconds"
    HISTORY_BUFFER_MB = "HistoryBufferMB"
    INGEST_BATCH_WINDOW = "IngestBatchWindowSeconds"
    STREAM_BATCH_WINDOW = "StreamBatchWindowSeconds"
    # Where the deploy uploaded the functions' zip.
    CODE_BUCKET = "CodeBucket"
    CODE_KEY = "CodeKey"
    # `iot`: devices publish to IoT Core; `queue`: a backend without IoT Core (LocalStack
    # Community), where the topic rule and the device policy are left out.
    DEVICE_INGRESS = "DeviceIngress"
    # How the history and archive functions read a REMOVE without userIdentity
    # (device_data.archive.RemovalsWithoutIdentity): `ttl-if-expired` only on LocalStack.
    REMOVALS_WITHOUT_IDENTITY = "RemovalsWithoutIdentity"
    # `athena`: the history table (Glue database and table, Athena workgroup); `duckdb`: a backend
    # without Glue and Athena (LocalStack Community), where make query reads S3 with DuckDB.
    HISTORY_QUERIES = "HistoryQueries"


class QueueRole(StrEnum):
    INGEST = "ingest"
    DEAD_LETTER = "dead_letter"
    STREAM_FAILURES = "stream_failures"
    # Where the topic rule's error action parks the messages it could not deliver.
    IOT_ERRORS = "iot_errors"


class BucketRole(StrEnum):
    HISTORY = "history"
    ARCHIVE = "archive"


class FunctionRole(StrEnum):
    INGEST = "ingest"
    HISTORY = "history"
    ARCHIVE = "archive"


class AssumedBy(StrEnum):
    """Whom an IAM role serves. The topic rule's role is named `<env>-iot-device`, as the role
    the queue policy admitted was before the rule was declared."""

    TOPIC_RULE = "topic_rule"
    TOPIC_RULE_ERRORS = "topic_rule_errors"
    INGEST_FUNCTION = "ingest_function"
    HISTORY_FUNCTION = "history_function"
    ARCHIVE_FUNCTION = "archive_function"
    DELIVERY_STREAM = "delivery_stream"


@dataclass(frozen=True)
class QueueUrl:
    """A queue's URL, known only once the queue exists; the template refers to the queue for it."""

    queue: str


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str
    range_key: str
    ttl_attribute: str
    billing: Parameter = Parameter.BILLING_MODE
    stream_view: str = STREAM_VIEW
    point_in_time_recovery: bool = True


@dataclass(frozen=True)
class Queue:
    role: QueueRole
    name: str
    visibility_timeout: int = 30
    retention_seconds: int = 1_209_600
    dead_letter_queue: str | None = None
    sender_role: str | None = None


@dataclass(frozen=True)
class Bucket:
    role: BucketRole
    name: str
    versioned: bool
    # Where the pipeline writes its objects in the bucket.
    prefix: str


@dataclass(frozen=True)
class Statement:
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Role:
    assumed_by: AssumedBy
    name: str
    service: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class TopicRule:
    """An IoT topic rule whose one action sends each message to a queue, and whose error action
    sends what failed to another, each as an IAM role of its own."""

    name: str
    sql: str
    queue: str
    role: str
    error_queue: str
    error_role: str
    use_base64: bool = True
    sql_version: str = IOT_SQL_VERSION


@dataclass(frozen=True)
class IotPolicy:
    """An IoT policy: what a device may do once connected (attached to its certificate)."""

    name: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class DeliveryStream:
    name: str
    bucket: str
    prefix: str
    role: str
    buffer_seconds: int | Parameter = Parameter.HISTORY_BUFFER_SECONDS
    buffer_mb: int | Parameter = Parameter.HISTORY_BUFFER_MB


@dataclass(frozen=True)
class Function:
    role: FunctionRole
    name: str
    handler: str
    iam_role: str
    timeout: int
    memory: int
    environment: tuple[tuple[str, str | QueueUrl | Parameter], ...]


@dataclass(frozen=True)
class EventSourceMapping:
    function: str
    source_queue: str | None = None
    source_table: str | None = None
    batch_size: int = 10
    batching_window: int | Parameter = 0
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
    topic_rule: TopicRule
    device_policy: IotPolicy
    history_table: HistoryTable

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.config.region}:{self.account_id}:{resource}"

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"

    def queue_arn(self, name: str) -> str:
        return self.arn("sqs", name)

    def queue(self, role: QueueRole) -> Queue:
        return _the_one(queue for queue in self.queues if queue.role == role)

    def bucket(self, role: BucketRole) -> Bucket:
        return _the_one(bucket for bucket in self.buckets if bucket.role == role)

    def function(self, role: FunctionRole) -> Function:
        return _the_one(function for function in self.functions if function.role == role)

    def iam_role(self, assumed_by: AssumedBy) -> Role:
        return _the_one(role for role in self.roles if role.assumed_by == assumed_by)


Declared = TypeVar("Declared")


def _the_one(matches: Iterable[Declared]) -> Declared:
    # Each role is declared exactly once; anything else is a mistake in `declare`.
    (declared,) = matches
    return declared


def declare(config: StackConfig, account_id: str) -> Stack:
    env, region = config.env, config.region
    if config.ingest_batch_window < 1 and INGEST_BATCH_SIZE > SQS_BATCH_WITHOUT_WINDOW:
        raise SettingError(
            f"INGEST_BATCH_WINDOW_SECONDS={config.ingest_batch_window}: with the ingest batch of {INGEST_BATCH_SIZE}, "
            "Lambda needs a batching window of at least 1 s (unset it for the default)"
        )

    def arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{account_id}:{resource}"

    table = Table(f"{env}_DeviceData", HASH_KEY, RANGE_KEY, TTL_ATTRIBUTE)
    table_arn = arn("dynamodb", f"table/{table.name}")
    stream_arns = f"{table_arn}/stream/*"

    rule_role, rule_errors_role = f"{env}-iot-device", f"{env}-iot-rule-errors"
    dead_letter = Queue(QueueRole.DEAD_LETTER, f"{env}_ba_sqs_dlq")
    stream_failures = Queue(QueueRole.STREAM_FAILURES, f"{env}_stream_failures")
    ingest_queue = Queue(
        QueueRole.INGEST,
        f"{env}_ba_sqs",
        visibility_timeout=6 * config.function_timeout,
        dead_letter_queue=dead_letter.name,
        sender_role=rule_role,
    )
    iot_errors = Queue(QueueRole.IOT_ERRORS, f"{env}_iot_errors", sender_role=rule_errors_role)
    topic_rule = TopicRule(
        name=f"{env}_sensor_to_sqs",
        sql=f"SELECT * FROM '{SENSOR_TOPIC_FILTER}'",
        queue=ingest_queue.name,
        role=rule_role,
        error_queue=iot_errors.name,
        error_role=rule_errors_role,
    )
    device_policy = IotPolicy(
        f"{env}-sensor-device",
        (
            Statement(("iot:Connect",), (arn("iot", f"client/{THING_NAME}"),)),
            Statement(("iot:Publish",), (arn("iot", f"topic/{sensor_topic(THING_NAME)}"),)),
        ),
    )
    history_bucket = Bucket(
        BucketRole.HISTORY, f"{env}-device-history-{account_id}", versioned=True, prefix=f"{table.name}/"
    )
    archive_bucket = Bucket(
        BucketRole.ARCHIVE, f"{env}-device-archive-{account_id}", versioned=False, prefix=ARCHIVE_PREFIX
    )
    delivery_stream = DeliveryStream(
        f"{env}-device-history",
        history_bucket.name,
        history_bucket.prefix,
        f"{env}-device-history-firehose-role",
    )

    ingest_environment: tuple[tuple[str, str | QueueUrl | Parameter], ...] = (
        ("TABLE_NAME", table.name),
        ("DLQ_URL", QueueUrl(dead_letter.name)),
        ("TTL_SECONDS", Parameter.TTL_SECONDS),
    )
    if config.app_env:
        ingest_environment += (("APP_ENV", config.app_env),)
    ttl_environment = (
        ("TTL_ATTRIBUTE", table.ttl_attribute),
        ("REMOVALS_WITHOUT_IDENTITY", Parameter.REMOVALS_WITHOUT_IDENTITY),
    )

    def function(
        role: FunctionRole, name: str, handler: str, environment: tuple[tuple[str, str | QueueUrl | Parameter], ...]
    ) -> Function:
        return Function(
            role, name, handler, f"{name}-role", config.function_timeout, config.function_memory, environment
        )

    ingest = function(FunctionRole.INGEST, f"{env}-sensor-data-ingest", "handlers.ingest.handler", ingest_environment)
    history = function(
        FunctionRole.HISTORY,
        f"{env}-dynamodb-history",
        "handlers.history.handler",
        (("DELIVERY_STREAM_NAME", delivery_stream.name), *ttl_environment),
    )
    archive = function(
        FunctionRole.ARCHIVE,
        f"{env}-dynamodb-archive",
        "handlers.archive.handler",
        (
            ("ARCHIVE_BUCKET", archive_bucket.name),
            ("ARCHIVE_PREFIX", archive_bucket.prefix),
            ("ARCHIVE_STORAGE_CLASS", config.archive_storage_class),
            ("ARCHIVE_LAYOUT", config.archive_layout),
            *ttl_environment,
        ),
    )

    def logs(function: Function) -> Statement:
        return Statement(
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
            (
                arn("logs", f"log-group:/aws/lambda/{function.name}"),
                arn("logs", f"log-group:/aws/lambda/{function.name}:*"),
            ),
        )

    stream_reader = Statement(
        ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"),
        (stream_arns,),
    )
    send_failures = Statement(("sqs:SendMessage",), (arn("sqs", stream_failures.name),))
    roles = (
        Role(
            AssumedBy.TOPIC_RULE,
            rule_role,
            "iot.amazonaws.com",
            (Statement(("sqs:SendMessage",), (arn("sqs", ingest_queue.name),)),),
        ),
        Role(
            AssumedBy.TOPIC_RULE_ERRORS,
            rule_errors_role,
            "iot.amazonaws.com",
            (Statement(("sqs:SendMessage",), (arn("sqs", iot_errors.name),)),),
        ),
        Role(
            AssumedBy.INGEST_FUNCTION,
            ingest.iam_role,
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
                    (arn("sqs", ingest_queue.name),),
                ),
                Statement(("sqs:SendMessage",), (arn("sqs", dead_letter.name),)),
                logs(ingest),
            ),
        ),
        Role(
            AssumedBy.HISTORY_FUNCTION,
            history.iam_role,
            "lambda.amazonaws.com",
            (
                stream_reader,
                send_failures,
                Statement(("firehose:PutRecordBatch",), (arn("firehose", f"deliverystream/{delivery_stream.name}"),)),
                logs(history),
            ),
        ),
        Role(
            AssumedBy.ARCHIVE_FUNCTION,
            archive.iam_role,
            "lambda.amazonaws.com",
            (
                stream_reader,
                send_failures,
                Statement(("s3:PutObject",), (f"arn:aws:s3:::{archive_bucket.name}/{archive_bucket.prefix}*",)),
                logs(archive),
            ),
        ),
        Role(
            AssumedBy.DELIVERY_STREAM,
            delivery_stream.role,
            "firehose.amazonaws.com",
            (
                Statement(
                    (
                        "s3:AbortMultipartUpload",
                        "s3:GetBucketLocation",
                        "s3:ListBucket",
                        "s3:ListBucketMultipartUploads",
                    ),
                    (f"arn:aws:s3:::{history_bucket.name}",),
                ),
                Statement(
                    ("s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"),
                    (f"arn:aws:s3:::{history_bucket.name}/*",),
                ),
            ),
        ),
    )

    # A short window fills the batches at the cost of at most a second before Firehose's own buffering.
    def stream_mapping(function: Function, filter_patterns: tuple[str, ...] = ()) -> EventSourceMapping:
        return EventSourceMapping(
            function.name,
            source_table=table.name,
            batch_size=STREAM_BATCH_SIZE,
            batching_window=Parameter.STREAM_BATCH_WINDOW,
            starting_position="TRIM_HORIZON",
            bisect_on_error=True,
            retry_attempts=config.stream_retry_attempts,
            on_failure_queue=stream_failures.name,
            filter_patterns=filter_patterns,
        )

    mappings = (
        EventSourceMapping(
            ingest.name,
            source_queue=ingest_queue.name,
            batch_size=INGEST_BATCH_SIZE,
            batching_window=Parameter.INGEST_BATCH_WINDOW,
            report_batch_item_failures=True,
        ),
        stream_mapping(history),
        # The filter passes every REMOVE: LocalStack's TTL deletes carry no userIdentity, so the
        # archive function itself tells a TTL removal from a manual delete.
        stream_mapping(archive, filter_patterns=(json.dumps({"eventName": ["REMOVE"]}),)),
    )

    return Stack(
        config=config,
        account_id=account_id,
        table=table,
        # The dead-letter queue first: the ingest queue's redrive policy names it.
        queues=(dead_letter, stream_failures, ingest_queue, iot_errors),
        buckets=(history_bucket, archive_bucket),
        roles=roles,
        delivery_stream=delivery_stream,
        functions=(ingest, history, archive),
        mappings=mappings,
        topic_rule=topic_rule,
        device_policy=device_policy,
        history_table=history_table(env, history_bucket.name, history_bucket.prefix),
    )


def declare_template(config: StackConfig) -> Stack:
    """The stack as the template declares it: the environment's name, the account and the region
    are CloudFormation's to fill in (`${EnvName}`, `${AWS::AccountId}`, `${AWS::Region}`)."""
    placeholders = replace(config, env=f"${{{Parameter.ENV_NAME}}}", region="${AWS::Region}")
    return declare(placeholders, "${AWS::AccountId}")


def policy_document(grantee: Role | IotPolicy) -> dict:
    """The allow-only policy of an IAM role or of an IoT policy: both speak the same language."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(statement.actions), "Resource": list(statement.resources)}
            for statement in grantee.statements
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
                "Sid": "OnlyTheTopicRuleSends",
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
