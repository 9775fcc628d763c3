"""The embedded backend's event source mappings, observed through test functions.

Each test function sends every event it receives to a "seen" queue and fails on records marked
`poison`, so the tests can check bisect, retries, on-failure records, partial batch responses,
redrive, event shapes and checkpoints against what AWS documents.
"""

import io
import json
import time
import zipfile

import pytest

from emulator.lifecycle import dataplane_status
from iot_pipeline_testing import wait_for

pytestmark = pytest.mark.integration

RECORDER = """
import json, os, time, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])

def stream_handler(event, context):
    sqs.send_message(QueueUrl=os.environ["SEEN_QUEUE_URL"], MessageBody=json.dumps(event))
    if any(r["dynamodb"].get("NewImage", {}).get("poison", {}).get("BOOL") for r in event["Records"]):
        raise ValueError("poison record in the batch")
    return {"batchItemFailures": []}

def sqs_handler(event, context):
    sqs.send_message(QueueUrl=os.environ["SEEN_QUEUE_URL"], MessageBody=json.dumps({**event, "invokedAt": time.time()}))
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]}
"""


def recorder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("recorder.py", RECORDER)
    return buffer.getvalue()


def create_recorder(lambda_, name, handler, seen_url, timeout=10):
    """A function running RECORDER's `handler`, which reports each event to `seen_url`."""
    lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/test",
        Handler=handler,
        Code={"ZipFile": recorder_zip()},
        Timeout=timeout,
        Environment={"Variables": {"SEEN_QUEUE_URL": seen_url}},
    )


def create_streamed_table(dynamodb, name):
    """A table keyed by `id` with a NEW_AND_OLD_IMAGES stream; returns the stream's ARN."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


@pytest.fixture(scope="module")
def harness(stack):
    sqs, lambda_, dynamodb = stack.client("sqs"), stack.client("lambda"), stack.client("dynamodb")
    created = {}

    def queue(name, **attributes):
        url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def function(name, handler, seen_url, timeout=10):
        create_recorder(lambda_, name, handler, seen_url, timeout)

    def table(name):
        return create_streamed_table(dynamodb, name)

    created.update(queue=queue, function=function, table=table)
    return created


def seen_events(stack, url, minimum, message):
    events = []

    def enough():
        events.extend(json.loads(m["Body"]) for m in stack.drain(url))
        return len(events) >= minimum

    wait_for(enough, timeout=40, message=message)
    return events


def stream_sequence(stack, stream_arn):
    streams = stack.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    return {
        r["dynamodb"]["Keys"]["id"]["S"]: r["dynamodb"]["SequenceNumber"]
        for r in streams.get_records(ShardIterator=iterator)["Records"]
    }


def test_bisect_and_on_failure_destination_catch_exactly_the_poisoned_record(stack, harness):
    seen_url, _ = harness["queue"]("esm-bisect-seen")
    failures_url, failures_arn = harness["queue"]("esm-bisect-failures")
    stream_arn = harness["table"]("esm_bisect")
    harness["function"]("esm-bisect", "recorder.stream_handler", seen_url)
    dynamodb = stack.client("dynamodb")
    for n in range(10):
        dynamodb.put_item(TableName="esm_bisect", Item={"id": {"S": f"r{n}"}, "poison": {"BOOL": n == 6}})
    stack.client("lambda").create_event_source_mapping(
        FunctionName="esm-bisect",
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )

    (failure_message,) = wait_for(lambda: stack.drain(failures_url), message="the on-failure record")
    failure = json.loads(failure_message["Body"])
    poison_sequence = stream_sequence(stack, stream_arn)["r6"]
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"] == poison_sequence
    assert info["streamArn"] == stream_arn and info["shardId"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"].endswith(":function:esm-bisect")
    assert failure["responseContext"]["functionError"] == "Unhandled"

    # The halves after the poisoned record are invoked after its failure record is sent.
    events, good = [], {f"r{n}" for n in range(10) if n != 6}

    def succeeded():
        events.extend(json.loads(m["Body"]) for m in stack.drain(seen_url))
        return {
            r["dynamodb"]["Keys"]["id"]["S"]
            for e in events
            for r in e["Records"]
            if not any(x["dynamodb"]["NewImage"]["poison"]["BOOL"] for x in e["Records"])
        }

    assert wait_for(lambda: succeeded() == good or None, message="the nine good records") is True


def test_stream_events_have_the_shape_lambda_delivers(stack, harness):
    seen_url, _ = harness["queue"]("esm-shape-seen")
    stream_arn = harness["table"]("esm_shape")
    harness["function"]("esm-shape", "recorder.stream_handler", seen_url)
    stack.client("dynamodb").put_item(TableName="esm_shape", Item={"id": {"S": "a"}, "raw": {"B": b"\x00\x01"}})
    stack.client("lambda").create_event_source_mapping(
        FunctionName="esm-shape", EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON", BatchSize=5
    )
    (event,) = seen_events(stack, seen_url, 1, "one event")
    (record,) = event["Records"]
    assert (
        record["eventSource"] == "aws:dynamodb"
        and record["eventSourceARN"] == stream_arn
        and record["awsRegion"] == "us-east-1"
    )
    assert record["eventName"] == "INSERT" and record["eventVersion"]
    change = record["dynamodb"]
    assert (
        isinstance(change["ApproximateCreationDateTime"], (int, float))
        and abs(change["ApproximateCreationDateTime"] - time.time()) < 120
    )
    assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES" and change["SizeBytes"] > 0 and change["SequenceNumber"]
    assert change["NewImage"]["raw"] == {"B": "AAE="}, "binary arrives base64-encoded, as in Lambda events"


def test_filtered_out_stream_records_are_consumed_without_invoking(stack, harness):
    seen_url, _ = harness["queue"]("esm-filter-seen")
    stream_arn = harness["table"]("esm_filter")
    harness["function"]("esm-filter", "recorder.stream_handler", seen_url)
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName="esm_filter", Item={"id": {"S": "kept"}})
    dynamodb.put_item(TableName="esm_filter", Item={"id": {"S": "dropped"}})
    dynamodb.delete_item(TableName="esm_filter", Key={"id": {"S": "kept"}})
    stack.client("lambda").create_event_source_mapping(
        FunctionName="esm-filter",
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"eventName": ["REMOVE"]})}]},
    )
    events = seen_events(stack, seen_url, 1, "the REMOVE")
    assert [r["eventName"] for e in events for r in e["Records"]] == ["REMOVE"]


def test_sqs_partial_batch_failure_deletes_the_rest_and_redrives_the_failure(stack, harness):
    seen_url, _ = harness["queue"]("esm-sqs-seen")
    dlq_url, dlq_arn = harness["queue"]("esm-sqs-dlq")
    # Long enough for an invocation on a loaded machine: a message still in flight when its
    # visibility ends is delivered again, as SQS would, and "exactly once" below would not hold.
    source_url, source_arn = harness["queue"](
        "esm-sqs-source",
        VisibilityTimeout=4,
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    # Lambda refuses a queue whose visibility timeout is under the function's timeout.
    harness["function"]("esm-sqs", "recorder.sqs_handler", seen_url, timeout=4)
    sqs = stack.client("sqs")
    sqs.send_message(
        QueueUrl=source_url,
        MessageBody="fail",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "bad"}},
    )
    for n in range(5):
        sqs.send_message(QueueUrl=source_url, MessageBody=f"ok-{n}")
    stack.client("lambda").create_event_source_mapping(
        FunctionName="esm-sqs",
        EventSourceArn=source_arn,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    (redriven,) = wait_for(lambda: stack.drain(dlq_url), timeout=40, message="the failing message in the DLQ")
    assert redriven["Body"] == "fail"
    events = seen_events(stack, seen_url, 2, "two deliveries of the failing message")
    bodies = [r["body"] for e in events for r in e["Records"]]
    assert sorted(b for b in bodies if b.startswith("ok-")) == [f"ok-{n}" for n in range(5)], (
        "each good message exactly once"
    )
    assert bodies.count("fail") == 2, "delivered maxReceiveCount times, then redriven"
    record = next(r for e in events for r in e["Records"] if r["body"] == "fail")
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == source_arn
    assert (
        record["messageAttributes"]["kind"]["stringValue"] == "bad" and record["attributes"]["ApproximateReceiveCount"]
    )
    assert queue_is_empty(stack, source_url)


def queue_is_empty(stack, url):
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_a_disabled_mapping_stops_delivering_until_enabled_again(stack, harness, iot_backend):
    seen_url, _ = harness["queue"]("esm-toggle-seen")
    source_url, source_arn = harness["queue"]("esm-toggle-source")
    harness["function"]("esm-toggle", "recorder.sqs_handler", seen_url)
    lambda_ = stack.client("lambda")
    mapping = lambda_.create_event_source_mapping(FunctionName="esm-toggle", EventSourceArn=source_arn, BatchSize=10)
    lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    wait_for(
        lambda: mapping["UUID"] not in dataplane_status(iot_backend).get("running_mappings", [mapping["UUID"]]),
        message="the data plane to stop the disabled mapping",
    )
    stack.client("sqs").send_message(QueueUrl=source_url, MessageBody="while disabled")
    # Two more refreshes of the data plane with the message waiting: a running poller would have taken it.
    seen_refreshes = dataplane_status(iot_backend)["refreshes"]
    wait_for(
        lambda: dataplane_status(iot_backend)["refreshes"] >= seen_refreshes + 2,
        message="two data plane refreshes",
    )
    assert stack.drain(seen_url) == [] and not queue_is_empty(stack, source_url)
    lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    events = seen_events(stack, seen_url, 1, "delivery after enabling")
    assert [r["body"] for e in events for r in e["Records"]] == ["while disabled"]


def test_sqs_batching_window_holds_records_until_it_closes(stack, harness, iot_backend):
    window = 1
    seen_url, _ = harness["queue"]("esm-window-seen")
    source_url, source_arn = harness["queue"]("esm-window-source")
    harness["function"]("esm-window", "recorder.sqs_handler", seen_url)
    mapping = stack.client("lambda").create_event_source_mapping(
        FunctionName="esm-window", EventSourceArn=source_arn, BatchSize=10, MaximumBatchingWindowInSeconds=window
    )
    wait_for(
        lambda: mapping["UUID"] in dataplane_status(iot_backend).get("running_mappings", []),
        message="the mapping to run",
    )
    for body in ("first", "second", "third"):
        stack.client("sqs").send_message(QueueUrl=source_url, MessageBody=body)
    events = seen_events(stack, seen_url, 1, "the invocations")
    wait_for(
        lambda: (
            events.extend(json.loads(m["Body"]) for m in stack.drain(seen_url))
            or sorted(r["body"] for e in events for r in e["Records"]) == ["first", "second", "third"]
        ),
        message="all three records",
    )
    for event in events:
        first_sent = min(int(r["attributes"]["SentTimestamp"]) for r in event["Records"]) / 1000
        # Lambda waits out the window (the batch is not full); the timestamps come from two clocks on this machine.
        assert event["invokedAt"] - first_sent >= window - 0.25, event


def test_latest_starting_position_skips_what_was_written_before(stack, harness):
    seen_url, _ = harness["queue"]("esm-latest-seen")
    stream_arn = harness["table"]("esm_latest")
    harness["function"]("esm-latest", "recorder.stream_handler", seen_url)
    dynamodb = stack.client("dynamodb")
    dynamodb.put_item(TableName="esm_latest", Item={"id": {"S": "before"}})
    stack.client("lambda").create_event_source_mapping(
        FunctionName="esm-latest", EventSourceArn=stream_arn, StartingPosition="LATEST", BatchSize=10
    )
    seen, written = [], iter(range(1000))

    def an_item_written_after_is_delivered():
        dynamodb.put_item(TableName="esm_latest", Item={"id": {"S": f"after-{next(written)}"}})
        seen.extend(
            r["dynamodb"]["Keys"]["id"]["S"] for m in stack.drain(seen_url) for r in json.loads(m["Body"])["Records"]
        )
        return seen

    wait_for(an_item_written_after_is_delivered, interval=0.5, message="a record written after the mapping")
    assert "before" not in seen and all(key.startswith("after-") for key in seen)
