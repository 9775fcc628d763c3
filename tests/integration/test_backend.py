"""The embedded backend as a user meets it: the AWS CLI, lifecycle errors, TTL on DynamoDB's rules."""

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator.lifecycle import EmulatorError, free_port, start
from emulator.settings import EmulatorSettings
from iot_pipeline_testing import wait_for

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def cli(backend, *arguments, tool="aws"):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if tool == "aws":
        command = [str(BIN / "aws"), "--endpoint-url", backend.endpoint, *arguments, "--output", "json"]
    else:
        env["AWS_ENDPOINT_URL"] = backend.endpoint
        command = [str(BIN / "awslocal"), *arguments, "--output", "json"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_the_aws_cli_lists_every_resource_reads_the_stream_and_the_logs(iot_backend, stack):
    names = stack.outputs
    listings = {
        "tables": ("dynamodb", "list-tables"),
        "queues": ("sqs", "list-queues"),
        "buckets": ("s3api", "list-buckets"),
        "functions": ("lambda", "list-functions"),
        "mappings": ("lambda", "list-event-source-mappings"),
    }
    with concurrent.futures.ThreadPoolExecutor(len(listings)) as pool:
        listed = dict(
            zip(listings, pool.map(lambda arguments: cli(iot_backend, *arguments), listings.values()), strict=True)
        )
    assert names["table"] in listed["tables"]["TableNames"]
    assert names["queue_url"].rsplit("/", 1)[1] in " ".join(listed["queues"]["QueueUrls"])
    assert {names["history_bucket"], names["archive_bucket"]} <= {b["Name"] for b in listed["buckets"]["Buckets"]}
    assert set(names["functions"].values()) <= {f["FunctionName"] for f in listed["functions"]["Functions"]}
    assert {m["FunctionArn"].rsplit(":", 1)[1] for m in listed["mappings"]["EventSourceMappings"]} >= set(
        names["functions"].values()
    )

    stream_arn = cli(iot_backend, "dynamodb", "describe-table", "--table-name", names["table"])["Table"][
        "LatestStreamArn"
    ]
    shard = cli(iot_backend, "dynamodbstreams", "describe-stream", "--stream-arn", stream_arn)["StreamDescription"][
        "Shards"
    ][0]["ShardId"]
    iterator = cli(
        iot_backend,
        "dynamodbstreams",
        "get-shard-iterator",
        "--stream-arn",
        stream_arn,
        "--shard-id",
        shard,
        "--shard-iterator-type",
        "TRIM_HORIZON",
    )["ShardIterator"]
    assert "Records" in cli(iot_backend, "dynamodbstreams", "get-records", "--shard-iterator", iterator)

    stack.client("sqs").send_message(QueueUrl=names["queue_url"], MessageBody="cli-visible rejection")
    group = f"/aws/lambda/{names['functions']['ingest']}"

    logs = stack.client("logs")

    def rejection_logged():
        if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            return None  # created by the function's first invocation
        return any("cli-visible" in e["message"] for e in logs.filter_log_events(logGroupName=group)["events"])

    wait_for(rejection_logged, message="the ingest log line")
    events = [
        e
        for e in cli(iot_backend, "logs", "filter-log-events", "--log-group-name", group)["events"]
        if "cli-visible" in e["message"]
    ]
    assert json.loads(events[0]["message"])["error_code"] == "not_base64"
    assert names["table"] in cli(iot_backend, "dynamodb", "list-tables", tool="awslocal")["TableNames"]


def test_a_taken_port_is_a_one_line_error(iot_backend, tmp_path):
    taken = EmulatorSettings(port=iot_backend.port, state_dir=str(tmp_path / "embedded"))
    with pytest.raises(EmulatorError, match=f"port {iot_backend.port} is already in use"):
        start(taken, progress=lambda _line: None)
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "start"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "EMULATOR_PORT": str(iot_backend.port), "STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "already in use" in result.stderr


def test_an_unusable_state_folder_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    with pytest.raises(EmulatorError, match="is not usable"):
        start(EmulatorSettings(port=free_port(), state_dir=str(blocker / "embedded")), progress=lambda _line: None)


def test_ttl_deletes_on_dynamodbs_rules_across_more_than_one_sweep_chunk(stack):
    dynamodb = stack.client("dynamodb")
    dynamodb.create_table(
        TableName="ttl_rules",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"},
    )
    now = int(time.time())
    keep = {
        "future": {"N": str(now + 3600)},
        "string": {"S": str(now - 60)},
        "too-old": {"N": str(now - 6 * 365 * 86400)},
        "milliseconds": {"N": str(now * 1000)},
    }
    expired_count = 6000  # more than one sweep chunk (5,000)
    items = [{"id": {"S": f"gone-{n}"}, "ttl": {"N": str(now - 10)}} for n in range(expired_count)]
    items += [{"id": {"S": name}, "ttl": value} for name, value in keep.items()] + [{"id": {"S": "no-ttl"}}]
    for start_at in range(0, len(items), 25):
        dynamodb.batch_write_item(
            RequestItems={"ttl_rules": [{"PutRequest": {"Item": item}} for item in items[start_at : start_at + 25]]}
        )
    dynamodb.update_time_to_live(
        TableName="ttl_rules", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )

    def swept():
        left = sorted(
            item["id"]["S"]
            for page in dynamodb.get_paginator("scan").paginate(TableName="ttl_rules")
            for item in page["Items"]
        )
        return left if len(left) <= len(keep) + 1 else None

    assert wait_for(swept, timeout=60, message="the expired items to be swept") == sorted([*keep, "no-ttl"])
