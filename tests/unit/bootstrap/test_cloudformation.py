"""The deploy through CloudFormation, under moto's in-process CloudFormation: create, change set,
no changes, delete, the aws guard. Nothing here reaches a real account (mock_aws, or refused
before any client is built).

moto's CloudFormation creates neither a delivery stream, a topic rule, queue and bucket policies
nor the history table's Glue and Athena resources (it warns and skips them), and cannot delete an
AWS::IoT::Policy it created, so these tests deploy with DeviceIngress=queue; the embedded
backend's integration tests deploy all of it.
"""

import warnings
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError

from bootstrap import __main__ as cli
from bootstrap.clients import client_factory
from bootstrap.cloudformation import (
    CloudFormationStack,
    DeployError,
    StackNotDeployed,
    deploy_stack,
    local_iot_endpoint,
    offers_glue_and_athena,
    offers_iot,
    stack_outputs,
    upload_code,
)
from bootstrap.config import StackConfig
from bootstrap.stack import FunctionRole, declare
from bootstrap.template import ATHENA, IOT_CORE, BackendTraits, parameter_values, render, stack_name, template_body
from device_data.archive import RemovalsWithoutIdentity
from env_settings.reader import SettingError

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def aws(**env):
    return StackConfig.from_env("aws", {"AWS_DEFAULT_REGION": REGION, **env})


@pytest.fixture
def moto(mocked_aws, monkeypatch):
    # moto's own dummy keys: the local stack's `test` keys are refused for the AWS target.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with warnings.catch_warnings():
        # moto's "Tried to parse AWS::KinesisFirehose::DeliveryStream but it's not supported".
        warnings.simplefilter("ignore", UserWarning)
        yield


def deploy(config, said):
    client = client_factory(config)
    bucket, key = upload_code(client, config, ACCOUNT)
    stack = CloudFormationStack(client, stack_name(config), poll_seconds=0, progress=said.append)
    return stack.deploy(
        template_body(config), parameter_values(config, bucket, key, BackendTraits(iot_core=False)), verbose=True
    )


def test_a_first_deploy_creates_the_stack_with_progress_and_a_second_says_no_changes(moto):
    said = []
    assert deploy(aws(), said) == "created"
    assert "  CREATE_COMPLETE      AWS::CloudFormation::Stack               dev-iot-pipeline" in said
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == ["dev_DeviceData"]
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    assert sorted(function["FunctionName"] for function in functions) == [
        "dev-dynamodb-archive",
        "dev-dynamodb-history",
        "dev-sensor-data-ingest",
    ]
    said.clear()
    assert deploy(aws(), said) == "unchanged"
    assert said == ["no changes"]
    # The empty change set is deleted (moto, unlike AWS, also keeps the executed one).
    summaries = boto3.client("cloudformation", region_name=REGION).list_change_sets(StackName="dev-iot-pipeline")
    assert [summary["Status"] for summary in summaries["Summaries"]] == ["CREATE_COMPLETE"]


def test_a_changed_setting_goes_through_a_change_set_that_is_shown_first(moto):
    deploy(aws(), [])
    said = []
    assert deploy(aws(FUNCTION_TIMEOUT_SECONDS="40", TTL_SECONDS="60"), said) == "updated"
    shown = [line.split() for line in said if line.startswith("  Modify")]
    assert ["Modify", "AWS::Lambda::Function", "IngestFunction"] in shown
    assert ["Modify", "AWS::SQS::Queue", "IngestQueue"] in shown
    assert said[-1] == "updated stack dev-iot-pipeline"
    ingest = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName="dev-sensor-data-ingest"
    )
    assert ingest["Timeout"] == 40 and str(ingest["Environment"]["Variables"]["TTL_SECONDS"]) == "60"


def test_teardown_deletes_the_stack_and_nothing_else(moto):
    config = aws()
    deploy(config, [])
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="someone-elses-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=f"dev-device-archive-{ACCOUNT}", Key="archive/one.jsonl", Body=b"{}\n")
    stack = CloudFormationStack(client_factory(config), stack_name(config), poll_seconds=0, progress=lambda _: None)
    assert stack.delete() is True
    assert sorted(bucket["Name"] for bucket in s3.list_buckets()["Buckets"]) == [
        f"iot-pipeline-artifacts-{ACCOUNT}-{REGION}",
        "someone-elses-bucket",
    ]
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []
    assert stack.describe() is None and stack.delete() is False


def test_the_code_is_uploaded_once_under_a_key_named_by_its_content(moto):
    config = aws()
    client = client_factory(config)
    first = upload_code(client, config, ACCOUNT)
    assert upload_code(client, config, ACCOUNT) == first
    assert first[1].startswith("functions/") and first[1].endswith(".zip")
    head = boto3.client("s3", region_name=REGION).head_object(Bucket=first[0], Key=first[1])
    assert head["ServerSideEncryption"] == "AES256"


def test_a_parameter_out_of_range_is_refused_before_anything_is_created(moto):
    with pytest.raises(SettingError, match=r"refused before anything was created: Parameter 'TtlSeconds'"):
        deploy_stack(aws(TTL_SECONDS="-5"), progress=lambda _: None)
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    assert boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"] == []


def test_outputs_of_a_stack_that_is_not_deployed_say_so_in_one_line(moto):
    with pytest.raises(StackNotDeployed, match=r"^stack dev-iot-pipeline is not deployed: start it with `make up`"):
        stack_outputs(client_factory(aws()), aws())


class Events:
    """A CloudFormation client whose stack went through `events` (newest first) to `status`."""

    def __init__(self, status, events):
        self.status, self.events = status, events

    def get_paginator(self, _operation):
        events = self.events

        class Pages:
            def paginate(self, StackName):
                return [{"StackEvents": events}]

        return Pages()

    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackStatus": self.status, "StackName": StackName}]}


def event(logical_id, status, reason="", resource_type="AWS::DynamoDB::Table"):
    return {
        "EventId": f"{logical_id}-{status}",
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
        "Timestamp": datetime.now(UTC),
    }


def test_a_failed_create_names_the_resource_that_failed_and_why_in_one_line():
    failed = Events(
        "ROLLBACK_COMPLETE",
        [
            event("dev-iot-pipeline", "ROLLBACK_COMPLETE", resource_type="AWS::CloudFormation::Stack"),
            event("DeviceTable", "DELETE_COMPLETE"),
            event("IngestFunction", "CREATE_FAILED", "Resource creation cancelled", "AWS::Lambda::Function"),
            event("DeviceTable", "CREATE_FAILED", "Table already exists: dev_DeviceData"),
        ],
    )
    stack = CloudFormationStack(lambda service: failed, "dev-iot-pipeline", poll_seconds=0)
    with pytest.raises(DeployError) as refused:
        stack._wait("stack-id", started=0, wanted="CREATE_COMPLETE", verbose=False)
    assert str(refused.value) == (
        "stack dev-iot-pipeline ended ROLLBACK_COMPLETE: DeviceTable (AWS::DynamoDB::Table): "
        "Table already exists: dev_DeviceData"
    )


def test_a_deploy_to_a_non_local_endpoint_is_refused_without_the_aws_target(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://cloudformation.eu-west-1.amazonaws.com")
    assert cli.main(["deploy"]) == 2
    assert "--target aws" in capsys.readouterr().err


def test_the_aws_target_needs_a_region(monkeypatch, capsys):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert cli.main(["deploy", "--target", "aws"]) == 2
    assert capsys.readouterr().err == "error: --target aws needs the region: set AWS_DEFAULT_REGION\n"


def test_the_aws_target_refuses_the_local_stacks_dummy_credentials(capsys):
    """Exported AWS_ACCESS_KEY_ID=test would win over AWS_PROFILE: the deploy would sign with it."""
    assert cli.main(["deploy", "--target", "aws"]) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith("error: --target aws would sign with the local dummy credentials") and error.count("\n") == 1
    )


class NotServed:
    """LocalStack Community's answer to a call of a service it does not run (HTTP 501)."""

    def __getattr__(self, operation):
        def refuse(**_kwargs):
            raise ClientError(
                {"Error": {"Code": "InternalFailure"}, "ResponseMetadata": {"HTTPStatusCode": 501}}, operation
            )

        return refuse


def test_a_local_backend_without_iot_core_gets_the_stack_without_the_device_path():
    local = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert offers_iot(lambda _service: NotServed(), local) is False
    assert parameter_values(local, "b", "k", BackendTraits(iot_core=False))["DeviceIngress"] == "queue"
    device_path = {
        name for name, resource in render(local)["Resources"].items() if resource.get("Condition") == IOT_CORE
    }
    assert device_path == {"SensorTopicRule", "DevicePolicy"}


def test_a_local_backend_without_glue_and_athena_gets_the_stack_without_the_history_table(moto):
    local = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    served = lambda service: boto3.client(service, region_name=REGION)  # noqa: E731
    without_athena = lambda service: NotServed() if service == "athena" else served(service)  # noqa: E731
    assert offers_glue_and_athena(without_athena, local) is False
    assert offers_glue_and_athena(served, local) is True
    assert parameter_values(local, "b", "k", BackendTraits(glue_and_athena=False))["HistoryQueries"] == "duckdb"
    history = {name for name, resource in render(local)["Resources"].items() if resource.get("Condition") == ATHENA}
    assert history == {"HistoryDatabase", "HistoryTable", "AthenaWorkgroup"}


def test_on_aws_a_glue_error_is_raised_not_taken_for_a_missing_service():
    with pytest.raises(ClientError):
        offers_glue_and_athena(lambda _service: NotServed(), aws())


def test_on_aws_an_iot_error_is_raised_not_taken_for_a_missing_service():
    with pytest.raises(ClientError):
        offers_iot(lambda _service: NotServed(), aws())


@pytest.mark.parametrize(
    ("api", "device"),
    [
        ("http://127.0.0.1:4566", "ws://127.0.0.1:4566/mqtt"),
        ("http://localhost:45123/", "ws://localhost:45123/mqtt"),
        ("https://localhost:4566", "wss://localhost:4566/mqtt"),
    ],
)
def test_a_local_device_endpoint_is_mqtt_over_websocket_on_the_api_port(api, device):
    assert local_iot_endpoint(api) == device


class DeployedStack:
    """The services a deployed stack answers from: its Outputs, and IoT Core."""

    def __init__(self, outputs):
        self.outputs = outputs

    def describe_stacks(self, StackName):
        outputs = [{"OutputKey": key, "OutputValue": value} for key, value in self.outputs.items()]
        return {"Stacks": [{"StackName": StackName, "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]}

    def list_topic_rules(self, **_kwargs):
        return {"rules": []}


def test_outputs_json_holds_every_output_of_the_template_under_its_snake_case_name():
    local = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    stack = DeployedStack({key: f"value-of-{key}" for key in render(local)["Outputs"]})
    values = stack_outputs(lambda _service: stack, local)
    assert values == {
        "endpoint": "http://127.0.0.1:4566",
        "region": "us-east-1",
        "table": "value-of-Table",
        "queue_url": "value-of-QueueUrl",
        "dlq_url": "value-of-DlqUrl",
        "failures_queue_url": "value-of-FailuresQueueUrl",
        "iot_errors_queue_url": "value-of-IotErrorsQueueUrl",
        "history_bucket": "value-of-HistoryBucket",
        "history_prefix": "value-of-HistoryPrefix",
        "archive_bucket": "value-of-ArchiveBucket",
        "archive_prefix": "value-of-ArchivePrefix",
        "delivery_stream": "value-of-DeliveryStream",
        "functions": {
            "ingest": "value-of-IngestFunction",
            "history": "value-of-HistoryFunction",
            "archive": "value-of-ArchiveFunction",
        },
        "iot_topic_rule": "value-of-IotTopicRule",
        "device_policy": "value-of-DevicePolicy",
        "iot_endpoint": "ws://127.0.0.1:4566/mqtt",
        "history_database": "value-of-HistoryDatabase",
        "history_table": "value-of-HistoryTable",
        "athena_workgroup": "value-of-AthenaWorkgroup",
    }


def test_without_the_device_path_there_is_no_device_endpoint():
    local = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    outputs = {key: "x" for key in render(local)["Outputs"] if key not in ("IotTopicRule", "DevicePolicy")}
    values = stack_outputs(lambda _service: DeployedStack(outputs), local)
    assert values["iot_topic_rule"] is None and values["iot_endpoint"] is None and values["device_policy"] is None


def test_without_glue_and_athena_the_history_tables_outputs_are_null():
    local = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    conditional = ("HistoryDatabase", "HistoryTable", "AthenaWorkgroup")
    outputs = {key: "x" for key in render(local)["Outputs"] if key not in conditional}
    values = stack_outputs(lambda _service: DeployedStack(outputs), local)
    assert (values["history_database"], values["history_table"], values["athena_workgroup"]) == (None, None, None)
    assert values["table"] == "x"


def test_the_localstack_backend_deploys_the_same_template_through_the_same_entry_point():
    bootstrap = compose_services()["bootstrap"]
    assert '&& python -m bootstrap deploy"' in bootstrap["command"]
    endpoint = bootstrap["environment"]["AWS_ENDPOINT_URL"]
    assert endpoint == "http://localstack:4566"
    local = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": endpoint})
    assert template_body(local) == template_body(aws())


class ReadsRecorded(dict):
    """An environment that records which names a reader asked for."""

    def __init__(self, values):
        super().__init__(values)
        self.read = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def compose_services():
    import yaml

    from bootstrap.package import ROOT

    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_stack_setting_reaches_the_localstack_bootstrap_container():
    environment = ReadsRecorded({"AWS_ENDPOINT_URL": "http://localstack:4566"})
    StackConfig.from_env("local", environment)
    passed = set(compose_services()["bootstrap"]["environment"])
    # The container's region comes from AWS_DEFAULT_REGION; AWS_REGION is only its fallback.
    assert environment.read - {"AWS_REGION"} <= passed, environment.read - passed


def test_localstack_serves_cloudformation_and_every_service_the_template_provisions():
    services = set(compose_services()["localstack"]["environment"]["SERVICES"].split(","))
    local = StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://localstack:4566"})
    # What LocalStack Community does not have is left out by the template's conditions there.
    optional = {"iot", "glue", "athena"}
    kinds = {resource["Type"].split("::")[1].lower() for resource in render(local)["Resources"].values()}
    served_as = {"kinesisfirehose": "firehose"}
    assert {"cloudformation"} | {served_as.get(kind, kind) for kind in kinds} - optional <= services


def test_the_deploy_passes_how_removals_without_identity_are_read_to_the_functions(moto):
    deploy_stack(aws(), progress=lambda _: None, removals_without_identity=RemovalsWithoutIdentity.TTL_IF_EXPIRED)
    (described,) = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName="dev-iot-pipeline")[
        "Stacks"
    ]
    parameters = {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in described["Parameters"]}
    assert parameters["RemovalsWithoutIdentity"] == "ttl-if-expired" and parameters["HistoryQueries"] == "athena"
    archive = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName=declare(aws(), ACCOUNT).function(FunctionRole.ARCHIVE).name
    )
    assert archive["Environment"]["Variables"]["REMOVALS_WITHOUT_IDENTITY"] == "ttl-if-expired"
