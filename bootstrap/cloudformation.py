"""Deploy, read and delete the stack through CloudFormation, the same way on every target.

`deploy_stack(config)` is the one entry point of a deploy (`python -m bootstrap deploy|up` and the
pytest plugin's `iot_pipeline_testing.plugin.deploy` call it): it uploads the functions' zip, and
creates or updates the stack from the template (bootstrap.template) through a change set that it
shows first, or says `no changes`.
What the target serves sets the template's parameters: no IoT Core (`DeviceIngress=queue`) or no
Glue and Athena (`HistoryQueries=duckdb`) leave those resources out; the caller says how the
target's TTL deletes look (`RemovalsWithoutIdentity`).
It waits with progress, and a failure names the resource and CloudFormation's reason in one
line (CloudFormation rolls back a failed create, and a failed update).
`teardown` deletes the stack (after emptying its buckets) and nothing else; `stack_outputs` reads
the stack's Outputs in the shape of outputs.json.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse, urlunparse

from botocore.exceptions import ClientError

from aws_calls.sessions import ClientFactory
from bootstrap.clients import client_factory
from bootstrap.config import StackConfig
from bootstrap.outputs import write_outputs
from bootstrap.package import build_function_zip
from bootstrap.stack import FunctionRole
from bootstrap.template import (
    BackendTraits,
    function_output,
    parameter_values,
    refused_parameters,
    render,
    stack_name,
    template_body,
)
from device_data.archive import RemovalsWithoutIdentity
from env_settings.reader import SettingError

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# How often a wait asks CloudFormation, on an emulator and on AWS.
LOCAL_POLL_SECONDS, AWS_POLL_SECONDS = 0.1, 3.0
STACK_WAIT_SECONDS = 1800
# The path of MQTT over WebSocket on an IoT data endpoint.
MQTT_PATH = "/mqtt"
# A change set with nothing to do ends FAILED with one of these reasons.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
FAILED_STATUSES = ("CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED", "IMPORT_FAILED")

Progress = Callable[[str], None]


class DeployError(Exception):
    """What CloudFormation reported as failed, in one line."""


@dataclass(frozen=True)
class Deployed:
    outputs: dict
    # created, updated or unchanged
    action: str


def deploy_stack(
    config: StackConfig,
    progress: Progress = print,
    removals_without_identity: RemovalsWithoutIdentity = RemovalsWithoutIdentity.MANUAL,
) -> Deployed:
    """Deploy the template to `config`'s target and write outputs.json; the one deploy entry point.
    `removals_without_identity`: `ttl-if-expired` only for a backend whose TTL deletes carry no
    userIdentity (LocalStack); AWS and the embedded backend mark them."""
    client = client_factory(config)
    account = client("sts").get_caller_identity()["Account"]
    name = stack_name(config)
    where = config.endpoint or f"AWS account {account} in {config.region}"
    progress(f"deploying stack {name} to {where}")
    traits = BackendTraits(
        offers_iot(client, config), offers_glue_and_athena(client, config), removals_without_identity
    )
    # The code's location is checked with a stand-in: it is known once uploaded.
    refused = refused_parameters(parameter_values(config, "code-bucket", "code.zip", traits))
    if refused:
        raise SettingError(f"stack {name} refused before anything was created: {'; '.join(refused)}")
    if not traits.iot_core:
        progress("  this backend has no IoT Core: no topic rule and no device policy (devices send to SQS directly)")
    if not traits.glue_and_athena:
        progress("  this backend has no Glue or Athena: no history table (make query reads the history with DuckDB)")
    bucket, key = upload_code(client, config, account)
    stack = CloudFormationStack(client, name, LOCAL_POLL_SECONDS if config.endpoint else AWS_POLL_SECONDS, progress)
    action = stack.deploy(
        template_body(config), parameter_values(config, bucket, key, traits), verbose=not config.endpoint
    )
    values = stack_outputs(client, config)
    write_outputs(values, config.state_dir)
    return Deployed(values, action)


def upload_code(client: ClientFactory, config: StackConfig, account: str) -> tuple[str, str]:
    """The functions' zip in the artifacts bucket (created on first use, kept by teardown like any
    deployment bucket), under a key named by its content: unchanged code is an unchanged parameter."""
    s3 = client("s3")
    bucket = f"iot-pipeline-artifacts-{account}-{config.region}"
    code = build_function_zip()
    key = f"functions/{hashlib.sha256(code).hexdigest()}.zip"
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        location = (
            {} if config.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": config.region}}
        )
        s3.create_bucket(Bucket=bucket, **location)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=dict.fromkeys(
                ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
            ),
        )
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchKey", "NotFound"):
            raise
        s3.put_object(Bucket=bucket, Key=key, Body=code, ServerSideEncryption="AES256")
    return bucket, key


def offers_iot(client: ClientFactory, config: StackConfig) -> bool:
    """Whether the endpoint serves IoT Core."""
    return _serves(config, lambda: client("iot").list_topic_rules(maxResults=1))


def offers_glue_and_athena(client: ClientFactory, config: StackConfig) -> bool:
    """Whether the endpoint serves Glue and Athena (LocalStack Community serves neither)."""
    return _serves(
        config,
        lambda: (client("glue").get_databases(MaxResults=1), client("athena").list_work_groups(MaxResults=1)),
    )


def _serves(config: StackConfig, probe: Callable[[], object]) -> bool:
    """Only a local target may lack a service; on AWS any error of `probe` is raised."""
    try:
        probe()
    except ClientError as error:
        if config.is_local and not_offered(error):
            return False
        raise
    return True


def iot_endpoint(client: ClientFactory, config: StackConfig) -> str | None:
    """The URL a device connects to (MQTT over WebSocket), or None where IoT Core is not served.
    Not a stack output: CloudFormation has no attribute for an account's IoT data endpoint."""
    if config.endpoint:
        return local_iot_endpoint(config.endpoint) if offers_iot(client, config) else None
    host = client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    return f"wss://{host}{MQTT_PATH}"


class StackNotDeployed(Exception):
    """The target answers but has no such stack."""


def stack_outputs(client: ClientFactory, config: StackConfig) -> dict:
    """outputs.json from the stack's Outputs, plus where it runs and where devices connect."""
    name = stack_name(config)
    described = CloudFormationStack(client, name).describe()
    if described is None:
        raise StackNotDeployed(f"stack {name} is not deployed: start it with `make up` (or `make deploy`)")
    given = {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}
    functions = {function_output(role): str(role) for role in FunctionRole}
    values: dict = {"endpoint": config.endpoint, "region": config.region}
    # A conditional resource's outputs (IoT Core's, the history table's) are None where it is left out.
    values.update({_snake(key): None for key, output in render(config)["Outputs"].items() if "Condition" in output})
    # Every output under its snake_case name (QueueUrl: queue_url); the functions' under "functions".
    values.update({_snake(key): value for key, value in given.items() if key not in functions})
    values["functions"] = {functions[key]: value for key, value in given.items() if key in functions}
    values["iot_endpoint"] = iot_endpoint(client, config) if values["iot_topic_rule"] else None
    return values


def teardown(config: StackConfig, progress: Progress = print) -> bool:
    """Delete the stack, after emptying its buckets; False when there was none."""
    client = client_factory(config)
    stack = CloudFormationStack(
        client, stack_name(config), LOCAL_POLL_SECONDS if config.endpoint else AWS_POLL_SECONDS, progress
    )
    return stack.delete(verbose=not config.endpoint)


class CloudFormationStack:
    def __init__(
        self, client: ClientFactory, name: str, poll_seconds: float = LOCAL_POLL_SECONDS, progress: Progress = print
    ) -> None:
        self.cloudformation = client("cloudformation")
        self.s3 = client("s3")
        self.name = name
        self.poll_seconds = poll_seconds
        self.progress = progress

    def describe(self) -> dict | None:
        try:
            (stack,) = self.cloudformation.describe_stacks(StackName=self.name)["Stacks"]
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in str(error):
                return None
            raise
        return stack if stack["StackStatus"] != "DELETE_COMPLETE" else None

    def deploy(self, body: str, parameters: dict[str, str], verbose: bool = False) -> str:
        current = self.describe()
        if current and current["StackStatus"] == "ROLLBACK_COMPLETE":
            # A create that failed and rolled back leaves a stack that can only be deleted.
            self.progress(f"  deleting {self.name}, left in ROLLBACK_COMPLETE by a failed create")
            self._delete_and_wait(current["StackId"], verbose)
            current = None
        given = [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()]
        # A stack that a change set never created waits in REVIEW_IN_PROGRESS: it is created still.
        creating = current is None or current["StackStatus"] == "REVIEW_IN_PROGRESS"
        change_set = self._refused_in_one_line(
            lambda: self.cloudformation.create_change_set(
                StackName=self.name,
                ChangeSetName=f"deploy-{int(time.time() * 1000)}",
                ChangeSetType="CREATE" if creating else "UPDATE",
                TemplateBody=body,
                Parameters=given,
                Capabilities=CAPABILITIES,
            )
        )
        described = self._wait_change_set(change_set["Id"])
        if described["Status"] == "FAILED":
            reason = described.get("StatusReason", "")
            self.cloudformation.delete_change_set(ChangeSetName=change_set["Id"])
            if any(phrase in reason for phrase in NO_CHANGES):
                self.progress("no changes")
                return "unchanged"
            raise DeployError(f"stack {self.name}: the change set failed: {reason}")
        # Every resource of a new stack is an Add: said where the deploy is watched (AWS).
        if verbose or not creating:
            for line in describe_changes(described):
                self.progress(line)
        started = time.time()
        self.cloudformation.execute_change_set(ChangeSetName=change_set["Id"])
        action = "created" if creating else "updated"
        self._wait(change_set["StackId"], started, "CREATE_COMPLETE" if creating else "UPDATE_COMPLETE", verbose)
        self.progress(f"{action} stack {self.name}")
        return action

    def _refused_in_one_line(self, call: Callable[[], dict]) -> dict:
        """CloudFormation's refusal of a template or parameters, before it creates anything."""
        try:
            return call()
        except ClientError as error:
            if error_code(error) != "ValidationError":
                raise
            raise DeployError(f"stack {self.name} refused: {error.response['Error'].get('Message', '')}") from None

    def delete(self, verbose: bool = False) -> bool:
        current = self.describe()
        if current is None:
            return False
        self._empty_buckets()
        self._delete_and_wait(current["StackId"], verbose)
        return True

    def _delete_and_wait(self, stack_id: str, verbose: bool) -> None:
        started = time.time()
        self.cloudformation.delete_stack(StackName=stack_id)
        self._wait(stack_id, started, "DELETE_COMPLETE", verbose)

    def _empty_buckets(self) -> None:
        """CloudFormation deletes only empty buckets: the stack's own are emptied first."""
        resources = self.cloudformation.get_paginator("list_stack_resources").paginate(StackName=self.name)
        for page in resources:
            for resource in page["StackResourceSummaries"]:
                if resource["ResourceType"] == "AWS::S3::Bucket" and resource.get("PhysicalResourceId"):
                    self._empty_bucket(resource["PhysicalResourceId"])

    def _empty_bucket(self, bucket: str) -> None:
        try:
            for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                doomed = [
                    {"Key": version["Key"], "VersionId": version["VersionId"]}
                    for version in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                for start in range(0, len(doomed), 1000):
                    answer = self.s3.delete_objects(
                        Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True}
                    )
                    if answer.get("Errors"):
                        first = answer["Errors"][0]
                        raise DeployError(
                            f"could not empty bucket {bucket}: {len(answer['Errors'])} objects not deleted "
                            f"({first.get('Key')}: {first.get('Code')} {first.get('Message')})"
                        )
        except ClientError as error:
            if error_code(error) != "NoSuchBucket":
                raise

    def _wait_change_set(self, change_set: str) -> dict:
        deadline = time.monotonic() + STACK_WAIT_SECONDS
        while True:
            described = self.cloudformation.describe_change_set(ChangeSetName=change_set)
            if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
                return described
            if time.monotonic() > deadline:
                raise DeployError(f"stack {self.name}: change set still {described['Status']} after waiting")
            time.sleep(self.poll_seconds)

    def _wait(self, stack_id: str, started: float, wanted: str, verbose: bool) -> None:
        """Until the stack reaches a final status; each resource's progress is said when `verbose`.
        Anything but `wanted` is a DeployError naming the first resource that failed and why."""
        seen: set[str] = set()
        failures: list[str] = []
        deadline = time.monotonic() + STACK_WAIT_SECONDS
        while True:
            for event in reversed(self._events_since(stack_id, started)):
                if event["EventId"] in seen:
                    continue
                seen.add(event["EventId"])
                status, reason = event.get("ResourceStatus", ""), event.get("ResourceStatusReason", "")
                if status in FAILED_STATUSES and event.get("LogicalResourceId") != self.name and reason:
                    failures.append(f"{event['LogicalResourceId']} ({event.get('ResourceType')}): {reason}")
                if verbose:
                    self.progress(f"  {status:<20} {event.get('ResourceType', ''):<40} {event['LogicalResourceId']}")
            (stack,) = self.cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
            status = stack["StackStatus"]
            if not status.endswith("_IN_PROGRESS"):
                if status == wanted:
                    return
                cause = failures[0] if failures else stack.get("StackStatusReason", "no reason given")
                raise DeployError(f"stack {self.name} ended {status}: {cause}")
            if time.monotonic() > deadline:
                raise DeployError(f"stack {self.name} still {status} after {STACK_WAIT_SECONDS} s")
            time.sleep(self.poll_seconds)

    def _events_since(self, stack_id: str, started: float) -> list[dict]:
        """The stack's events of this operation, newest first."""
        events: list[dict] = []
        for page in self.cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            for event in page["StackEvents"]:
                if event["Timestamp"].timestamp() < started - 1:
                    return events
                events.append(event)
        return events


def describe_changes(change_set: dict) -> list[str]:
    """What a change set will do, one line per resource, as the console shows it."""
    lines = []
    for change in change_set.get("Changes", []):
        resource = change.get("ResourceChange", {})
        replacement = resource.get("Replacement")
        replaced = (
            " (replaced)" if replacement == "True" else " (may be replaced)" if replacement == "Conditional" else ""
        )
        lines.append(
            f"  {resource.get('Action', ''):<8} {resource.get('ResourceType', ''):<40} "
            f"{resource.get('LogicalResourceId', '')}{replaced}"
        )
    return lines


def local_iot_endpoint(api_endpoint: str) -> str:
    """A local backend serves MQTT over WebSocket on its API port, as AWS serves it on 443."""
    parts = urlparse(api_endpoint)
    return urlunparse(("wss" if parts.scheme == "https" else "ws", parts.netloc, MQTT_PATH, "", "", ""))


def not_offered(error: ClientError) -> bool:
    """The endpoint has no such API: LocalStack answers 501 for a service it does not run."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 501 or error_code(error) in ("InternalFailure", "NotImplemented", "NotImplementedException")


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _snake(key: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in key).lstrip("_")
