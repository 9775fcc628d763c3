"""Where the embedded backend must behave as AWS does for a pipeline to tell no difference
(issue 13): partial batch responses, on-failure records, SQS event fields, TTL timing, Firehose
objects. Each test names the AWS page it follows."""

import gzip
import io
import json
import sys
import time
import zipfile
from datetime import UTC, datetime

import pytest

from iot_pipeline_testing import wait_for
from iot_pipeline_testing.plugin import FRESH_TTL_DELETION_DELAY_SECONDS
from tests.integration.test_event_source_mappings import create_recorder, create_streamed_table, stream_sequence

pytestmark = pytest.mark.integration

# A custom runtime (provided.al2023) speaking the Lambda Runtime API, as a Go or Rust function
# does: it answers the text its first record asks for, byte for byte ("@self" becomes that
# record's identifier). The bootstrap runs this test run's Python, so it needs no SDK.
ANSWERING_BOOTSTRAP = """#!{python}
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as answer:
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        record = json.loads(answer.read())["Records"][0]
    if "body" in record:
        text, identifier = record["body"], record["messageId"]
    else:
        text, identifier = record["dynamodb"]["NewImage"]["respond"]["S"], record["dynamodb"]["SequenceNumber"]
    body = text.replace("@self", identifier).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=body))
"""

# AWS's success and failure conditions for partial batch responses, as the function returns them.
SUCCEEDS = ["null", "{}", '{"batchItemFailures": null}', '{"batchItemFailures": []}']
FAILS = [
    "OK, all done",
    '{"batchItemFailures": [{"itemIdentifier": ""}]}',
    '{"batchItemFailures": [{"itemIdentifier": null}]}',
    '{"batchItemFailures": [{"itemIdentifier": "no-such-record"}]}',
    '{"batchItemFailures": [{"itemIdentifer": "@self"}]}',
    '{"batchItemFailures": [{"itemIdentifier": "@self"}]}',
]


def answering_function(lambda_, name):
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("bootstrap", ANSWERING_BOOTSTRAP.format(python=sys.executable))
    lambda_.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Role="arn:aws:iam::000000000000:role/test",
        Handler="bootstrap",
        Code={"ZipFile": code.getvalue()},
        Timeout=2,
    )


def create_queue(stack, name, **attributes):
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_sqs_mapping_deletes_only_what_a_valid_partial_batch_response_lets_succeed(stack):
    """Lambda guide, "Handling errors for an SQS event source in Lambda", success and failure
    conditions: a response that is not JSON, or names an empty, null or unknown identifier or a
    misnamed key, fails the whole batch; null, {} and a null or empty list succeed."""
    dlq_url, dlq_arn = create_queue(stack, "fidelity-sqs-dlq")
    # One receive, then the queue's redrive: every failed message ends in the DLQ.
    source_url, source_arn = create_queue(
        stack,
        "fidelity-sqs-source",
        VisibilityTimeout=2,
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
    )
    answering_function(stack.client("lambda"), "fidelity-sqs-answers")
    for text in SUCCEEDS + FAILS:
        stack.client("sqs").send_message(QueueUrl=source_url, MessageBody=text)
    stack.client("lambda").create_event_source_mapping(
        FunctionName="fidelity-sqs-answers",
        EventSourceArn=source_arn,
        BatchSize=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    redriven = []

    def settled():
        redriven.extend(m["Body"] for m in stack.drain(dlq_url))
        return stack.queue_depth(source_url) == 0 and len(redriven) >= len(FAILS)

    wait_for(settled, timeout=40, message="every message deleted or redriven")
    assert sorted(redriven) == sorted(FAILS)
    # What the mapping read: Invoke returns a custom runtime's body as it is, not as a JSON string.
    answer = stack.client("lambda").invoke(
        FunctionName="fidelity-sqs-answers",
        Payload=json.dumps({"Records": [{"body": "OK, all done", "messageId": "m"}]}).encode(),
    )
    assert answer["Payload"].read() == b"OK, all done" and "FunctionError" not in answer


def test_stream_mapping_retries_what_a_partial_batch_response_fails_and_writes_a_null_function_error(stack):
    """Lambda guide, "Configuring partial batch response with DynamoDB and Lambda" (success and
    failure conditions) and "Retaining discarded records for a DynamoDB event source" (the
    invocation record): a batch failed by its response, not by an error, is recorded with
    `functionError` null, as AWS recorded it (LocalStack's AWS-validated
    test_dynamodb_report_batch_item_failure_scenarios)."""
    failures_url, failures_arn = create_queue(stack, "fidelity-stream-failures")
    stream_arn = create_streamed_table(stack.client("dynamodb"), "fidelity_answers")
    answering_function(stack.client("lambda"), "fidelity-stream-answers")
    # The last record fails too: once its failure record is in, every record before it is done.
    texts = SUCCEEDS + FAILS + ["OK, the last one"]
    for n, text in enumerate(texts):
        stack.client("dynamodb").put_item(
            TableName="fidelity_answers", Item={"id": {"S": f"r{n:02d}"}, "respond": {"S": text}}
        )
    stack.client("lambda").create_event_source_mapping(
        FunctionName="fidelity-stream-answers",
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=1,
        MaximumRetryAttempts=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    sequence = stream_sequence(stack, stream_arn)
    last = sequence[f"r{len(texts) - 1:02d}"]
    records = []

    def last_one_recorded():
        records.extend(json.loads(m["Body"]) for m in stack.drain(failures_url))
        return any(r["DDBStreamBatchInfo"]["startSequenceNumber"] == last for r in records)

    wait_for(last_one_recorded, timeout=40, message="the last record's on-failure record")
    by_sequence = {number: key for key, number in sequence.items()}
    failed = sorted(by_sequence[r["DDBStreamBatchInfo"]["startSequenceNumber"]] for r in records)
    assert failed == [f"r{n:02d}" for n in range(len(SUCCEEDS), len(texts))]
    for record in records:
        assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 1 and record["requestContext"]["requestId"]
        assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None}


def test_sqs_events_carry_the_attributes_digest_send_message_returned(stack):
    """Lambda guide, "Using Lambda with Amazon SQS" (example SQS message event):
    `md5OfMessageAttributes` is the digest SendMessage returned, null without attributes."""
    seen_url, _ = create_queue(stack, "fidelity-md5-seen")
    source_url, source_arn = create_queue(stack, "fidelity-md5-source")
    create_recorder(stack.client("lambda"), "fidelity-md5", "recorder.sqs_handler", seen_url)
    sqs = stack.client("sqs")
    sent = sqs.send_message(
        QueueUrl=source_url,
        MessageBody="with",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "reading"}},
    )
    sqs.send_message(QueueUrl=source_url, MessageBody="without")
    stack.client("lambda").create_event_source_mapping(
        FunctionName="fidelity-md5", EventSourceArn=source_arn, BatchSize=10
    )
    records = {}

    def both_seen():
        for message in stack.drain(seen_url):
            records.update({r["body"]: r for r in json.loads(message["Body"])["Records"]})
        return len(records) == 2

    wait_for(both_seen, timeout=30, message="both messages delivered")
    assert records["with"]["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert records["without"]["md5OfMessageAttributes"] is None and records["without"]["messageAttributes"] == {}


def test_firehose_writes_gzip_objects_of_delimited_records_dated_by_their_oldest_record(stack):
    """Firehose API reference, "ExtendedS3DestinationConfiguration" (CompressionFormat GZIP) and
    "Processor" (AppendDelimiterToRecord); developer guide, "Configure Amazon S3 object name
    format" and "Custom prefixes" (the time is the approximate arrival of the oldest record)."""
    s3, firehose = stack.client("s3"), stack.client("firehose")
    bucket, interval = "fidelity-gzip-history", 2
    s3.create_bucket(Bucket=bucket)
    firehose.create_delivery_stream(
        DeliveryStreamName="fidelity-gzip",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/test",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "rows/",
            "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": 1},
            "CompressionFormat": "GZIP",
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]},
        },
    )
    before = time.time()
    firehose.put_record_batch(
        DeliveryStreamName="fidelity-gzip", Records=[{"Data": b'{"n": 1}'}, {"Data": b'{"n": 2}'}]
    )
    after = time.time()
    (key,) = wait_for(
        lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
        timeout=30,
        message="the buffer's object",
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert key.endswith(".gz") and gzip.decompress(body) == b'{"n": 1}\n{"n": 2}\n'
    stamp = key.removeprefix("rows/").split("fidelity-gzip-1-")[1][:19]
    written = datetime.strptime(stamp, "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC).timestamp()
    # The buffer is written `interval` seconds after the records arrive; the key keeps their time.
    assert int(before) <= written <= after, (key, before, after)
    assert key.startswith("rows/" + time.strftime("%Y/%m/%d/%H/", time.gmtime(written)))


@pytest.fixture(scope="module")
def ttl_stack(iot_deploy):
    """A stack of its own on the shared backend, which deletes expired items
    FRESH_TTL_DELETION_DELAY_SECONDS after expiry; archive objects in STANDARD, so reading them back
    needs no restore."""
    return iot_deploy("ttl", ARCHIVE_STORAGE_CLASS="STANDARD")


def reading(device_id, expired_at):
    return {
        "deviceID": {"S": device_id},
        "createdAt": {"N": str(int(time.time() * 1000))},
        "expiredAt": {"N": str(expired_at)},
        "temperature": {"N": "20"},
    }


def keys(item):
    return {"deviceID": item["deviceID"], "createdAt": item["createdAt"]}


def archived_devices(stack):
    return {entry["keys"]["deviceID"]["S"] for _key, _class, entry in stack.archived_items()}


def test_with_a_deletion_delay_an_expired_item_stays_readable_then_is_deleted_and_archived(ttl_stack):
    """DynamoDB guide, "Using time to live (TTL) in DynamoDB": expired items are deleted within a
    few days of expiry, and until then they can still be read; the deletion is a TTL removal."""
    stack, dynamodb = ttl_stack, ttl_stack.client("dynamodb")
    # Expired already (at most a second ago), so not deleted before FRESH_TTL_DELETION_DELAY_SECONDS - 1 from now.
    expired_at = int(time.time())
    item = reading("ttl-delayed", expired_at)
    dynamodb.put_item(TableName=stack.outputs["table"], Item=item)
    assert dynamodb.get_item(TableName=stack.outputs["table"], Key=keys(item))["Item"] == item, "expired, not deleted"

    wait_for(lambda: "ttl-delayed" in archived_devices(stack), timeout=40, message="the archived item")
    (removal,) = wait_for(
        lambda: [
            line
            for line in stack.history_lines()
            if line["keys"]["deviceID"] == "ttl-delayed" and line["action"] == "REMOVE"
        ],
        timeout=30,
        message="the REMOVE in the history",
    )
    assert removal["expired"] is True and removal["timestamp"] >= expired_at + FRESH_TTL_DELETION_DELAY_SECONDS
    assert "Item" not in dynamodb.get_item(TableName=stack.outputs["table"], Key=keys(item))


def test_a_manual_delete_of_an_expired_unswept_item_is_archived_only_when_set_to_infer_ttl(ttl_stack):
    """DynamoDB guide, "DynamoDB Streams and Time to Live" (TTL deletions carry the
    `dynamodb.amazonaws.com` service identity) and "Using time to live (TTL) in DynamoDB"
    (expired items remain until deleted): on AWS (and here, `manual`) deleting such an item by
    hand is not a TTL removal; `ttl-if-expired`, for LocalStack's unmarked deletes, counts it."""
    stack, dynamodb, lambda_ = (
        ttl_stack,
        ttl_stack.client("dynamodb"),
        ttl_stack.client("lambda"),
    )
    table, archive_function = stack.outputs["table"], f"{stack.config.env}-dynamodb-archive"

    def delete_by_hand_then_expire_a_marker(deleted, marker):
        now = int(time.time())
        by_hand = reading(deleted, now)
        dynamodb.put_item(TableName=table, Item=by_hand)
        dynamodb.delete_item(TableName=table, Key=keys(by_hand))
        # Swept after the manual delete: the archive mapping reads the stream in order, so once
        # the marker is archived, the REMOVE before it has been seen.
        dynamodb.put_item(TableName=table, Item=reading(marker, now))
        wait_for(lambda: marker in archived_devices(stack), timeout=40, message=f"the marker {marker}")
        return archived_devices(stack)

    assert "ttl-by-hand" not in delete_by_hand_then_expire_a_marker("ttl-by-hand", "ttl-marker")

    environment = lambda_.get_function_configuration(FunctionName=archive_function)["Environment"]["Variables"]
    assert environment["REMOVALS_WITHOUT_IDENTITY"] == "manual"
    lambda_.update_function_configuration(
        FunctionName=archive_function,
        Environment={"Variables": {**environment, "REMOVALS_WITHOUT_IDENTITY": "ttl-if-expired"}},
    )
    assert "ttl-inferred" in delete_by_hand_then_expire_a_marker("ttl-inferred", "ttl-marker-2")
