"""The CloudFormation template rendered from the stack declaration."""

import json
from collections import Counter

import pytest

from bootstrap.config import StackConfig
from bootstrap.stack import AssumedBy, BucketRole, FunctionRole, Parameter, QueueRole, declare
from bootstrap.template import (
    IOT_CORE,
    BackendTraits,
    LogicalIds,
    parameter_values,
    refused_parameters,
    render,
    stack_name,
    template_body,
)

# CloudFormation's limit on a template passed inline (TemplateBody).
TEMPLATE_BODY_LIMIT = 51_200
LINTED_REGIONS = ["us-east-1", "eu-west-1", "ap-northeast-1"]


def local(**env):
    return StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", **env})


def aws(**env):
    return StackConfig.from_env("aws", {"AWS_DEFAULT_REGION": "eu-west-1", **env})


@pytest.fixture(scope="module")
def template():
    return render(local())


def test_cfn_lint_finds_no_error_and_no_warning():
    from cfnlint.api import ManualArgs, lint

    body = template_body(local())
    assert [str(match) for match in lint(body, config=ManualArgs(regions=LINTED_REGIONS))] == []
    # The same linter does see a template AWS would refuse.
    retired = body.replace('"Runtime": "python3.12"', '"Runtime": "python2.7"')
    assert {match.rule.id for match in lint(retired, config=ManualArgs(regions=LINTED_REGIONS))} == {"E2533"}


def test_both_targets_deploy_the_same_template_and_differ_only_in_parameter_values():
    assert template_body(local()) == template_body(aws())
    assert parameter_values(local(), "b", "k", BackendTraits()) != parameter_values(aws(), "b", "k", BackendTraits())


def test_the_template_fits_in_a_template_body(template):
    assert len(template_body(local()).encode()) < TEMPLATE_BODY_LIMIT


def test_every_declared_resource_is_in_the_template(template):
    stack = declare(local(), "123456789012")
    kinds = Counter(resource["Type"] for resource in template["Resources"].values())
    assert kinds == {
        "AWS::DynamoDB::Table": 1,
        "AWS::SQS::Queue": len(stack.queues),
        "AWS::SQS::QueuePolicy": len([queue for queue in stack.queues if queue.sender_role]),
        "AWS::S3::Bucket": len(stack.buckets),
        "AWS::S3::BucketPolicy": len(stack.buckets),
        "AWS::IAM::Role": len(stack.roles),
        "AWS::KinesisFirehose::DeliveryStream": 1,
        "AWS::Lambda::Function": len(stack.functions),
        "AWS::Lambda::EventSourceMapping": len(stack.mappings),
        "AWS::IoT::TopicRule": 1,
        "AWS::IoT::Policy": 1,
        "AWS::Glue::Database": 1,
        "AWS::Glue::Table": 1,
        "AWS::Athena::WorkGroup": 1,
    }


def test_the_table_has_ttl_one_stream_and_point_in_time_recovery(template):
    table = template["Resources"][LogicalIds.TABLE]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiredAt", "Enabled": True}
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["BillingMode"] == {"Ref": Parameter.BILLING_MODE}
    assert table["TableName"] == {"Fn::Sub": "${EnvName}_DeviceData"}


def test_the_stream_mappings_bisect_retry_filter_and_report_failures_to_their_queue(template):
    resources = template["Resources"]
    failures = {"Fn::GetAtt": [LogicalIds.queue(QueueRole.STREAM_FAILURES), "Arn"]}
    for role in (FunctionRole.HISTORY, FunctionRole.ARCHIVE):
        mapping = resources[LogicalIds.mapping(role)]["Properties"]
        assert mapping["EventSourceArn"] == {"Fn::GetAtt": [LogicalIds.TABLE, "StreamArn"]}
        assert mapping["BisectBatchOnFunctionError"] is True and mapping["MaximumRetryAttempts"] == 3
        assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": failures}}
        assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": Parameter.STREAM_BATCH_WINDOW}
    archive = resources[LogicalIds.mapping(FunctionRole.ARCHIVE)]["Properties"]
    assert [json.loads(f["Pattern"]) for f in archive["FilterCriteria"]["Filters"]] == [{"eventName": ["REMOVE"]}]
    ingest = resources[LogicalIds.mapping(FunctionRole.INGEST)]["Properties"]
    assert ingest["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and ingest["BatchSize"] == 20
    assert ingest["MaximumBatchingWindowInSeconds"] == {"Ref": Parameter.INGEST_BATCH_WINDOW}


def test_buckets_block_public_access_encrypt_and_deny_requests_without_tls(template):
    resources = template["Resources"]
    for role in BucketRole:
        bucket = resources[LogicalIds.bucket(role)]["Properties"]
        assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
        assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0] == {
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}
        }
        (statement,) = resources[LogicalIds.bucket_policy(role)]["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert resources[LogicalIds.bucket(BucketRole.HISTORY)]["Properties"]["VersioningConfiguration"] == {
        "Status": "Enabled"
    }


def test_firehose_buffers_as_the_parameters_say(template):
    destination = template["Resources"][LogicalIds.DELIVERY_STREAM]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["BufferingHints"] == {
        "IntervalInSeconds": {"Ref": Parameter.HISTORY_BUFFER_SECONDS},
        "SizeInMBs": {"Ref": Parameter.HISTORY_BUFFER_MB},
    }


def test_the_queue_policies_wait_for_the_rule_roles_they_admit(template):
    resources = template["Resources"]
    for queue, role in ((QueueRole.INGEST, AssumedBy.TOPIC_RULE), (QueueRole.IOT_ERRORS, AssumedBy.TOPIC_RULE_ERRORS)):
        assert resources[LogicalIds.queue_policy(queue)]["DependsOn"] == [LogicalIds.role(role)]


def test_the_topic_rule_sends_base64_to_the_ingest_queue_and_parks_failures_as_its_error_role(template):
    rule = template["Resources"][LogicalIds.TOPIC_RULE]
    assert rule["Condition"] == IOT_CORE
    payload = rule["Properties"]["TopicRulePayload"]
    assert payload["Sql"] == "SELECT * FROM '+/SENSOR/DAT'" and payload["AwsIotSqlVersion"] == "2016-03-23"
    assert payload["Actions"] == [
        {
            "Sqs": {
                "QueueUrl": {"Ref": LogicalIds.queue(QueueRole.INGEST)},
                "RoleArn": {"Fn::GetAtt": [LogicalIds.role(AssumedBy.TOPIC_RULE), "Arn"]},
                "UseBase64": True,
            }
        }
    ]
    assert payload["ErrorAction"]["Sqs"]["QueueUrl"] == {"Ref": LogicalIds.queue(QueueRole.IOT_ERRORS)}
    assert payload["ErrorAction"]["Sqs"]["UseBase64"] is False


def test_the_device_policy_keeps_the_iot_policy_variables_for_aws_iot_to_fill_in(template):
    statements = template["Resources"][LogicalIds.DEVICE_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    assert statements[0]["Resource"] == [
        {"Fn::Sub": "arn:aws:iot:${AWS::Region}:${AWS::AccountId}:client/${!iot:Connection.Thing.ThingName}"}
    ]


def test_the_functions_code_is_the_uploaded_artifact(template):
    for role in FunctionRole:
        code = template["Resources"][LogicalIds.function(role)]["Properties"]["Code"]
        assert code == {"S3Bucket": {"Ref": Parameter.CODE_BUCKET}, "S3Key": {"Ref": Parameter.CODE_KEY}}
    ingest = template["Resources"][LogicalIds.function(FunctionRole.INGEST)]["Properties"]
    assert ingest["Environment"]["Variables"]["TTL_SECONDS"] == {"Ref": Parameter.TTL_SECONDS}
    assert ingest["Environment"]["Variables"]["DLQ_URL"] == {"Ref": LogicalIds.queue(QueueRole.DEAD_LETTER)}


def test_the_outputs_name_everything_outputs_json_holds(template):
    assert set(template["Outputs"]) == {
        "Table",
        "QueueUrl",
        "DlqUrl",
        "FailuresQueueUrl",
        "IotErrorsQueueUrl",
        "HistoryBucket",
        "HistoryPrefix",
        "ArchiveBucket",
        "ArchivePrefix",
        "DeliveryStream",
        "IngestFunction",
        "HistoryFunction",
        "ArchiveFunction",
        "IotTopicRule",
        "DevicePolicy",
        "HistoryDatabase",
        "HistoryTable",
        "AthenaWorkgroup",
    }


def test_every_parameter_has_a_default_for_aws_but_the_code_location(template):
    without_default = {name for name, parameter in template["Parameters"].items() if "Default" not in parameter}
    assert without_default == {Parameter.CODE_BUCKET, Parameter.CODE_KEY}
    assert template["Parameters"][Parameter.INGEST_BATCH_WINDOW]["Default"] == "60"


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"TTL_SECONDS": "-1"}, "Parameter 'TtlSeconds' must be a number not less than 1: -1"),
        ({"STACK_ENV": "Dev_1"}, "Parameter 'EnvName' (1-20 lower-case letters and digits) refuses 'Dev_1'"),
        ({"HISTORY_BUFFER_MB": "500"}, "Parameter 'HistoryBufferMB' must be a number not greater than 128: 500"),
        ({"STREAM_BATCH_WINDOW_SECONDS": "301"}, "not greater than 300: 301"),
    ],
)
def test_a_parameter_out_of_range_is_refused_in_one_line(env, refused):
    (line,) = refused_parameters(parameter_values(local(**env), "bucket", "key.zip", BackendTraits()))
    assert refused in line


def test_an_unknown_billing_mode_is_refused_by_the_parameter_too():
    values = {**parameter_values(local(), "bucket", "key.zip", BackendTraits()), Parameter.BILLING_MODE: "ON_DEMAND"}
    assert refused_parameters(values) == [
        "Parameter 'BillingMode' must be one of PAY_PER_REQUEST, PROVISIONED: 'ON_DEMAND'"
    ]


def test_the_default_settings_are_accepted_and_the_stack_is_named_by_the_environment():
    assert refused_parameters(parameter_values(local(), "bucket", "key.zip", BackendTraits())) == []
    assert stack_name(local(STACK_ENV="it")) == "it-iot-pipeline"
