"""The stack through CloudFormation on the embedded backend: a change set updates it, a second
deploy changes nothing, teardown deletes the stack (the history table with it) and nothing else,
a failed create rolls back."""

from pathlib import Path

import pytest

from aws_calls.sessions import local_clients
from bootstrap import __main__ as cli
from bootstrap.cloudformation import DeployError, deploy_stack, teardown
from bootstrap.config import StackConfig

pytestmark = pytest.mark.integration


def config(iot_backend, env, state_dir, **settings):
    environment = {
        "STACK_ENV": env,
        "AWS_ENDPOINT_URL": iot_backend.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "STATE_DIR": str(state_dir),
        **settings,
    }
    return StackConfig.from_env("local", environment)


def test_a_change_set_updates_the_stack_then_nothing_differs_and_teardown_leaves_other_resources(
    iot_backend, tmp_path, monkeypatch, capsys
):
    said = []
    first = deploy_stack(config(iot_backend, "cfn", tmp_path), progress=said.append)
    assert first.action == "created"
    client = local_clients(iot_backend.endpoint)
    table = first.outputs["table"]
    assert client("dynamodb").describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expiredAt",
    }
    said.clear()
    longer = config(iot_backend, "cfn", tmp_path, HISTORY_BUFFER_SECONDS="30", STREAM_BATCH_WINDOW_SECONDS="2")
    assert deploy_stack(longer, progress=said.append).action == "updated"
    assert any(
        line.split()[:3] == ["Modify", "AWS::KinesisFirehose::DeliveryStream", "HistoryDeliveryStream"] for line in said
    )
    destination = client("firehose").describe_delivery_stream(DeliveryStreamName=first.outputs["delivery_stream"])[
        "DeliveryStreamDescription"
    ]["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["BufferingHints"] == {"IntervalInSeconds": 30, "SizeInMBs": 1}
    mappings = client("lambda").list_event_source_mappings(FunctionName=first.outputs["functions"]["history"])
    assert [mapping["MaximumBatchingWindowInSeconds"] for mapping in mappings["EventSourceMappings"]] == [2]

    said.clear()
    assert deploy_stack(longer, progress=said.append).action == "unchanged" and "no changes" in said

    client("sqs").create_queue(QueueName="cfn_not_in_the_stack")
    assert teardown(longer, progress=lambda _line: None) is True
    queues = [url.rsplit("/", 1)[1] for url in client("sqs").list_queues(QueueNamePrefix="cfn_")["QueueUrls"]]
    assert queues == ["cfn_not_in_the_stack"]
    assert table not in client("dynamodb").list_tables()["TableNames"]
    assert first.outputs["history_database"] not in [
        database["Name"] for database in client("glue").get_databases()["DatabaseList"]
    ]
    workgroups = [workgroup["Name"] for workgroup in client("athena").list_work_groups()["WorkGroups"]]
    assert first.outputs["athena_workgroup"] == "cfn-device-history" and "cfn-device-history" not in workgroups

    # As `make status` and `make outputs` run: EMULATOR_PORT names the backend, STATE_DIR its state.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("STACK_ENV", "cfn")
    monkeypatch.setenv("EMULATOR_PORT", str(iot_backend.port))
    monkeypatch.setenv("STATE_DIR", str(Path(iot_backend.state_dir).parent))
    capsys.readouterr()
    for command in ("status", "outputs"):
        assert cli.main([command]) == 2
        assert capsys.readouterr().err == (
            "error: stack cfn-iot-pipeline is not deployed: start it with `make up` (or `make deploy`)\n"
        )


def test_a_failed_create_rolls_back_names_the_resource_and_leaves_what_was_there(iot_backend, tmp_path):
    client = local_clients(iot_backend.endpoint)
    client("dynamodb").create_table(
        TableName="clash_DeviceData",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(DeployError) as failed:
        deploy_stack(config(iot_backend, "clash", tmp_path), progress=lambda _line: None)
    assert str(failed.value) == (
        "stack clash-iot-pipeline ended ROLLBACK_COMPLETE: DeviceTable (AWS::DynamoDB::Table): "
        "Resource of type 'AWS::DynamoDB::Table' with identifier 'clash_DeviceData' already exists."
    )
    assert client("sqs").list_queues(QueueNamePrefix="clash_").get("QueueUrls", []) == []
    assert client("dynamodb").describe_table(TableName="clash_DeviceData")["Table"]["KeySchema"] == [
        {"AttributeName": "id", "KeyType": "HASH"}
    ]
