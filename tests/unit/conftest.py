from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from device_data.table import key_definition
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
        **key_definition(),
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
        while batch := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        ):
            for message in batch:
                attributes = {
                    name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()
                }
                messages.append({"body": message["Body"], **attributes})
            sqs.delete_message_batch(
                QueueUrl=dlq, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )
        return messages

    return drain


class FaultyClient:
    """A real (moto) client whose chosen operations go through `overrides[name](real_call, **kwargs)`.
    Every call is recorded in `calls[name]`, so a test can see exactly what was retried."""

    def __init__(self, real, overrides):
        self._real = real
        self._overrides = overrides
        self.calls = {}

    def __getattr__(self, name):
        real_call = getattr(self._real, name)
        override = self._overrides.get(name)

        def call(**kwargs):
            self.calls.setdefault(name, []).append(kwargs)
            return override(real_call, **kwargs) if override else real_call(**kwargs)

        return call


@pytest.fixture
def inject_faults(monkeypatch):
    """inject_faults(handler_module, "dynamodb", batch_write_item=fn) -> the FaultyClient in use."""

    def inject(module, service, **overrides):
        wrapper = FaultyClient(aws.client(service), overrides)
        real_factory = module.client
        monkeypatch.setattr(module, "client", lambda name: wrapper if name == service else real_factory(name))
        return wrapper

    return inject


def client_error(code, status=400, operation="Operation"):
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": f"injected {code}"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@pytest.fixture
def make_client_error():
    return client_error


@pytest.fixture
def handler_logs(monkeypatch):
    """handler_logs(module) -> a function returning the JSON log lines that module wrote since."""
    import io
    import json

    def capture(module):
        buffer = io.StringIO()
        monkeypatch.setattr(module.logger.registered_handler, "stream", buffer)

        def lines():
            text, _ = buffer.getvalue(), buffer.truncate(0)
            buffer.seek(0)
            return [json.loads(line) for line in text.splitlines()]

        return lines

    return capture
