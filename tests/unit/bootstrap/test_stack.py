import io
import json
import zipfile

import pytest

from bootstrap.config import StackConfig
from bootstrap.package import FUNCTION_PACKAGES, build_function_zip
from bootstrap.stack import (
    AssumedBy,
    BucketRole,
    FunctionRole,
    Parameter,
    QueueRole,
    bucket_policy,
    declare,
    policy_document,
    queue_policy,
    trust_document,
)
from bootstrap.template import BackendTraits, parameter_values, render
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
        assert mapping.starting_position == "TRIM_HORIZON" and mapping.batch_size == 1000
    assert json.loads(archive.filter_patterns[0]) == {"eventName": ["REMOVE"]}
    assert stack.mappings[0].report_batch_item_failures and stack.mappings[0].batch_size == 20


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


def test_the_function_zip_carries_the_packages_the_handlers_import_and_nothing_else_of_ours():
    names = zipfile.ZipFile(io.BytesIO(build_function_zip())).namelist()
    for package in FUNCTION_PACKAGES:
        assert f"{package}/__init__.py" in names
    assert {"aws_calls/batching.py", "device_data/table.py", "env_settings/reader.py"} <= set(names)
    assert not [name for name in names if name.split("/")[0] in ("bootstrap", "emulator", "simulator", "tests")]


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


def test_the_batching_windows_are_the_templates_parameters():
    ingest, history, archive = declare(config(), ACCOUNT).mappings
    assert ingest.batch_size > 10 and ingest.batching_window == Parameter.INGEST_BATCH_WINDOW
    assert history.batching_window == archive.batching_window == Parameter.STREAM_BATCH_WINDOW


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


def test_only_a_backend_without_ttl_identities_has_the_functions_infer_ttl_removals():
    stack = declare(config(), ACCOUNT)
    for role in (FunctionRole.HISTORY, FunctionRole.ARCHIVE):
        assert (
            dict(stack.function(role).environment)["REMOVALS_WITHOUT_IDENTITY"] == Parameter.REMOVALS_WITHOUT_IDENTITY
        )
    on_aws = parameter_values(config(), "b", "k", BackendTraits())
    assert on_aws[Parameter.REMOVALS_WITHOUT_IDENTITY] == "manual"
    on_localstack = BackendTraits(removals_without_identity=RemovalsWithoutIdentity.TTL_IF_EXPIRED)
    assert parameter_values(config(), "b", "k", on_localstack)[Parameter.REMOVALS_WITHOUT_IDENTITY] == "ttl-if-expired"
    rendered = render(config())["Parameters"][Parameter.REMOVALS_WITHOUT_IDENTITY]
    assert (rendered["Default"], rendered["AllowedValues"]) == ("manual", ["manual", "ttl-if-expired"])


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
