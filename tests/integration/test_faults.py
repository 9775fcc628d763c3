"""Faults injected into the emulator's APIs (POST /_emulator/faults): the pipeline rides out a
Firehose outage, and S3 refusing the archive writes loses nothing without saying so."""

import base64
import json
import time
import urllib.request

import pytest

from emulator.call_counter import COUNTS_PATH, FAULTS_PATH
from iot_pipeline_testing import wait_for

pytestmark = pytest.mark.integration


def inject(stack, operation, count, code="ServiceUnavailableException", status=503):
    request = urllib.request.Request(
        stack.endpoint + FAULTS_PATH,
        method="POST",
        data=json.dumps({"operation": operation, "count": count, "code": code, "status": status}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert operation in json.loads(response.read())


def calls(stack, operation):
    with urllib.request.urlopen(stack.endpoint + COUNTS_PATH, timeout=5) as response:
        return json.loads(response.read()).get(operation, 0)


def send_readings(stack, device_prefix, count, timestamp):
    sqs = stack.client("sqs")
    for n in range(count):
        body = json.dumps({"things_name": f"{device_prefix}{n}", "timestamp": timestamp, "data": {"n": n}})
        sqs.send_message(QueueUrl=stack.outputs["queue_url"], MessageBody=base64.b64encode(body.encode()).decode())


def test_a_firehose_outage_is_ridden_out_and_every_change_reaches_the_history(stack):
    before = calls(stack, "firehose.PutRecordBatch")
    inject(stack, "firehose.PutRecordBatch", count=4)
    send_readings(stack, "fault-fh-", 5, int(time.time()))
    wait_for(
        lambda: (
            len(
                {line["event_id"] for line in stack.history_lines() if line["keys"]["deviceID"].startswith("fault-fh-")}
            )
            == 5
        ),
        timeout=60,
        message="the five history lines",
    )
    assert calls(stack, "firehose.PutRecordBatch") - before >= 5, "the failed calls were retried"
    assert stack.drain(stack.outputs["failures_queue_url"]) == []


def test_s3_refusing_archive_writes_ends_each_expiry_archived_or_reported(iot_deploy):
    stack = iot_deploy("s3fault", STREAM_RETRY_ATTEMPTS="1")
    expired = 2
    # A refusal the SDK does not retry, so each failed invocation is quick; enough of them to
    # outlast the mapping's retries of the first batch (one retry after bisecting).
    inject(stack, "s3.PutObject", count=5, code="AccessDenied", status=403)
    send_readings(stack, "fault-s3-", expired, int(time.time()) - 31_536_000 - 600)
    reported = []

    def accounted():
        reported.extend(json.loads(m["Body"]) for m in stack.drain(stack.outputs["failures_queue_url"]))
        discarded = sum(r["DDBStreamBatchInfo"]["batchSize"] for r in reported)
        return stack.archived_item_count() + discarded == expired

    wait_for(accounted, timeout=90, message=f"{expired} expiries archived or reported")
    assert reported, "the outage outlasted the retries, so some batches must have been reported"
    assert all(r["requestContext"]["condition"] == "RetryAttemptsExhausted" for r in reported)
    assert all(r["requestContext"]["functionArn"].endswith(stack.outputs["functions"]["archive"]) for r in reported)
