"""Create what is missing, update what differs, report what was left alone; and tear down.

Every `_ensure_*` compares the declaration with what the endpoint reports and returns one
Change per resource, so a second deploy of the same stack reports "no changes".
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse, urlunparse

from botocore.exceptions import ClientError

from aws_calls.sessions import ClientFactory
from bootstrap.config import TableBilling
from bootstrap.package import build_function_zip, code_sha256
from bootstrap.stack import (
    MAX_RECEIVE_COUNT,
    PROVISIONED_READ,
    PROVISIONED_WRITE,
    RUNTIME,
    Bucket,
    DeliveryStream,
    EventSourceMapping,
    Function,
    IotPolicy,
    Queue,
    QueueUrl,
    Role,
    Stack,
    Table,
    bucket_policy,
    policy_document,
    queue_policy,
    topic_rule_payload,
    trust_document,
)

CREATED, UPDATED, UNCHANGED, DELETED = "created", "updated", "unchanged", "deleted"
# LocalStack's first function waits for the Lambda runtime image to download.
FUNCTION_READY_SECONDS = 300
# The path of MQTT over WebSocket on an IoT data endpoint.
MQTT_PATH = "/mqtt"


class DeployError(Exception):
    """What the endpoint reported as failed, in one line."""


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str


class Deployer:
    def __init__(self, clients: ClientFactory, progress: Callable[[str], None] = lambda _line: None):
        self.client = clients
        self.progress = progress

    # -- deploy ------------------------------------------------------------------

    def deploy(self, stack: Stack) -> list[Change]:
        from bootstrap import analytics

        changes = [self._ensure_table(stack.table)]
        changes += [self._ensure_queue(stack, queue) for queue in stack.queues]
        changes += [self._ensure_bucket(bucket, stack.config.region) for bucket in stack.buckets]
        changes += [self._ensure_role(role) for role in stack.roles]
        changes += self._ensure_iot(stack)
        changes.append(self._ensure_delivery_stream(stack, stack.delivery_stream))
        code = build_function_zip()
        changes += [self._ensure_function(stack, function, code) for function in stack.functions]
        changes += [self._ensure_mapping(stack, mapping) for mapping in stack.mappings]
        changes += analytics.deploy_history_table(self, stack)
        return changes

    def _report(self, kind: str, name: str, action: str) -> Change:
        if action != UNCHANGED:
            self.progress(f"  {action:9} {kind} {name}")
        return Change(kind, name, action)

    def _ensure_table(self, table: Table) -> Change:
        dynamodb = self.client("dynamodb")
        billing = (
            {"BillingMode": "PAY_PER_REQUEST"}
            if table.billing == TableBilling.ON_DEMAND
            else {
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {
                    "ReadCapacityUnits": PROVISIONED_READ,
                    "WriteCapacityUnits": PROVISIONED_WRITE,
                },
            }
        )
        stream = {"StreamEnabled": True, "StreamViewType": table.stream_view}
        try:
            current = dynamodb.describe_table(TableName=table.name)["Table"]
            action = UNCHANGED
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            dynamodb.create_table(
                TableName=table.name,
                KeySchema=[
                    {"AttributeName": table.hash_key, "KeyType": "HASH"},
                    {"AttributeName": table.range_key, "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": table.hash_key, "AttributeType": "S"},
                    {"AttributeName": table.range_key, "AttributeType": "N"},
                ],
                StreamSpecification=stream,
                **billing,
            )
            dynamodb.get_waiter("table_exists").wait(
                TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
            current = dynamodb.describe_table(TableName=table.name)["Table"]
            action = CREATED
        current_billing = (current.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if current_billing != billing["BillingMode"]:
            dynamodb.update_table(TableName=table.name, **billing)
            action = _changed(action)
        if current.get("StreamSpecification") != stream:
            dynamodb.update_table(TableName=table.name, StreamSpecification=stream)
            action = _changed(action)
        ttl = dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        if (
            ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING")
            or ttl.get("AttributeName") != table.ttl_attribute
        ):
            dynamodb.update_time_to_live(
                TableName=table.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
            )
            action = _changed(action)
        if table.point_in_time_recovery:
            backups = dynamodb.describe_continuous_backups(TableName=table.name)["ContinuousBackupsDescription"]
            if (backups.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") != "ENABLED":
                dynamodb.update_continuous_backups(
                    TableName=table.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )
                action = _changed(action)
        return self._report("table", table.name, action)

    def _ensure_queue(self, stack: Stack, queue: Queue) -> Change:
        sqs = self.client("sqs")
        wanted = {
            "VisibilityTimeout": str(queue.visibility_timeout),
            "MessageRetentionPeriod": str(queue.retention_seconds),
        }
        if queue.dead_letter_queue:
            wanted["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": stack.queue_arn(queue.dead_letter_queue), "maxReceiveCount": MAX_RECEIVE_COUNT}
            )
        policy = queue_policy(stack, queue)
        if policy:
            wanted["Policy"] = json.dumps(policy)
        try:
            url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        except ClientError as error:
            if "NonExistentQueue" not in _code(error):
                raise
            sqs.create_queue(QueueName=queue.name, Attributes=wanted)
            return self._report("queue", queue.name, CREATED)
        current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        differing = {name: value for name, value in wanted.items() if not _same_attribute(current.get(name), value)}
        if not differing:
            return self._report("queue", queue.name, UNCHANGED)
        sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
        return self._report("queue", queue.name, UPDATED)

    def _ensure_bucket(self, bucket: Bucket, region: str) -> Change:
        s3 = self.client("s3")
        action = UNCHANGED
        try:
            s3.head_bucket(Bucket=bucket.name)
        except ClientError as error:
            if _code(error) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket.name, **location)
            action = CREATED
        settings = [
            (
                lambda: s3.get_public_access_block(Bucket=bucket.name)["PublicAccessBlockConfiguration"],
                dict.fromkeys(
                    ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
                ),
                lambda value: s3.put_public_access_block(Bucket=bucket.name, PublicAccessBlockConfiguration=value),
            ),
            (
                lambda: s3.get_bucket_encryption(Bucket=bucket.name)["ServerSideEncryptionConfiguration"]["Rules"][0][
                    "ApplyServerSideEncryptionByDefault"
                ],
                {"SSEAlgorithm": "AES256"},
                lambda value: s3.put_bucket_encryption(
                    Bucket=bucket.name,
                    ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": value}]},
                ),
            ),
            (
                lambda: json.loads(s3.get_bucket_policy(Bucket=bucket.name)["Policy"]),
                bucket_policy(bucket),
                lambda value: s3.put_bucket_policy(Bucket=bucket.name, Policy=json.dumps(value)),
            ),
        ]
        if bucket.versioned:
            settings.append(
                (
                    lambda: s3.get_bucket_versioning(Bucket=bucket.name).get("Status"),
                    "Enabled",
                    lambda value: s3.put_bucket_versioning(
                        Bucket=bucket.name, VersioningConfiguration={"Status": value}
                    ),
                )
            )
        for read, wanted, write in settings:
            try:
                current = read()
            except (ClientError, KeyError, IndexError):
                current = None
            if _normalised(current) != _normalised(wanted):
                write(wanted)
                action = _changed(action)
        return self._report("bucket", bucket.name, action)

    def _ensure_role(self, role: Role) -> Change:
        iam = self.client("iam")
        policy = policy_document(role)
        try:
            current = iam.get_role(RoleName=role.name)["Role"]
            action = UNCHANGED
            if _normalised(_as_dict(current.get("AssumeRolePolicyDocument"))) != _normalised(trust_document(role)):
                iam.update_assume_role_policy(RoleName=role.name, PolicyDocument=json.dumps(trust_document(role)))
                action = UPDATED
        except ClientError as error:
            if _code(error) != "NoSuchEntity":
                raise
            iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(trust_document(role)))
            action = CREATED
        try:
            current_policy = _as_dict(
                iam.get_role_policy(RoleName=role.name, PolicyName="least-privilege")["PolicyDocument"]
            )
        except ClientError:
            current_policy = None
        if _normalised(current_policy) != _normalised(policy):
            iam.put_role_policy(RoleName=role.name, PolicyName="least-privilege", PolicyDocument=json.dumps(policy))
            action = _changed(action)
        return self._report("role", role.name, action)

    def _ensure_iot(self, stack: Stack) -> list[Change]:
        if not self.offers_iot(stack):
            # Not a change: a second deploy on the same backend still says "no changes".
            self.progress(
                f"  skipped   topic rule {stack.topic_rule.name} and IoT policy {stack.device_policy.name}: "
                "this backend has no IoT Core (devices send to SQS directly)"
            )
            return []
        return [self._ensure_topic_rule(stack), self._ensure_iot_policy(stack.device_policy)]

    def offers_iot(self, stack: Stack) -> bool:
        """Whether the endpoint serves IoT Core. Only a local target may lack it; on AWS any error is raised."""
        try:
            self.client("iot").list_topic_rules(maxResults=1)
        except ClientError as error:
            if stack.config.is_local and _not_offered(error):
                return False
            raise
        return True

    def _ensure_topic_rule(self, stack: Stack) -> Change:
        iot, rule = self.client("iot"), stack.topic_rule
        wanted = topic_rule_payload(stack, self.queue_url)
        try:
            current = iot.get_topic_rule(ruleName=rule.name)["rule"]
        except ClientError as error:
            # GetTopicRule answers a missing rule with UnauthorizedException, as AWS does.
            if _code(error) not in ("ResourceNotFoundException", "UnauthorizedException"):
                raise
            iot.create_topic_rule(ruleName=rule.name, topicRulePayload=wanted)
            return self._report("topic rule", rule.name, CREATED)
        if all(_normalised(current.get(key)) == _normalised(value) for key, value in wanted.items()):
            return self._report("topic rule", rule.name, UNCHANGED)
        iot.replace_topic_rule(ruleName=rule.name, topicRulePayload=wanted)
        return self._report("topic rule", rule.name, UPDATED)

    def _ensure_iot_policy(self, policy: IotPolicy) -> Change:
        iot, document = self.client("iot"), policy_document(policy)
        try:
            current = json.loads(iot.get_policy(policyName=policy.name)["policyDocument"])
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            iot.create_policy(policyName=policy.name, policyDocument=json.dumps(document))
            return self._report("IoT policy", policy.name, CREATED)
        if _normalised(current) == _normalised(document):
            return self._report("IoT policy", policy.name, UNCHANGED)
        # A policy keeps at most five versions: the older ones go before a new default is set.
        self._delete_old_policy_versions(policy.name)
        iot.create_policy_version(policyName=policy.name, policyDocument=json.dumps(document), setAsDefault=True)
        return self._report("IoT policy", policy.name, UPDATED)

    def _delete_old_policy_versions(self, name: str) -> None:
        iot = self.client("iot")
        for version in iot.list_policy_versions(policyName=name)["policyVersions"]:
            if not version.get("isDefaultVersion"):
                iot.delete_policy_version(policyName=name, policyVersionId=version["versionId"])

    def iot_endpoint(self, stack: Stack) -> str | None:
        """The URL a device connects to (MQTT over WebSocket), or None where IoT Core is not served."""
        if stack.config.endpoint:
            return local_iot_endpoint(stack.config.endpoint) if self.offers_iot(stack) else None
        host = self.client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
        return f"wss://{host}{MQTT_PATH}"

    def _ensure_delivery_stream(self, stack: Stack, delivery: DeliveryStream) -> Change:
        firehose = self.client("firehose")
        destination = {
            "RoleARN": stack.role_arn(delivery.role),
            "BucketARN": f"arn:aws:s3:::{delivery.bucket}",
            "Prefix": delivery.prefix,
            "ErrorOutputPrefix": "errors/",
            "BufferingHints": {"IntervalInSeconds": delivery.buffer_seconds, "SizeInMBs": delivery.buffer_mb},
            "CompressionFormat": "UNCOMPRESSED",
        }
        try:
            description = firehose.describe_delivery_stream(DeliveryStreamName=delivery.name)[
                "DeliveryStreamDescription"
            ]
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            firehose.create_delivery_stream(
                DeliveryStreamName=delivery.name,
                DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration=destination,
            )
            self._wait(
                lambda: (
                    firehose.describe_delivery_stream(DeliveryStreamName=delivery.name)["DeliveryStreamDescription"][
                        "DeliveryStreamStatus"
                    ]
                    == "ACTIVE"
                ),
                f"delivery stream {delivery.name} to become ACTIVE",
            )
            return self._report("delivery stream", delivery.name, CREATED)
        current = description["Destinations"][0].get("ExtendedS3DestinationDescription") or {}
        if all(_normalised(current.get(key)) == _normalised(value) for key, value in destination.items()):
            return self._report("delivery stream", delivery.name, UNCHANGED)
        firehose.update_destination(
            DeliveryStreamName=delivery.name,
            CurrentDeliveryStreamVersionId=description["VersionId"],
            DestinationId=description["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate=destination,
        )
        return self._report("delivery stream", delivery.name, UPDATED)

    def _ensure_function(self, stack: Stack, function: Function, code: bytes) -> Change:
        lambda_ = self.client("lambda")
        configuration = {
            "Runtime": RUNTIME,
            "Handler": function.handler,
            "Role": stack.role_arn(function.iam_role),
            "Timeout": function.timeout,
            "MemorySize": function.memory,
            "Environment": {"Variables": {name: self._resolve(value) for name, value in function.environment}},
        }
        try:
            current = lambda_.get_function_configuration(FunctionName=function.name)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            # A new role can take seconds to become assumable by Lambda on AWS.
            self._retry_while_role_propagates(
                lambda: lambda_.create_function(FunctionName=function.name, Code={"ZipFile": code}, **configuration)
            )
            self._wait_function_ready(function.name)
            return self._report("function", function.name, CREATED)
        action = UNCHANGED
        if current.get("CodeSha256") != code_sha256(code):
            lambda_.update_function_code(FunctionName=function.name, ZipFile=code)
            self._wait_function_ready(function.name)
            action = UPDATED
        differing = {
            key: value for key, value in configuration.items() if _normalised(current.get(key)) != _normalised(value)
        }
        if differing:
            lambda_.update_function_configuration(FunctionName=function.name, **differing)
            self._wait_function_ready(function.name)
            action = UPDATED
        return self._report("function", function.name, action)

    def _ensure_mapping(self, stack: Stack, mapping: EventSourceMapping) -> Change:
        lambda_ = self.client("lambda")
        source_arn = self._source_arn(stack, mapping)
        wanted = {
            "BatchSize": mapping.batch_size,
            "MaximumBatchingWindowInSeconds": mapping.batching_window,
            "FunctionResponseTypes": ["ReportBatchItemFailures"] if mapping.report_batch_item_failures else [],
            "FilterCriteria": {"Filters": [{"Pattern": pattern} for pattern in mapping.filter_patterns]},
        }
        if mapping.source_table:
            wanted.update(
                BisectBatchOnFunctionError=mapping.bisect_on_error,
                MaximumRetryAttempts=mapping.retry_attempts if mapping.retry_attempts is not None else -1,
                DestinationConfig={"OnFailure": {"Destination": stack.queue_arn(mapping.on_failure_queue)}}
                if mapping.on_failure_queue
                else {"OnFailure": {}},
            )
        name = f"{mapping.function} <- {mapping.source_queue or mapping.source_table}"
        existing = lambda_.list_event_source_mappings(FunctionName=mapping.function, EventSourceArn=source_arn)[
            "EventSourceMappings"
        ]
        if not existing:
            extra = {"StartingPosition": mapping.starting_position} if mapping.starting_position else {}
            lambda_.create_event_source_mapping(
                FunctionName=mapping.function, EventSourceArn=source_arn, Enabled=True, **extra, **wanted
            )
            return self._report("event source mapping", name, CREATED)
        current = existing[0]
        differing = {
            key: value for key, value in wanted.items() if not _same_mapping_setting(key, current.get(key), value)
        }
        if not differing:
            return self._report("event source mapping", name, UNCHANGED)
        lambda_.update_event_source_mapping(UUID=current["UUID"], **differing)
        return self._report("event source mapping", name, UPDATED)

    # -- teardown ----------------------------------------------------------------

    def teardown(self, stack: Stack) -> list[Change]:
        """Delete what the declaration names, and nothing else."""
        from bootstrap import analytics

        changes: list[Change] = analytics.teardown_history_table(self, stack)
        lambda_, s3, iam = (self.client(name) for name in ("lambda", "s3", "iam"))
        if self.offers_iot(stack):
            iot = self.client("iot")
            if self._deleted(functools.partial(iot.delete_topic_rule, ruleName=stack.topic_rule.name)):
                changes.append(self._report("topic rule", stack.topic_rule.name, DELETED))
            if self._deleted(functools.partial(self._delete_iot_policy, stack.device_policy.name)):
                changes.append(self._report("IoT policy", stack.device_policy.name, DELETED))
        for mapping in stack.mappings:
            try:
                source_arn = self._source_arn(stack, mapping)
                found = lambda_.list_event_source_mappings(FunctionName=mapping.function, EventSourceArn=source_arn)[
                    "EventSourceMappings"
                ]
            except ClientError:
                found = []
            for existing in found:
                lambda_.delete_event_source_mapping(UUID=existing["UUID"])
                changes.append(
                    self._report("event source mapping", f"{mapping.function} <- {source_arn.split(':')[-1]}", DELETED)
                )
        for function in stack.functions:
            if self._deleted(functools.partial(lambda_.delete_function, FunctionName=function.name)):
                changes.append(self._report("function", function.name, DELETED))
        if self._deleted(
            lambda: self.client("firehose").delete_delivery_stream(DeliveryStreamName=stack.delivery_stream.name)
        ):
            changes.append(self._report("delivery stream", stack.delivery_stream.name, DELETED))
        for role in stack.roles:
            if self._deleted(
                functools.partial(iam.delete_role_policy, RoleName=role.name, PolicyName="least-privilege")
            ) | self._deleted(functools.partial(iam.delete_role, RoleName=role.name)):
                changes.append(self._report("role", role.name, DELETED))
        for bucket in stack.buckets:
            if self._deleted(functools.partial(self._empty_bucket, bucket.name)) and self._deleted(
                functools.partial(s3.delete_bucket, Bucket=bucket.name)
            ):
                changes.append(self._report("bucket", bucket.name, DELETED))
        for queue in stack.queues:
            if self._deleted(functools.partial(self._delete_queue, queue.name)):
                changes.append(self._report("queue", queue.name, DELETED))
        if self._deleted(lambda: self.client("dynamodb").delete_table(TableName=stack.table.name)):
            changes.append(self._report("table", stack.table.name, DELETED))
        return changes

    def _delete_iot_policy(self, name: str) -> None:
        self._delete_old_policy_versions(name)
        self.client("iot").delete_policy(policyName=name)

    def _delete_queue(self, name: str) -> None:
        self.client("sqs").delete_queue(QueueUrl=self.queue_url(name))

    def _empty_bucket(self, bucket: str) -> None:
        s3 = self.client("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(doomed), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})

    @staticmethod
    def _deleted(delete: Callable[[], object]) -> bool:
        try:
            delete()
        except ClientError as error:
            if any(word in _code(error) for word in ("NotFound", "NoSuch", "NonExistent")):
                return False
            raise
        return True

    # -- helpers -----------------------------------------------------------------

    def queue_url(self, name: str) -> str:
        return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def _resolve(self, value: str | QueueUrl) -> str:
        return self.queue_url(value.queue) if isinstance(value, QueueUrl) else value

    def _source_arn(self, stack: Stack, mapping: EventSourceMapping) -> str:
        if mapping.source_queue:
            return stack.queue_arn(mapping.source_queue)
        return self.client("dynamodb").describe_table(TableName=mapping.source_table)["Table"]["LatestStreamArn"]

    def _wait_function_ready(self, name: str) -> None:
        """Until the function is Active and its last update Successful; a Failed state ends the
        wait at once with Lambda's reason, and each new state is said (LocalStack's first function
        waits for its runtime image to download)."""
        lambda_ = self.client("lambda")
        said = ""

        def ready() -> bool:
            nonlocal said
            current = lambda_.get_function_configuration(FunctionName=name)
            state, update = current.get("State", "Active"), current.get("LastUpdateStatus", "Successful")
            if state == "Failed" or update == "Failed":
                prefix = "State" if state == "Failed" else "LastUpdateStatus"
                code = current.get(f"{prefix}ReasonCode") or "no reason code"
                reason = current.get(f"{prefix}Reason") or "no reason given"
                raise DeployError(f"function {name}: {prefix}=Failed ({code}): {reason}")
            if state == "Active" and update == "Successful":
                return True
            now = f"State={state}, LastUpdateStatus={update}"
            if now != said:
                self.progress(f"waiting for function {name} ({now}; a first run may be pulling its runtime image)")
                said = now
            return False

        self._wait(ready, f"function {name} to become Active", FUNCTION_READY_SECONDS)

    @staticmethod
    def _retry_while_role_propagates(create: Callable[[], object]) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                create()
                return
            except ClientError as error:
                if "cannot be assumed" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(2)

    @staticmethod
    def _wait(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what} after {seconds:.0f} s")
            time.sleep(0.5)


def local_iot_endpoint(api_endpoint: str) -> str:
    """A local backend serves MQTT over WebSocket on its API port, as AWS serves it on 443."""
    parts = urlparse(api_endpoint)
    return urlunparse(("wss" if parts.scheme == "https" else "ws", parts.netloc, MQTT_PATH, "", "", ""))


def _not_offered(error: ClientError) -> bool:
    """The endpoint has no such API: LocalStack answers 501 for a service it does not run."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 501 or _code(error) in ("InternalFailure", "NotImplemented", "NotImplementedException")


def _changed(action: str) -> str:
    """A setting applied: a resource created in this run is still reported as created."""
    return action if action == CREATED else UPDATED


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _as_dict(document) -> dict | None:
    if isinstance(document, str):
        from urllib.parse import unquote

        return json.loads(unquote(document))
    return document


def _normalised(value):
    """Compare policies and settings by meaning: lists of one become scalars, key order is ignored."""
    if isinstance(value, dict):
        return {key: _normalised(member) for key, member in value.items()}
    if isinstance(value, list):
        members = [_normalised(member) for member in value]
        return members[0] if len(members) == 1 else members
    return value


def _same_attribute(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    try:
        return _normalised(json.loads(current)) == _normalised(json.loads(wanted))
    except ValueError:
        return current == wanted


def _same_mapping_setting(key: str, current, wanted) -> bool:
    if key == "FilterCriteria":
        current_patterns = sorted(
            json.dumps(json.loads(f["Pattern"]), sort_keys=True) for f in (current or {}).get("Filters", [])
        )
        wanted_patterns = sorted(
            json.dumps(json.loads(f["Pattern"]), sort_keys=True) for f in wanted.get("Filters", [])
        )
        return current_patterns == wanted_patterns
    if key == "DestinationConfig":
        return ((current or {}).get("OnFailure") or {}).get("Destination") == (wanted.get("OnFailure") or {}).get(
            "Destination"
        )
    if key == "FunctionResponseTypes":
        return sorted(current or []) == sorted(wanted)
    return current == wanted
