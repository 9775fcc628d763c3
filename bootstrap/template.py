"""The stack declaration rendered as one CloudFormation template: the artifact every target deploys.

`render(config)` returns the template as a dict; `python -m bootstrap template` writes it to
`dist/<stack>.json`. What users change per deploy are the template's Parameters (bootstrap.stack's
`Parameter`) with their constraints; `parameter_values(config, ...)` gives their values for a
deploy and `refused_parameters` checks them against the same constraints before anything exists.

Each kind of resource is one function `(stack) -> Fragment` in RESOURCE_KINDS: its resources,
and the Outputs it adds (each reaches outputs.json under its snake_case name). Logical IDs come
from each resource's role in the declaration (LogicalIds); where the declaration refers to a
resource by name (a mapping's queue, a function's role), the reference becomes a Ref or GetAtt of
the resource declared with that name, so CloudFormation orders them. In a declared value, a
`Parameter` becomes `{"Ref": ...}` and a string naming `${EnvName}`, `${AWS::AccountId}` or
`${AWS::Region}` becomes `Fn::Sub` (`render_value`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bootstrap.config import DeployTarget, StackConfig, TableBilling
from bootstrap.stack import (
    MAX_RECEIVE_COUNT,
    PROVISIONED_READ,
    PROVISIONED_WRITE,
    RUNTIME,
    AssumedBy,
    Bucket,
    BucketRole,
    FunctionRole,
    Parameter,
    Queue,
    QueueRole,
    QueueUrl,
    Stack,
    bucket_policy,
    declare_template,
    policy_document,
    queue_policy,
    trust_document,
)
from device_data.archive import RemovalsWithoutIdentity

FORMAT_VERSION = "2010-09-09"
# The parameter values the deploy passes for a device path through IoT Core, or straight to the queue.
DEVICES_THROUGH_IOT, DEVICES_TO_QUEUE = "iot", "queue"
# The parameter values for a history queried through Athena, or read with DuckDB (no Glue, no Athena).
HISTORY_THROUGH_ATHENA, HISTORY_THROUGH_DUCKDB = "athena", "duckdb"
BILLING_MODES = {TableBilling.ON_DEMAND: "PAY_PER_REQUEST", TableBilling.PROVISIONED: "PROVISIONED"}
# Conditions of the template.
PROVISIONED_BILLING = "ProvisionedBilling"
IOT_CORE = "DevicesThroughIotCore"
ATHENA = "HistoryThroughAthena"
# Names CloudFormation fills in; any other `${...}` (an IoT policy variable) is kept as it is.
_SUBSTITUTED = re.compile(r"\$\{(?!AWS::|" + re.escape(Parameter.ENV_NAME) + r"\})")
# The name of each role's inline policy.
POLICY_NAME = "least-privilege"

Json = Any


@dataclass(frozen=True)
class ParameterSpec:
    description: str
    # A CloudFormation parameter type: String or Number.
    kind: str
    # The value for a deploy of `config`.
    value: Callable[[StackConfig], str | int]
    # AllowedValues, AllowedPattern, MinValue, MaxValue...
    constraints: dict[str, Json] = field(default_factory=dict)
    # Whether the default is the value for a deploy to AWS (else the parameter has no default).
    has_default: bool = True


PARAMETERS: dict[Parameter, ParameterSpec] = {
    Parameter.ENV_NAME: ParameterSpec(
        "Prefix of every resource name (dev_DeviceData); lower-case letters and digits, as bucket and rule names allow",
        "String",
        lambda config: config.env,
        {"AllowedPattern": "^[a-z][a-z0-9]{0,19}$", "ConstraintDescription": "1-20 lower-case letters and digits"},
    ),
    Parameter.TTL_SECONDS: ParameterSpec(
        "Seconds an item lives before DynamoDB's TTL expires it (and the archive keeps it)",
        "Number",
        lambda config: config.ttl_seconds,
        {"MinValue": 1},
    ),
    Parameter.BILLING_MODE: ParameterSpec(
        "The table's billing: on demand, or provisioned at 38 reads/22 writes per second",
        "String",
        lambda config: BILLING_MODES[config.billing],
        {"AllowedValues": sorted(BILLING_MODES.values())},
    ),
    Parameter.HISTORY_BUFFER_SECONDS: ParameterSpec(
        "Firehose buffering interval of the history stream",
        "Number",
        lambda config: config.history_buffer_seconds,
        {"MinValue": 0, "MaxValue": 900},
    ),
    Parameter.HISTORY_BUFFER_MB: ParameterSpec(
        "Firehose buffering size of the history stream",
        "Number",
        lambda config: config.history_buffer_mb,
        {"MinValue": 1, "MaxValue": 128},
    ),
    Parameter.INGEST_BATCH_WINDOW: ParameterSpec(
        "Batching window of the ingest mapping: with its batch of 20, Lambda needs at least 1 s",
        "Number",
        lambda config: config.ingest_batch_window,
        {"MinValue": 1, "MaxValue": 300},
    ),
    Parameter.STREAM_BATCH_WINDOW: ParameterSpec(
        "Batching window of the two stream mappings",
        "Number",
        lambda config: config.stream_batch_window,
        {"MinValue": 0, "MaxValue": 300},
    ),
    Parameter.CODE_BUCKET: ParameterSpec(
        "Bucket holding the functions' zip (uploaded by the deploy)",
        "String",
        lambda _config: "",
        {"MinLength": 3},
        has_default=False,
    ),
    Parameter.CODE_KEY: ParameterSpec(
        "Key of the functions' zip in CodeBucket", "String", lambda _config: "", {"MinLength": 1}, has_default=False
    ),
    Parameter.DEVICE_INGRESS: ParameterSpec(
        "iot: devices publish to IoT Core; queue: a backend without IoT Core (no topic rule, no device policy)",
        "String",
        lambda _config: DEVICES_THROUGH_IOT,
        {"AllowedValues": [DEVICES_THROUGH_IOT, DEVICES_TO_QUEUE]},
    ),
    Parameter.REMOVALS_WITHOUT_IDENTITY: ParameterSpec(
        "How the history and archive functions read a REMOVE without userIdentity: manual on AWS, "
        "ttl-if-expired on a backend whose TTL deletes carry none (LocalStack)",
        "String",
        lambda _config: RemovalsWithoutIdentity.MANUAL,
        {"AllowedValues": list(RemovalsWithoutIdentity)},
    ),
    Parameter.HISTORY_QUERIES: ParameterSpec(
        "athena: the history table (Glue database and table, Athena workgroup); duckdb: a backend without "
        "Glue and Athena (no history table; make query reads the objects with DuckDB)",
        "String",
        lambda _config: HISTORY_THROUGH_ATHENA,
        {"AllowedValues": [HISTORY_THROUGH_ATHENA, HISTORY_THROUGH_DUCKDB]},
    ),
}


@dataclass(frozen=True)
class Fragment:
    """What one kind of resource adds to the template."""

    resources: dict[str, Json]
    outputs: dict[str, Json] = field(default_factory=dict)


def _pascal(words: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\W]+", words) if part)


class LogicalIds:
    """Each declared resource's logical ID, from its role in the declaration."""

    TABLE = "DeviceTable"
    DELIVERY_STREAM = "HistoryDeliveryStream"
    TOPIC_RULE = "SensorTopicRule"
    DEVICE_POLICY = "DevicePolicy"
    HISTORY_DATABASE = "HistoryDatabase"
    HISTORY_TABLE = "HistoryTable"
    ATHENA_WORKGROUP = "AthenaWorkgroup"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    @staticmethod
    def queue(role: QueueRole) -> str:
        return f"{_pascal(role)}Queue"

    @staticmethod
    def queue_policy(role: QueueRole) -> str:
        return f"{_pascal(role)}QueuePolicy"

    @staticmethod
    def bucket(role: BucketRole) -> str:
        return f"{_pascal(role)}Bucket"

    @staticmethod
    def bucket_policy(role: BucketRole) -> str:
        return f"{_pascal(role)}BucketPolicy"

    @staticmethod
    def role(assumed_by: AssumedBy) -> str:
        return f"{_pascal(assumed_by)}Role"

    @staticmethod
    def function(role: FunctionRole) -> str:
        return f"{_pascal(role)}Function"

    @staticmethod
    def mapping(role: FunctionRole) -> str:
        return f"{_pascal(role)}Mapping"

    def queue_named(self, name: str) -> str:
        return self.queue(next(queue.role for queue in self.stack.queues if queue.name == name))

    def role_named(self, name: str) -> str:
        return self.role(next(role.assumed_by for role in self.stack.roles if role.name == name))

    def bucket_named(self, name: str) -> str:
        return self.bucket(next(bucket.role for bucket in self.stack.buckets if bucket.name == name))


def ref(logical_id: str) -> Json:
    return {"Ref": logical_id}


def arn_of(logical_id: str) -> Json:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def render_value(value: Json) -> Json:
    """A declared value as CloudFormation takes it: Parameters as Refs, placeholders through Fn::Sub."""
    if isinstance(value, Parameter):
        return ref(value)
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": _SUBSTITUTED.sub("${!", value)}
    if isinstance(value, dict):
        return {key: render_value(member) for key, member in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(member) for member in value]
    return value


def _output(description: str, value: Json, condition: str | None = None) -> Json:
    return {"Description": description, "Value": value, **({"Condition": condition} if condition else {})}


def table(stack: Stack) -> Fragment:
    declared = stack.table
    properties = {
        "TableName": declared.name,
        "AttributeDefinitions": [
            {"AttributeName": declared.hash_key, "AttributeType": "S"},
            {"AttributeName": declared.range_key, "AttributeType": "N"},
        ],
        "KeySchema": [
            {"AttributeName": declared.hash_key, "KeyType": "HASH"},
            {"AttributeName": declared.range_key, "KeyType": "RANGE"},
        ],
        "BillingMode": declared.billing,
        "ProvisionedThroughput": {
            "Fn::If": [
                PROVISIONED_BILLING,
                {"ReadCapacityUnits": PROVISIONED_READ, "WriteCapacityUnits": PROVISIONED_WRITE},
                ref("AWS::NoValue"),
            ]
        },
        "StreamSpecification": {"StreamViewType": declared.stream_view},
        "TimeToLiveSpecification": {"AttributeName": declared.ttl_attribute, "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": declared.point_in_time_recovery},
    }
    return Fragment(
        {
            LogicalIds.TABLE: {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Delete",
                "Properties": properties,
            }
        },
        {"Table": _output("The device data table", ref(LogicalIds.TABLE))},
    )


# Each queue's output: the key outputs.json has always used for it.
QUEUE_OUTPUTS = {
    QueueRole.INGEST: ("QueueUrl", "The ingest queue (the topic rule sends to it)"),
    QueueRole.DEAD_LETTER: ("DlqUrl", "Where unprocessable messages end"),
    QueueRole.STREAM_FAILURES: ("FailuresQueueUrl", "Where the stream mappings report failed batches"),
    QueueRole.IOT_ERRORS: ("IotErrorsQueueUrl", "Where the topic rule's error action parks failed messages"),
}


def queues(stack: Stack) -> Fragment:
    ids = LogicalIds(stack)
    resources: dict[str, Json] = {}
    for queue in stack.queues:
        properties: dict[str, Json] = {
            "QueueName": queue.name,
            "VisibilityTimeout": queue.visibility_timeout,
            "MessageRetentionPeriod": queue.retention_seconds,
            "SqsManagedSseEnabled": True,
        }
        if queue.dead_letter_queue:
            properties["RedrivePolicy"] = {
                "deadLetterTargetArn": arn_of(ids.queue_named(queue.dead_letter_queue)),
                "maxReceiveCount": MAX_RECEIVE_COUNT,
            }
        resources[ids.queue(queue.role)] = {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": properties,
        }
        resources.update(_queue_policy(stack, ids, queue))
    outputs = {key: _output(description, ref(ids.queue(role))) for role, (key, description) in QUEUE_OUTPUTS.items()}
    return Fragment(resources, outputs)


def _queue_policy(stack: Stack, ids: LogicalIds, queue: Queue) -> dict[str, Json]:
    policy = queue_policy(stack, queue)
    if not policy or not queue.sender_role:
        return {}
    return {
        ids.queue_policy(queue.role): {
            "Type": "AWS::SQS::QueuePolicy",
            # SQS refuses a policy whose principal does not exist yet.
            "DependsOn": [ids.role_named(queue.sender_role)],
            "Properties": {"Queues": [ref(ids.queue(queue.role))], "PolicyDocument": policy},
        }
    }


BUCKET_OUTPUTS = {
    BucketRole.HISTORY: ("HistoryBucket", "HistoryPrefix", "Every change as a JSON line (Firehose)"),
    BucketRole.ARCHIVE: ("ArchiveBucket", "ArchivePrefix", "Items removed by TTL"),
}


def buckets(stack: Stack) -> Fragment:
    resources: dict[str, Json] = {}
    outputs: dict[str, Json] = {}
    for bucket in stack.buckets:
        resources.update(_bucket(bucket))
        name_key, prefix_key, description = BUCKET_OUTPUTS[bucket.role]
        outputs[name_key] = _output(description, ref(LogicalIds.bucket(bucket.role)))
        outputs[prefix_key] = _output(f"Where the pipeline writes in {name_key}", bucket.prefix)
    return Fragment(resources, outputs)


def _bucket(bucket: Bucket) -> dict[str, Json]:
    properties: dict[str, Json] = {
        "BucketName": bucket.name,
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
        "PublicAccessBlockConfiguration": dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    }
    if bucket.versioned:
        properties["VersioningConfiguration"] = {"Status": "Enabled"}
    bucket_id = LogicalIds.bucket(bucket.role)
    return {
        bucket_id: {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": properties,
        },
        LogicalIds.bucket_policy(bucket.role): {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": ref(bucket_id), "PolicyDocument": bucket_policy(bucket)},
        },
    }


def roles(stack: Stack) -> Fragment:
    return Fragment(
        {
            LogicalIds.role(role.assumed_by): {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": role.name,
                    "AssumeRolePolicyDocument": trust_document(role),
                    "Policies": [{"PolicyName": POLICY_NAME, "PolicyDocument": policy_document(role)}],
                },
            }
            for role in stack.roles
        }
    )


def delivery_stream(stack: Stack) -> Fragment:
    ids, declared = LogicalIds(stack), stack.delivery_stream
    destination = {
        "BucketARN": arn_of(ids.bucket_named(declared.bucket)),
        "RoleARN": arn_of(ids.role_named(declared.role)),
        "Prefix": declared.prefix,
        "ErrorOutputPrefix": "errors/",
        "BufferingHints": {"IntervalInSeconds": declared.buffer_seconds, "SizeInMBs": declared.buffer_mb},
        "CompressionFormat": "UNCOMPRESSED",
    }
    return Fragment(
        {
            LogicalIds.DELIVERY_STREAM: {
                "Type": "AWS::KinesisFirehose::DeliveryStream",
                "Properties": {
                    "DeliveryStreamName": declared.name,
                    "DeliveryStreamType": "DirectPut",
                    "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
                    "ExtendedS3DestinationConfiguration": destination,
                },
            }
        },
        {"DeliveryStream": _output("The history delivery stream", ref(LogicalIds.DELIVERY_STREAM))},
    )


def functions(stack: Stack) -> Fragment:
    ids = LogicalIds(stack)

    def environment_value(value: str | QueueUrl | Parameter) -> Json:
        return ref(ids.queue_named(value.queue)) if isinstance(value, QueueUrl) else value

    resources = {
        ids.function(function.role): {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": function.name,
                "Runtime": RUNTIME,
                "Handler": function.handler,
                "Role": arn_of(ids.role_named(function.iam_role)),
                "Timeout": function.timeout,
                "MemorySize": function.memory,
                "Code": {"S3Bucket": Parameter.CODE_BUCKET, "S3Key": Parameter.CODE_KEY},
                "Environment": {"Variables": {name: environment_value(value) for name, value in function.environment}},
            },
        }
        for function in stack.functions
    }
    outputs = {
        function_output(function.role): _output(f"The {function.role} function", ref(ids.function(function.role)))
        for function in stack.functions
    }
    return Fragment(resources, outputs)


def function_output(role: FunctionRole) -> str:
    return f"{_pascal(role)}Function"


def mappings(stack: Stack) -> Fragment:
    ids = LogicalIds(stack)
    resources: dict[str, Json] = {}
    for mapping in stack.mappings:
        function = next(function for function in stack.functions if function.name == mapping.function)
        properties: dict[str, Json] = {
            "FunctionName": ref(ids.function(function.role)),
            "Enabled": True,
            "BatchSize": mapping.batch_size,
            "MaximumBatchingWindowInSeconds": mapping.batching_window,
        }
        if mapping.source_queue:
            properties["EventSourceArn"] = arn_of(ids.queue_named(mapping.source_queue))
        else:
            properties["EventSourceArn"] = {"Fn::GetAtt": [LogicalIds.TABLE, "StreamArn"]}
        if mapping.starting_position:
            properties["StartingPosition"] = mapping.starting_position
        if mapping.report_batch_item_failures:
            properties["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        if mapping.filter_patterns:
            properties["FilterCriteria"] = {"Filters": [{"Pattern": pattern} for pattern in mapping.filter_patterns]}
        if mapping.source_table:
            properties["BisectBatchOnFunctionError"] = mapping.bisect_on_error
            if mapping.retry_attempts is not None:
                properties["MaximumRetryAttempts"] = mapping.retry_attempts
        if mapping.on_failure_queue:
            properties["DestinationConfig"] = {
                "OnFailure": {"Destination": arn_of(ids.queue_named(mapping.on_failure_queue))}
            }
        resources[ids.mapping(function.role)] = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": properties}
    return Fragment(resources)


def device_path(stack: Stack) -> Fragment:
    ids, rule = LogicalIds(stack), stack.topic_rule

    def send_to(queue: str, role: str, use_base64: bool) -> Json:
        return {
            "Sqs": {
                "QueueUrl": ref(ids.queue_named(queue)),
                "RoleArn": arn_of(ids.role_named(role)),
                "UseBase64": use_base64,
            }
        }

    payload = {
        "Sql": rule.sql,
        "AwsIotSqlVersion": rule.sql_version,
        "RuleDisabled": False,
        "Actions": [send_to(rule.queue, rule.role, rule.use_base64)],
        # The error document is JSON already: parked as it is, readable on the queue.
        "ErrorAction": send_to(rule.error_queue, rule.error_role, False),
    }
    return Fragment(
        {
            LogicalIds.TOPIC_RULE: {
                "Type": "AWS::IoT::TopicRule",
                "Condition": IOT_CORE,
                "Properties": {"RuleName": rule.name, "TopicRulePayload": payload},
            },
            LogicalIds.DEVICE_POLICY: {
                "Type": "AWS::IoT::Policy",
                "Condition": IOT_CORE,
                "Properties": {
                    "PolicyName": stack.device_policy.name,
                    "PolicyDocument": policy_document(stack.device_policy),
                },
            },
        },
        {
            "IotTopicRule": _output("The rule devices publish through", ref(LogicalIds.TOPIC_RULE), IOT_CORE),
            "DevicePolicy": _output(
                "The IoT policy to attach to a device's certificate", ref(LogicalIds.DEVICE_POLICY), IOT_CORE
            ),
        },
    )


def history_table(stack: Stack) -> Fragment:
    """The change history as an Athena table (device_data.history_table), where Glue and Athena are served."""
    declared = stack.history_table
    return Fragment(
        {
            LogicalIds.HISTORY_DATABASE: {
                "Type": "AWS::Glue::Database",
                "Condition": ATHENA,
                "Properties": {"CatalogId": ref("AWS::AccountId"), "DatabaseInput": declared.database_input()},
            },
            LogicalIds.HISTORY_TABLE: {
                "Type": "AWS::Glue::Table",
                "Condition": ATHENA,
                "Properties": {
                    "CatalogId": ref("AWS::AccountId"),
                    "DatabaseName": ref(LogicalIds.HISTORY_DATABASE),
                    "TableInput": declared.table_input(),
                },
            },
            LogicalIds.ATHENA_WORKGROUP: {
                "Type": "AWS::Athena::WorkGroup",
                "Condition": ATHENA,
                "Properties": {
                    "Name": declared.workgroup,
                    "Description": "Queries of the change history; results in the history bucket",
                    # Its query history goes with it: a teardown leaves nothing behind.
                    "RecursiveDeleteOption": True,
                    "WorkGroupConfiguration": declared.workgroup_configuration(),
                },
            },
        },
        {
            "HistoryDatabase": _output("The Glue database of the history", ref(LogicalIds.HISTORY_DATABASE), ATHENA),
            "HistoryTable": _output("The history table (make query)", ref(LogicalIds.HISTORY_TABLE), ATHENA),
            "AthenaWorkgroup": _output(
                "The workgroup that queries the history", ref(LogicalIds.ATHENA_WORKGROUP), ATHENA
            ),
        },
    )


# One function per kind of resource: a new kind is one more function here.
RESOURCE_KINDS: tuple[Callable[[Stack], Fragment], ...] = (
    table,
    queues,
    buckets,
    roles,
    delivery_stream,
    functions,
    mappings,
    device_path,
    history_table,
)


def _parameters(config: StackConfig) -> dict[str, Json]:
    # The defaults are the values for a deploy to AWS, whatever target renders the template.
    aws = StackConfig.from_env(DeployTarget.AWS, {"AWS_DEFAULT_REGION": config.region})
    rendered = {}
    for parameter, spec in PARAMETERS.items():
        entry: dict[str, Json] = {"Type": spec.kind, "Description": spec.description, **spec.constraints}
        if spec.has_default:
            entry["Default"] = str(spec.value(aws))
        rendered[str(parameter)] = entry
    return rendered


def render(config: StackConfig) -> dict[str, Json]:
    stack = declare_template(config)
    resources: dict[str, Json] = {}
    outputs: dict[str, Json] = {}
    for kind in RESOURCE_KINDS:
        fragment = kind(stack)
        resources.update(fragment.resources)
        outputs.update(fragment.outputs)
    return {
        "AWSTemplateFormatVersion": FORMAT_VERSION,
        "Description": "Serverless IoT pipeline: IoT Core -> SQS -> Lambda -> DynamoDB -> Streams -> Firehose/S3 "
        "(queried with Athena)",
        "Parameters": _parameters(config),
        "Conditions": {
            PROVISIONED_BILLING: {"Fn::Equals": [ref(Parameter.BILLING_MODE), BILLING_MODES[TableBilling.PROVISIONED]]},
            IOT_CORE: {"Fn::Equals": [ref(Parameter.DEVICE_INGRESS), DEVICES_THROUGH_IOT]},
            ATHENA: {"Fn::Equals": [ref(Parameter.HISTORY_QUERIES), HISTORY_THROUGH_ATHENA]},
        },
        "Resources": render_value(resources),
        "Outputs": render_value(outputs),
    }


def template_body(config: StackConfig) -> str:
    """The template as deployed and as written to dist/: stable bytes for the same declaration."""
    return json.dumps(render(config), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class BackendTraits:
    """What the deploy learns of its target: the services it serves, how its TTL deletes look."""

    iot_core: bool = True
    glue_and_athena: bool = True
    removals_without_identity: RemovalsWithoutIdentity = RemovalsWithoutIdentity.MANUAL


def parameter_values(config: StackConfig, code_bucket: str, code_key: str, traits: BackendTraits) -> dict[str, str]:
    values = {str(parameter): str(spec.value(config)) for parameter, spec in PARAMETERS.items()}
    values[Parameter.CODE_BUCKET] = code_bucket
    values[Parameter.CODE_KEY] = code_key
    values[Parameter.DEVICE_INGRESS] = DEVICES_THROUGH_IOT if traits.iot_core else DEVICES_TO_QUEUE
    values[Parameter.HISTORY_QUERIES] = HISTORY_THROUGH_ATHENA if traits.glue_and_athena else HISTORY_THROUGH_DUCKDB
    values[Parameter.REMOVALS_WITHOUT_IDENTITY] = str(traits.removals_without_identity)
    return values


def refused_parameters(values: dict[str, str]) -> list[str]:
    """What CloudFormation would refuse in `values`, checked against the same constraints before
    the deploy uploads or creates anything; one line each."""
    refused = []
    for parameter, spec in PARAMETERS.items():
        value, rules = values[parameter], spec.constraints
        if spec.kind == "Number":
            try:
                number = float(value)
            except ValueError:
                refused.append(f"Parameter '{parameter}' must be a number, not {value!r}")
                continue
            if "MinValue" in rules and number < rules["MinValue"]:
                refused.append(f"Parameter '{parameter}' must be a number not less than {rules['MinValue']}: {value}")
            if "MaxValue" in rules and number > rules["MaxValue"]:
                refused.append(
                    f"Parameter '{parameter}' must be a number not greater than {rules['MaxValue']}: {value}"
                )
        if "AllowedValues" in rules and value not in rules["AllowedValues"]:
            refused.append(f"Parameter '{parameter}' must be one of {', '.join(rules['AllowedValues'])}: {value!r}")
        if "AllowedPattern" in rules and not re.fullmatch(rules["AllowedPattern"], value):
            refused.append(f"Parameter '{parameter}' ({rules['ConstraintDescription']}) refuses {value!r}")
        if "MinLength" in rules and len(value) < rules["MinLength"]:
            refused.append(f"Parameter '{parameter}' must be at least {rules['MinLength']} characters: {value!r}")
    return refused


def stack_name(config: StackConfig) -> str:
    return f"{config.env}-iot-pipeline"
