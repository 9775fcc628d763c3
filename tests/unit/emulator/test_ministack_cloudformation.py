"""CloudFormation's resource handlers as AWS provisions them: a table's TTL and point-in-time
recovery, an existing table refused, integer BufferingHints, a function's missing S3 code a failure.
Each test calls the handler CloudFormation calls for the resource, in process."""

import asyncio
import importlib
import json
import zipfile
from io import BytesIO

import pytest

from emulator.ministack import cloudformation, mappings, ttl
from emulator.ministack.registry import MinistackDiffers, Patch, PatchRegistry, Target

TABLE = "cfn_readings"
TABLE_PROPS = {
    "TableName": TABLE,
    "KeySchema": [{"AttributeName": "device", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "device", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
    "TimeToLiveSpecification": {"AttributeName": "expiredAt", "Enabled": True},
    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
}


@pytest.fixture
def handlers():
    dynamodb = ttl.import_dynamodb()
    dynamodb.reset()
    registry = PatchRegistry()
    # As installed: a mapping created here starts no MiniStack poller.
    registry.apply(mappings.POLLER_OFF)
    registry.apply(cloudformation.RESOURCES_AS_ON_AWS)
    try:
        yield importlib.import_module(cloudformation.PROVISIONERS)._RESOURCE_HANDLERS
    finally:
        registry.undo()
        dynamodb.reset()


def dynamodb_call(action, **data):
    dynamodb = importlib.import_module("ministack.services.dynamodb")
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = asyncio.run(dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    assert status == 200, body
    return json.loads(body)


def ttl_of(table):
    return dynamodb_call("DescribeTimeToLive", TableName=table)["TimeToLiveDescription"]


def pitr_of(table):
    backups = dynamodb_call("DescribeContinuousBackups", TableName=table)["ContinuousBackupsDescription"]
    return backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]


def test_a_table_gets_the_ttl_and_point_in_time_recovery_its_template_names(handlers):
    name, attributes = handlers[cloudformation.TABLE]["create"]("Table", TABLE_PROPS, "stack")
    assert name == TABLE and attributes["StreamArn"].startswith(
        f"arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}/"
    )
    assert ttl_of(TABLE) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiredAt"}
    assert pitr_of(TABLE) == "ENABLED"


def test_an_update_moves_or_turns_off_ttl_and_point_in_time_recovery(handlers):
    table = handlers[cloudformation.TABLE]
    table["create"]("Table", TABLE_PROPS, "stack")
    moved = {**TABLE_PROPS, "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True}}
    table["update"](TABLE, TABLE_PROPS, moved, "stack", "Table")
    assert ttl_of(TABLE) == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}
    plain = {
        key: value
        for key, value in moved.items()
        if key not in ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")
    }
    table["update"](TABLE, moved, plain, "stack", "Table")
    assert ttl_of(TABLE)["TimeToLiveStatus"] == "DISABLED" and pitr_of(TABLE) == "DISABLED"


def test_a_table_that_already_exists_is_refused_and_left_as_it_is(handlers):
    dynamodb_call(
        "CreateTable",
        TableName=TABLE,
        KeySchema=[{"AttributeName": "other", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(
        ValueError, match=rf"^Resource of type 'AWS::DynamoDB::Table' with identifier '{TABLE}' already exists.$"
    ):
        handlers[cloudformation.TABLE]["create"]("Table", TABLE_PROPS, "stack")
    described = dynamodb_call("DescribeTable", TableName=TABLE)["Table"]
    assert described["KeySchema"] == [{"AttributeName": "other", "KeyType": "HASH"}]
    assert ttl_of(TABLE) == {"TimeToLiveStatus": "DISABLED"}


def test_a_deleted_tables_settings_do_not_pass_to_the_next_table_of_that_name(handlers):
    table = handlers[cloudformation.TABLE]
    table["create"]("Table", TABLE_PROPS, "stack")
    table["delete"](TABLE, TABLE_PROPS)
    plain = {
        key: value
        for key, value in TABLE_PROPS.items()
        if key not in ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")
    }
    table["create"]("Table", plain, "stack")
    assert ttl_of(TABLE) == {"TimeToLiveStatus": "DISABLED"} and pitr_of(TABLE) == "DISABLED"


def test_buffering_hints_given_as_strings_are_kept_as_the_integers_aws_stores(handlers):
    firehose = importlib.import_module("ministack.services.firehose")
    props = {
        "DeliveryStreamName": "cfn-history",
        "DeliveryStreamType": "DirectPut",
        "ExtendedS3DestinationConfiguration": {
            "BucketARN": "arn:aws:s3:::cfn-history",
            "RoleARN": "arn:aws:iam::000000000000:role/cfn-history",
            "BufferingHints": {"IntervalInSeconds": "2", "SizeInMBs": "1"},
        },
    }
    stream = handlers[cloudformation.DELIVERY_STREAM]
    try:
        stream["create"]("Stream", props, "stack")
        [destination] = firehose._streams["cfn-history"]["destinations"]
        assert destination["config"]["BufferingHints"] == {"IntervalInSeconds": 2, "SizeInMBs": 1}
        longer = json.loads(json.dumps(props))
        longer["ExtendedS3DestinationConfiguration"]["BufferingHints"]["IntervalInSeconds"] = "60"
        stream["update"]("cfn-history", props, longer, "stack")
        [destination] = firehose._streams["cfn-history"]["destinations"]
        assert destination["config"]["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 1}
    finally:
        firehose._streams.pop("cfn-history", None)


def zipped_handler():
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_a_function_whose_s3_code_is_missing_fails_as_lambda_fails_it(handlers):
    s3 = importlib.import_module("ministack.services.s3")
    assert asyncio.run(s3.handle_request("PUT", "/cfn-code", {}, b"", {}))[0] == 200
    props = {
        "FunctionName": "cfn-fn",
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": "arn:aws:iam::000000000000:role/cfn-fn",
        "Code": {"S3Bucket": "cfn-code", "S3Key": "missing.zip"},
    }
    function = handlers[cloudformation.FUNCTION]
    with pytest.raises(
        ValueError,
        match=r"^Resource handler returned message: \"Error occurred while GetObject\. S3 Error Code: NoSuchKey\.",
    ):
        function["create"]("Function", props, "stack")
    assert asyncio.run(s3.handle_request("PUT", "/cfn-code/present.zip", {}, zipped_handler(), {}))[0] == 200
    present = {**props, "Code": {"S3Bucket": "cfn-code", "S3Key": "present.zip"}}
    try:
        name, _attributes = function["create"]("Function", present, "stack")
        assert name == "cfn-fn"
        with pytest.raises(ValueError, match="NoSuchKey"):
            function["update"]("cfn-fn", present, props, "stack", "Function")
    finally:
        function["delete"]("cfn-fn", present)


def test_a_handler_table_that_differs_from_the_pinned_one_stops_the_patch():
    provisioners = importlib.import_module(cloudformation.PROVISIONERS)
    table = provisioners._RESOURCE_HANDLERS[cloudformation.TABLE]
    changed = {**table, "create": lambda *args: None}
    target = Target(cloudformation.PROVISIONERS, "_RESOURCE_HANDLERS", cloudformation.TABLE)
    provisioners._RESOURCE_HANDLERS[cloudformation.TABLE] = changed
    try:
        with pytest.raises(MinistackDiffers, match=r"_RESOURCE_HANDLERS\['AWS::DynamoDB::Table'\]"):
            PatchRegistry().apply(
                Patch("check", "", {target: cloudformation.RESOURCES_AS_ON_AWS.targets[target]}, lambda o: o)
            )
    finally:
        provisioners._RESOURCE_HANDLERS[cloudformation.TABLE] = table


@pytest.fixture
def ingest_function(handlers):
    """A function with a 30 s timeout and a queue whose visibility timeout is 180 s."""
    lambda_svc = importlib.import_module("ministack.services.lambda_svc")
    sqs = importlib.import_module("ministack.services.sqs")
    handlers["AWS::SQS::Queue"]["create"]("Queue", {"QueueName": "cfn_ingest", "VisibilityTimeout": 180}, "stack")
    props = {
        "FunctionName": "cfn-ingest",
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": "arn:aws:iam::000000000000:role/cfn-ingest",
        "Timeout": 30,
        "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
    }
    handlers[cloudformation.FUNCTION]["create"]("Function", props, "stack")
    try:
        yield "arn:aws:sqs:us-east-1:000000000000:cfn_ingest"
    finally:
        handlers[cloudformation.FUNCTION]["delete"]("cfn-ingest", props)
        lambda_svc._esms.clear()
        sqs.reset()


def test_a_mapping_aws_refuses_fails_the_resource_with_lambdas_message(handlers, ingest_function):
    mapping = handlers[cloudformation.MAPPING]
    props = {"FunctionName": "cfn-ingest", "EventSourceArn": ingest_function, "BatchSize": "20"}
    with pytest.raises(
        ValueError,
        match=r"^Resource handler returned message: \"Maximum batch window in seconds must be greater than 0 if "
        r"maximum batch size is greater than 10 \(Service: Lambda, Status Code: 400\)\" "
        r"\(HandlerErrorCode: InvalidRequest\)$",
    ):
        mapping["create"]("Mapping", props, "stack")
    with pytest.raises(ValueError, match=r"\"Unsupported BisectBatchOnFunctionError parameter"):
        mapping["create"](
            "Mapping", {**props, "MaximumBatchingWindowInSeconds": "1", "BisectBatchOnFunctionError": True}, "stack"
        )


def test_a_mappings_numbers_given_through_parameters_are_integers_on_create_and_update(handlers, ingest_function):
    lambda_svc = importlib.import_module("ministack.services.lambda_svc")
    mapping = handlers[cloudformation.MAPPING]
    props = {
        "FunctionName": "cfn-ingest",
        "EventSourceArn": ingest_function,
        "BatchSize": "20",
        "MaximumBatchingWindowInSeconds": "1",
    }
    esm_id, _attributes = mapping["create"]("Mapping", props, "stack")
    stored = lambda_svc._esms[esm_id]
    assert (stored["BatchSize"], stored["MaximumBatchingWindowInSeconds"]) == (20, 1)
    mapping["update"](esm_id, props, {**props, "MaximumBatchingWindowInSeconds": "5"}, "stack")
    assert lambda_svc._esms[esm_id]["MaximumBatchingWindowInSeconds"] == 5
    with pytest.raises(ValueError, match=r"\"Maximum batch window"):
        mapping["update"](esm_id, props, {**props, "MaximumBatchingWindowInSeconds": "0"}, "stack")
    assert lambda_svc._esms[esm_id]["MaximumBatchingWindowInSeconds"] == 5
