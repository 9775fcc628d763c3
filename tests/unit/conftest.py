from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from handlers import aws

TABLE = "dev_DeviceData"
DELIVERY_STREAM = "dev-history"


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch):
    """Each test gets new clients (made inside its mock) and retries without waiting."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("RETRY_BASE_DELAY_SECONDS", "0")
    aws.client.cache_clear()
    yield
    aws.client.cache_clear()


@pytest.fixture
def mocked_aws():
    with mock_aws():
        yield


@pytest.fixture
def lambda_context():
    return SimpleNamespace(
        function_name="dev-sensor-data-ingest",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:dev-sensor-data-ingest",
        aws_request_id="00000000-0000-0000-0000-000000000001",
    )


@pytest.fixture
def device_table(mocked_aws, monkeypatch):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "deviceID", "KeyType": "HASH"}, {"AttributeName": "createdAt", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "deviceID", "AttributeType": "S"}, {"AttributeName": "createdAt", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("TABLE_NAME", TABLE)
    return boto3.resource("dynamodb").Table(TABLE)


@pytest.fixture
def dlq(mocked_aws, monkeypatch):
    url = boto3.client("sqs").create_queue(QueueName="dev_ba_sqs_ingest_rejects")["QueueUrl"]
    monkeypatch.setenv("DLQ_URL", url)
    return url


@pytest.fixture
def history_bucket(mocked_aws, monkeypatch):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="dev-history")
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName=DELIVERY_STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::dev-history",
            "Prefix": "sample-table/",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 50},
        },
    )
    monkeypatch.setenv("DELIVERY_STREAM_NAME", DELIVERY_STREAM)
    return "dev-history"


@pytest.fixture
def archive_bucket(mocked_aws, monkeypatch):
    boto3.client("s3").create_bucket(Bucket="dev-archive")
    monkeypatch.setenv("ARCHIVE_BUCKET", "dev-archive")
    return "dev-archive"


@pytest.fixture
def dlq_messages(dlq):
    """Reads (and removes) everything parked in the DLQ, attributes flattened to strings."""

    def drain() -> list[dict]:
        sqs = boto3.client("sqs")
        messages = []
        while batch := sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in batch:
                attributes = {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}
                messages.append({"body": message["Body"], **attributes})
            sqs.delete_message_batch(
                QueueUrl=dlq, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )
        return messages

    return drain
