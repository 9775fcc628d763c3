import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from bootstrap.config import StackConfig
from bootstrap.deploy import CREATED, UNCHANGED, Deployer, local_iot_endpoint
from bootstrap.outputs import outputs
from bootstrap.package import FUNCTION_PACKAGES, build_function_zip
from bootstrap.stack import (
    AssumedBy,
    BucketRole,
    FunctionRole,
    QueueRole,
    bucket_policy,
    declare,
    policy_document,
    queue_policy,
    topic_rule_payload,
    trust_document,
)
from device_data.archive import ARCHIVE_PREFIX, RemovalsWithoutIdentity
from emulator.settings import EmulatorSettings
from env_settings.reader import SettingError

ACCOUNT = "123456789012"


def config(**env):
    return StackConfig.from_env("local", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", **env})


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://sqs.us-east-1.amazonaws.com",
        "http://10.0.0.5:4566",
        "http://example.com:4566",
        "http://192.168.1.2:4566",
    ],
)
def test_a_local_deploy_refuses_any_endpoint_but_this_machine(endpoint):
    with pytest.raises(SettingError, match="--target aws"):
        StackConfig.from_env("local", {"AWS_ENDPOINT_URL": endpoint})


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:4566",
        "http://localhost:4566",
        "http://[::1]:4566",
        "http://127.0.0.2:9000",
        "http://localstack:4566",
    ],
)
def test_a_local_deploy_accepts_loopback_and_the_compose_service(endpoint):
    assert StackConfig.from_env("local", {"AWS_ENDPOINT_URL": endpoint}).endpoint == endpoint


def test_the_aws_target_needs_a_region_and_uses_no_endpoint():
    with pytest.raises(SettingError, match="region"):
        StackConfig.from_env("aws", {})
    aws = StackConfig.from_env(
        "aws", {"AWS_DEFAULT_REGION": "ap-northeast-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    )
    assert aws.endpoint is None and aws.ingest_batch_window == 60 and aws.history_buffer_seconds == 60


def test_no_policy_names_a_wildcard_action_or_a_bare_wildcard_resource():
    stack = declare(config(), ACCOUNT)
    for role in stack.roles:
        for statement in policy_document(role)["Statement"]:
            assert not any("*" in action for action in statement["Action"]), (role.name, statement)
            for resource in statement["Resource"]:
                assert resource != "*", (role.name, statement)
                assert ACCOUNT in resource or resource.startswith("arn:aws:s3:::"), resource
                if resource.endswith("*") and not resource.startswith("arn:aws:s3:::"):
                    # Allowed where AWS names things we cannot know in advance: log streams, stream labels.
                    assert ":log-group:/aws/lambda/" in resource or "/stream/" in resource, resource


def test_each_function_role_allows_only_what_that_function_calls():
    stack = declare(config(), ACCOUNT)
    actions = {role.name: {a for s in role.statements for a in s.actions} for role in stack.roles}
    assert {"dynamodb:BatchWriteItem", "sqs:SendMessage"} <= actions["dev-sensor-data-ingest-role"]
    assert "s3:PutObject" not in actions["dev-sensor-data-ingest-role"]
    assert (
        "firehose:PutRecordBatch" in actions["dev-dynamodb-history-role"]
        and "s3:PutObject" not in actions["dev-dynamodb-history-role"]
    )
    assert (
        "s3:PutObject" in actions["dev-dynamodb-archive-role"]
        and "firehose:PutRecordBatch" not in actions["dev-dynamodb-archive-role"]
    )


def test_queue_settings_follow_aws_guidance_for_lambda_consumers():
    stack = declare(config(FUNCTION_TIMEOUT_SECONDS="40"), ACCOUNT)
    ingest = next(q for q in stack.queues if q.dead_letter_queue)
    assert ingest.visibility_timeout == 240
    policy = queue_policy(stack, ingest)["Statement"][0]
    assert (
        policy["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/dev-iot-device"}
        and policy["Action"] == "sqs:SendMessage"
    )


def test_buckets_deny_requests_without_tls():
    stack = declare(config(), ACCOUNT)
    statement = bucket_policy(stack.buckets[0])["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_stream_mappings_bisect_retry_a_bounded_number_of_times_and_report_to_the_failures_queue():
    stack = declare(config(), ACCOUNT)
    history, archive = stack.mappings[1], stack.mappings[2]
    for mapping in (history, archive):
        assert (
            mapping.bisect_on_error
            and mapping.retry_attempts == 3
            and mapping.on_failure_queue == "dev_stream_failures"
        )
        assert (
            mapping.starting_position == "TRIM_HORIZON" and mapping.batch_size == 100 and mapping.batching_window == 1
        )
    assert json.loads(archive.filter_patterns[0]) == {"eventName": ["REMOVE"]}
    assert stack.mappings[0].report_batch_item_failures and stack.mappings[0].batch_size == 20


@pytest.fixture
def moto_clients(mocked_aws):
    cache = {}

    def client(service):
        if service not in cache:
            cache[service] = boto3.client(service, region_name="us-east-1")
        return cache[service]

    return client


def test_a_second_deploy_changes_nothing(moto_clients):
    stack = declare(config(), ACCOUNT)
    deployer = Deployer(moto_clients)
    first = deployer.deploy(stack)
    assert {change.action for change in first} == {CREATED}
    second = deployer.deploy(stack)
    assert [c for c in second if c.action != UNCHANGED] == []
    assert set(outputs(stack, deployer.queue_url)) >= {
        "endpoint",
        "region",
        "table",
        "queue_url",
        "dlq_url",
        "failures_queue_url",
        "history_bucket",
        "history_prefix",
        "archive_bucket",
        "delivery_stream",
        "functions",
        "iot_endpoint",
        "iot_topic_rule",
        "iot_errors_queue_url",
    }


def test_a_changed_setting_is_updated_in_place(moto_clients):
    deployer = Deployer(moto_clients)
    deployer.deploy(declare(config(), ACCOUNT))
    changes = deployer.deploy(declare(config(FUNCTION_TIMEOUT_SECONDS="45"), ACCOUNT))
    updated = {(c.kind, c.name) for c in changes if c.action == "updated"}
    assert ("queue", "dev_ba_sqs") in updated and ("function", "dev-sensor-data-ingest") in updated
    assert moto_clients("lambda").get_function_configuration(FunctionName="dev-sensor-data-ingest")["Timeout"] == 45


def test_teardown_removes_the_stack_and_nothing_else(moto_clients):
    stack = declare(config(), ACCOUNT)
    deployer = Deployer(moto_clients)
    deployer.deploy(stack)
    moto_clients("sqs").create_queue(QueueName="someone-elses-queue")
    moto_clients("s3").create_bucket(Bucket="someone-elses-bucket")
    deployer.teardown(stack)
    assert [url.rsplit("/", 1)[1] for url in moto_clients("sqs").list_queues().get("QueueUrls", [])] == [
        "someone-elses-queue"
    ]
    assert [b["Name"] for b in moto_clients("s3").list_buckets()["Buckets"]] == ["someone-elses-bucket"]
    assert moto_clients("dynamodb").list_tables()["TableNames"] == []
    assert moto_clients("lambda").list_functions()["Functions"] == []


def test_a_failed_start_does_not_record_a_running_backend(tmp_path, monkeypatch):
    from bootstrap import local_stack
    from emulator import lifecycle

    def port_taken(settings, progress=print):
        raise lifecycle.EmulatorError("port 4566 is already in use")

    monkeypatch.setattr(lifecycle, "start", port_taken)
    env = {"STATE_DIR": str(tmp_path)}
    with pytest.raises(lifecycle.EmulatorError):
        local_stack.up(
            StackConfig.from_env("local", env), EmulatorSettings.from_env(env), "embedded", 0, deploy=lambda: None
        )
    assert not (tmp_path / "backend").exists()


def test_a_failed_deploy_stops_the_emulator_that_make_up_started(tmp_path, monkeypatch):
    from bootstrap import local_stack
    from emulator import lifecycle

    stopped = []
    monkeypatch.setattr(lifecycle, "start", lambda settings: True)
    monkeypatch.setattr(lifecycle, "stop", lambda settings, progress: stopped.append(settings))

    def refused():
        raise local_stack.StackError("refusing to deploy")

    env = {"STATE_DIR": str(tmp_path)}
    emulator = EmulatorSettings.from_env(env)
    with pytest.raises(local_stack.StackError):
        local_stack.up(StackConfig.from_env("local", env), emulator, "embedded", 0, deploy=refused)
    assert stopped == [emulator] and not (tmp_path / "backend").exists()


def test_a_failed_deploy_leaves_an_emulator_that_was_already_running_alone(tmp_path, monkeypatch):
    from bootstrap import local_stack
    from emulator import lifecycle

    monkeypatch.setattr(lifecycle, "start", lambda settings: False)
    monkeypatch.setattr(lifecycle, "stop", lambda settings, progress: pytest.fail("stopped a running emulator"))

    def refused():
        raise local_stack.StackError("refusing to deploy")

    env = {"STATE_DIR": str(tmp_path)}
    with pytest.raises(local_stack.StackError):
        local_stack.up(StackConfig.from_env("local", env), EmulatorSettings.from_env(env), "embedded", 0, refused)
    assert local_stack.recorded_backend(str(tmp_path)) == local_stack.Backend.EMBEDDED


def test_every_role_names_exactly_one_declared_resource():
    stack = declare(config(), ACCOUNT)
    assert {role: stack.queue(role).name for role in QueueRole} == {
        QueueRole.INGEST: "dev_ba_sqs",
        QueueRole.DEAD_LETTER: "dev_ba_sqs_dlq",
        QueueRole.STREAM_FAILURES: "dev_stream_failures",
        QueueRole.IOT_ERRORS: "dev_iot_errors",
    }
    assert {role: stack.bucket(role).name for role in BucketRole} == {
        BucketRole.HISTORY: f"dev-device-history-{ACCOUNT}",
        BucketRole.ARCHIVE: f"dev-device-archive-{ACCOUNT}",
    }
    assert {role: stack.function(role).handler for role in FunctionRole} == {
        FunctionRole.INGEST: "handlers.ingest.handler",
        FunctionRole.HISTORY: "handlers.history.handler",
        FunctionRole.ARCHIVE: "handlers.archive.handler",
    }
    assert {role: stack.iam_role(role).service for role in AssumedBy} == {
        AssumedBy.TOPIC_RULE: "iot.amazonaws.com",
        AssumedBy.TOPIC_RULE_ERRORS: "iot.amazonaws.com",
        AssumedBy.INGEST_FUNCTION: "lambda.amazonaws.com",
        AssumedBy.HISTORY_FUNCTION: "lambda.amazonaws.com",
        AssumedBy.ARCHIVE_FUNCTION: "lambda.amazonaws.com",
        AssumedBy.DELIVERY_STREAM: "firehose.amazonaws.com",
    }
    assert len(stack.queues) == len(QueueRole) and len(stack.buckets) == len(BucketRole)
    assert len(stack.functions) == len(FunctionRole) and len(stack.roles) == len(AssumedBy)


def test_each_function_assumes_the_iam_role_declared_for_it():
    stack = declare(config(), ACCOUNT)
    for function, assumed_by in (
        (FunctionRole.INGEST, AssumedBy.INGEST_FUNCTION),
        (FunctionRole.HISTORY, AssumedBy.HISTORY_FUNCTION),
        (FunctionRole.ARCHIVE, AssumedBy.ARCHIVE_FUNCTION),
    ):
        assert stack.function(function).iam_role == stack.iam_role(assumed_by).name


def test_outputs_name_each_resource_by_its_role():
    stack = declare(config(), ACCOUNT)
    values = outputs(stack, queue_url=lambda name: f"http://127.0.0.1:4566/{ACCOUNT}/{name}")
    assert values["queue_url"].endswith("/dev_ba_sqs")
    assert values["dlq_url"].endswith("/dev_ba_sqs_dlq")
    assert values["failures_queue_url"].endswith("/dev_stream_failures")
    assert values["history_bucket"] == stack.bucket(BucketRole.HISTORY).name == stack.delivery_stream.bucket
    assert values["history_prefix"] == "dev_DeviceData/" == stack.delivery_stream.prefix
    assert values["archive_bucket"] == stack.bucket(BucketRole.ARCHIVE).name
    assert values["functions"] == {
        "ingest": "dev-sensor-data-ingest",
        "history": "dev-dynamodb-history",
        "archive": "dev-dynamodb-archive",
    }
    assert json.loads(json.dumps(values)) == values


def test_the_archive_function_receives_its_prefix_from_the_declaration():
    stack = declare(config(), ACCOUNT)
    archive = stack.bucket(BucketRole.ARCHIVE)
    assert archive.prefix == ARCHIVE_PREFIX
    assert dict(stack.function(FunctionRole.ARCHIVE).environment)["ARCHIVE_PREFIX"] == archive.prefix
    (put_object,) = [
        statement
        for statement in stack.iam_role(AssumedBy.ARCHIVE_FUNCTION).statements
        if statement.actions == ("s3:PutObject",)
    ]
    assert put_object.resources == (f"arn:aws:s3:::{archive.name}/{archive.prefix}*",)
    assert outputs(stack, queue_url=lambda name: name)["archive_prefix"] == archive.prefix


def test_the_function_zip_carries_the_packages_the_handlers_import_and_nothing_else_of_ours():
    names = zipfile.ZipFile(io.BytesIO(build_function_zip())).namelist()
    for package in FUNCTION_PACKAGES:
        assert f"{package}/__init__.py" in names
    assert {"aws_calls/batching.py", "device_data/table.py", "env_settings/reader.py"} <= set(names)
    assert not [name for name in names if name.split("/")[0] in ("bootstrap", "emulator", "simulator", "tests")]


def test_the_topic_rule_takes_every_devices_sensor_topic_and_sends_it_base64_to_the_ingest_queue():
    stack = declare(config(), ACCOUNT)
    payload = topic_rule_payload(stack, queue_url=lambda name: f"http://127.0.0.1:4566/{ACCOUNT}/{name}")
    assert stack.topic_rule.name == "dev_sensor_to_sqs"
    assert payload["sql"] == "SELECT * FROM '+/SENSOR/DAT'" and payload["awsIotSqlVersion"] == "2016-03-23"
    assert payload["actions"] == [
        {
            "sqs": {
                "queueUrl": f"http://127.0.0.1:4566/{ACCOUNT}/dev_ba_sqs",
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/dev-iot-device",
                "useBase64": True,
            }
        }
    ]
    assert payload["errorAction"] == {
        "sqs": {
            "queueUrl": f"http://127.0.0.1:4566/{ACCOUNT}/dev_iot_errors",
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/dev-iot-rule-errors",
            "useBase64": False,
        }
    }


def test_the_rule_roles_may_only_send_to_their_own_queue_and_each_queue_admits_only_its_rule_role():
    stack = declare(config(), ACCOUNT)
    for assumed_by, queue_role in (
        (AssumedBy.TOPIC_RULE, QueueRole.INGEST),
        (AssumedBy.TOPIC_RULE_ERRORS, QueueRole.IOT_ERRORS),
    ):
        role, queue = stack.iam_role(assumed_by), stack.queue(queue_role)
        assert trust_document(role)["Statement"][0]["Principal"] == {"Service": "iot.amazonaws.com"}
        assert policy_document(role)["Statement"] == [
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": [f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue.name}"],
            }
        ]
        (admitted,) = queue_policy(stack, queue)["Statement"]
        assert admitted["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{role.name}"}
        assert admitted["Action"] == "sqs:SendMessage" and admitted["Effect"] == "Allow"
    senders = {queue.name: queue.sender_role for queue in stack.queues}
    assert senders == {
        "dev_ba_sqs": "dev-iot-device",
        "dev_iot_errors": "dev-iot-rule-errors",
        "dev_ba_sqs_dlq": None,
        "dev_stream_failures": None,
    }


def test_a_device_may_connect_only_as_its_own_thing_and_publish_only_to_its_own_sensor_topic():
    stack = declare(config(), ACCOUNT)
    statements = policy_document(stack.device_policy)["Statement"]
    prefix = f"arn:aws:iot:us-east-1:{ACCOUNT}"
    assert statements == [
        {
            "Effect": "Allow",
            "Action": ["iot:Connect"],
            "Resource": [f"{prefix}:client/${{iot:Connection.Thing.ThingName}}"],
        },
        {
            "Effect": "Allow",
            "Action": ["iot:Publish"],
            "Resource": [f"{prefix}:topic/${{iot:Connection.Thing.ThingName}}/SENSOR/DAT"],
        },
    ]
    assert not any("*" in part for s in statements for part in s["Action"] + s["Resource"])


def test_the_rule_and_the_device_policy_are_deployed_once_and_put_back_when_changed_by_hand(moto_clients):
    stack = declare(config(), ACCOUNT)
    deployer = Deployer(moto_clients)
    created = {(c.kind, c.name) for c in deployer.deploy(stack) if c.action == CREATED}
    assert {("topic rule", "dev_sensor_to_sqs"), ("IoT policy", "dev-sensor-device")} <= created
    iot = moto_clients("iot")
    wanted = topic_rule_payload(stack, deployer.queue_url)
    iot.replace_topic_rule(
        ruleName="dev_sensor_to_sqs",
        topicRulePayload={**wanted, "actions": [{"sqs": {**wanted["actions"][0]["sqs"], "useBase64": False}}]},
    )
    iot.create_policy_version(
        policyName="dev-sensor-device",
        policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        setAsDefault=True,
    )
    updated = {(c.kind, c.name) for c in deployer.deploy(stack) if c.action == "updated"}
    assert updated == {("topic rule", "dev_sensor_to_sqs"), ("IoT policy", "dev-sensor-device")}
    assert iot.get_topic_rule(ruleName="dev_sensor_to_sqs")["rule"]["actions"][0]["sqs"]["useBase64"] is True
    assert json.loads(iot.get_policy(policyName="dev-sensor-device")["policyDocument"]) == policy_document(
        stack.device_policy
    )
    assert [c for c in deployer.deploy(stack) if c.action != UNCHANGED] == []


def test_teardown_removes_the_topic_rule_and_the_device_policy_with_its_versions(moto_clients):
    stack = declare(config(), ACCOUNT)
    deployer = Deployer(moto_clients)
    deployer.deploy(stack)
    iot = moto_clients("iot")
    iot.create_policy_version(policyName="dev-sensor-device", policyDocument=json.dumps({"Statement": []}))
    removed = {(c.kind, c.name) for c in deployer.teardown(stack)}
    assert {("topic rule", "dev_sensor_to_sqs"), ("IoT policy", "dev-sensor-device")} <= removed
    assert iot.list_topic_rules()["rules"] == [] and iot.list_policies()["policies"] == []


class NoIotCore:
    """LocalStack Community's answer to an IoT call: the service is not there (HTTP 501)."""

    def __getattr__(self, operation):
        def refuse(**_kwargs):
            raise ClientError(
                {"Error": {"Code": "InternalFailure"}, "ResponseMetadata": {"HTTPStatusCode": 501}}, operation
            )

        return refuse


def test_a_local_backend_without_iot_core_gets_everything_else_and_no_device_endpoint(moto_clients):
    stack = declare(config(), ACCOUNT)
    lines = []
    deployer = Deployer(
        lambda service: NoIotCore() if service == "iot" else moto_clients(service), progress=lines.append
    )
    changes = deployer.deploy(stack)
    assert {c.kind for c in changes} == {
        "table",
        "queue",
        "bucket",
        "role",
        "delivery stream",
        "function",
        "event source mapping",
        "Glue database",
        "Glue table",
        "Athena workgroup",
    }
    assert [line for line in lines if "skipped" in line] == [
        "  skipped   topic rule dev_sensor_to_sqs and IoT policy dev-sensor-device: this backend has no IoT Core "
        "(devices send to SQS directly)"
    ]
    assert deployer.iot_endpoint(stack) is None
    assert outputs(stack, deployer.queue_url, deployer.iot_endpoint(stack))["iot_endpoint"] is None
    deployer.teardown(stack)


def test_on_aws_an_iot_error_is_raised_not_skipped():
    stack = declare(StackConfig.from_env("aws", {"AWS_DEFAULT_REGION": "ap-northeast-1"}), ACCOUNT)
    with pytest.raises(ClientError):
        Deployer(lambda service: NoIotCore()).offers_iot(stack)


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


def test_outputs_name_the_device_endpoint_the_rule_and_the_errors_queue(moto_clients):
    stack = declare(config(), ACCOUNT)
    deployer = Deployer(moto_clients)
    deployer.deploy(stack)
    values = outputs(stack, deployer.queue_url, deployer.iot_endpoint(stack))
    assert values["iot_endpoint"] == "ws://127.0.0.1:4566/mqtt"
    assert values["iot_topic_rule"] == "dev_sensor_to_sqs"
    assert values["iot_errors_queue_url"].endswith("/dev_iot_errors")


def test_the_local_ingest_mapping_has_a_batching_window_aws_accepts_with_its_batch_of_20():
    [ingest] = [mapping for mapping in declare(config(), ACCOUNT).mappings if mapping.source_queue]
    assert ingest.batch_size > 10 and ingest.batching_window >= 1


def test_a_zero_ingest_batching_window_is_refused_in_one_line_before_anything_is_deployed():
    zero = StackConfig.from_env("local", {"INGEST_BATCH_WINDOW_SECONDS": "0"})
    with pytest.raises(SettingError, match=r"INGEST_BATCH_WINDOW_SECONDS=0: .* at least 1 s"):
        declare(zero, ACCOUNT)


def test_outputs_are_replaced_whole_so_a_file_left_by_another_user_does_not_stop_a_deploy(tmp_path):
    from bootstrap.outputs import write_outputs

    path = write_outputs({"table": "old"}, str(tmp_path))
    before = path.stat().st_ino
    path.chmod(0o444)
    write_outputs({"table": "new"}, str(tmp_path))
    assert json.loads(path.read_text()) == {"table": "new"} and path.stat().st_ino != before
    assert [entry.name for entry in tmp_path.iterdir()] == ["outputs.json"]


class FunctionStates:
    """A Lambda client whose function goes through the given configurations, then stays on the last."""

    def __init__(self, *configurations):
        self.configurations = list(configurations)

    def get_function_configuration(self, FunctionName):
        return self.configurations.pop(0) if len(self.configurations) > 1 else self.configurations[0]


def test_a_failed_function_ends_the_wait_at_once_with_lambdas_reason_in_one_line():
    from bootstrap.deploy import DeployError

    said = []
    lambda_ = FunctionStates(
        {"State": "Pending", "LastUpdateStatus": "InProgress"},
        {"State": "Failed", "StateReasonCode": "ImageAccessDenied", "StateReason": "pull of the runtime image failed"},
    )
    deployer = Deployer(lambda _service: lambda_, progress=said.append)
    with pytest.raises(DeployError) as failed:
        deployer._wait_function_ready("dev-ingest")
    assert str(failed.value) == (
        "function dev-ingest: State=Failed (ImageAccessDenied): pull of the runtime image failed"
    )
    assert said == [
        "waiting for function dev-ingest (State=Pending, LastUpdateStatus=InProgress; "
        "a first run may be pulling its runtime image)"
    ]


def test_a_failed_update_reports_the_update_reason():
    from bootstrap.deploy import DeployError

    lambda_ = FunctionStates(
        {
            "State": "Active",
            "LastUpdateStatus": "Failed",
            "LastUpdateStatusReasonCode": "InvalidZipFileException",
            "LastUpdateStatusReason": "bad zip",
        }
    )
    with pytest.raises(DeployError, match=r"LastUpdateStatus=Failed \(InvalidZipFileException\): bad zip"):
        Deployer(lambda _service: lambda_)._wait_function_ready("dev-ingest")


def test_only_a_backend_without_ttl_identities_has_the_functions_infer_ttl_removals():
    for role in (FunctionRole.HISTORY, FunctionRole.ARCHIVE):
        assert dict(declare(config(), ACCOUNT).function(role).environment)["REMOVALS_WITHOUT_IDENTITY"] == "manual"
        on_localstack = declare(config(), ACCOUNT, RemovalsWithoutIdentity.TTL_IF_EXPIRED)
        assert dict(on_localstack.function(role).environment)["REMOVALS_WITHOUT_IDENTITY"] == "ttl-if-expired"


def test_deploy_declares_ttl_inference_only_on_a_localstack_this_state_folder_started(tmp_path):
    from bootstrap.__main__ import _removals_without_identity

    local = StackConfig.from_env("local", {"STATE_DIR": str(tmp_path)})
    assert _removals_without_identity(local) == RemovalsWithoutIdentity.MANUAL
    (tmp_path / "backend").write_text("embedded")
    assert _removals_without_identity(local) == RemovalsWithoutIdentity.MANUAL
    (tmp_path / "backend").write_text("localstack")
    assert _removals_without_identity(local) == RemovalsWithoutIdentity.TTL_IF_EXPIRED
    on_aws = StackConfig.from_env("aws", {"STATE_DIR": str(tmp_path), "AWS_DEFAULT_REGION": "eu-west-1"})
    assert _removals_without_identity(on_aws) == RemovalsWithoutIdentity.MANUAL
