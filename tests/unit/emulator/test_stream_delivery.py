import json
import threading
import time
from types import SimpleNamespace

from emulator.esm.checkpoints import Problems
from emulator.esm.engine import StreamWorker
from emulator.esm.local_api import NO_ANSWER, ApiError
from emulator.esm.stream_delivery import (
    NOT_INVOKED,
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    InvokeResult,
    StreamMappingConfig,
    deliver_stream_batch,
)

STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000"
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:f"
NOW = 1_800_000_000


def records(count, poisoned=(), created=NOW - 5):
    return [
        {
            "eventID": str(n),
            "dynamodb": {
                "SequenceNumber": f"{n:05d}",
                "ApproximateCreationDateTime": created,
                "NewImage": {"poison": {"BOOL": n in poisoned}},
            },
        }
        for n in range(count)
    ]


class Function:
    """Fails any batch holding a poisoned record; remembers every batch it saw."""

    def __init__(self, report=None):
        self.batches = []
        self.processed = []
        self.report = report

    def __call__(self, batch):
        self.batches.append([r["dynamodb"]["SequenceNumber"] for r in batch])
        poisoned = [r for r in batch if r["dynamodb"]["NewImage"]["poison"]["BOOL"]]
        if self.report:
            failed = poisoned[:1]
            done = batch if not failed else batch[: batch.index(failed[0])]
            self.processed += [r["dynamodb"]["SequenceNumber"] for r in done]
            payload = {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failed]}
            return InvokeResult("req", 200, None, json.dumps(payload).encode())
        if poisoned:
            return InvokeResult("req", 200, "Unhandled", b'{"errorMessage": "poison"}')
        self.processed += [r["dynamodb"]["SequenceNumber"] for r in batch]
        return InvokeResult("req", 200, None, b"null")


def config(**settings):
    return StreamMappingConfig(FUNCTION, STREAM, **settings)


def deliver(batch, cfg, function):
    sent = []
    discards = deliver_stream_batch(
        batch, "shard-1", cfg, function, sent.append, now=lambda: NOW, sleep=lambda _s: None
    )
    return discards, sent


def test_a_good_batch_is_invoked_once():
    function = Function()
    discards, sent = deliver(records(10), config(), function)
    assert len(function.batches) == 1 and not discards and not sent


def test_bisect_isolates_exactly_the_poisoned_record_and_delivers_the_rest():
    function = Function()
    discards, sent = deliver(
        records(16, poisoned={11}), config(bisect_on_error=True, maximum_retry_attempts=2), function
    )
    assert [d.records[0]["dynamodb"]["SequenceNumber"] for d in discards] == ["00011"]
    assert sorted(function.processed) == [f"{n:05d}" for n in range(16) if n != 11]
    (failure,) = sent
    assert failure["requestContext"]["condition"] == RETRY_ATTEMPTS_EXHAUSTED
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert (
        failure["DDBStreamBatchInfo"]["startSequenceNumber"]
        == failure["DDBStreamBatchInfo"]["endSequenceNumber"]
        == "00011"
    )
    assert (
        failure["DDBStreamBatchInfo"]["streamArn"] == STREAM and failure["DDBStreamBatchInfo"]["shardId"] == "shard-1"
    )
    assert failure["responseContext"]["functionError"] == "Unhandled" and failure["version"] == "1.0"


def test_splitting_does_not_use_up_the_retry_quota():
    function = Function()
    deliver(records(8, poisoned={0}), config(bisect_on_error=True, maximum_retry_attempts=1), function)
    single_poison_attempts = [batch for batch in function.batches if batch == ["00000"]]
    assert len(single_poison_attempts) == 2, "one try and one retry once the batch is down to the bad record"


def test_without_bisect_the_whole_batch_is_retried_then_discarded():
    function = Function()
    discards, sent = deliver(records(4, poisoned={2}), config(maximum_retry_attempts=2), function)
    assert function.batches == [["00000", "00001", "00002", "00003"]] * 3
    assert [r["dynamodb"]["SequenceNumber"] for r in discards[0].records] == ["00000", "00001", "00002", "00003"]
    assert sent[0]["DDBStreamBatchInfo"]["batchSize"] == 4


def test_report_batch_item_failures_retries_from_the_first_reported_record():
    function = Function(report=True)
    discards, _ = deliver(
        records(6, poisoned={3}), config(report_batch_item_failures=True, maximum_retry_attempts=1), function
    )
    assert function.batches[0] == [f"{n:05d}" for n in range(6)]
    assert function.batches[1] == ["00003", "00004", "00005"]
    assert [r["dynamodb"]["SequenceNumber"] for r in discards[0].records] == ["00003", "00004", "00005"]


def test_an_unreadable_item_failure_fails_the_whole_batch():
    def bogus(batch):
        return InvokeResult("req", 200, None, b'{"batchItemFailures": [{"itemIdentifier": "nope"}]}')

    discards, _ = deliver(records(3), config(report_batch_item_failures=True, maximum_retry_attempts=0), bogus)
    assert len(discards[0].records) == 3


def test_records_older_than_the_maximum_age_are_discarded_without_invoking():
    function = Function()
    discards, sent = deliver(records(3, created=NOW - 120), config(maximum_record_age_seconds=60), function)
    assert function.batches == [] and discards[0].condition == RECORD_AGE_EXCEEDED
    (failure,) = sent
    # As AWS recorded it (LocalStack's test_kinesis_maximum_record_age_exceeded[expire-before-ingestion]).
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] == 1 and failure["requestContext"]["requestId"]
    assert "responseContext" not in failure


def test_records_that_age_out_while_retried_count_every_attempt_and_name_the_last_request():
    clock = [NOW]
    attempts = []

    def failing(batch):
        attempts.append(1)
        clock[0] += 30
        return InvokeResult(f"req-{len(attempts)}", 200, "Unhandled", b"{}")

    sent = []
    deliver_stream_batch(
        records(1, created=NOW - 5),
        "shard-1",
        config(maximum_record_age_seconds=60),
        failing,
        sent.append,
        now=lambda: clock[0],
        sleep=lambda _s: None,
    )
    (failure,) = sent
    assert len(attempts) == 2, "invoked at 5 s and 35 s of age; at 65 s it is too old"
    assert failure["requestContext"] == {
        "requestId": "req-2",
        "functionArn": FUNCTION,
        "condition": "RecordAgeExceeded",
        "approximateInvokeCount": 3,
    }


def test_a_partial_batch_response_failure_record_has_a_null_function_error():
    function = Function(report=True)
    _, sent = deliver(
        records(2, poisoned={1}), config(report_batch_item_failures=True, maximum_retry_attempts=0), function
    )
    (failure,) = sent
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None}
    assert failure["requestContext"]["approximateInvokeCount"] == 1


def test_infinite_retries_keep_trying_until_the_function_recovers():
    calls = []

    def flaky(batch):
        calls.append(1)
        return InvokeResult("req", 200, "Unhandled" if len(calls) < 5 else None, b"null")

    discards, _ = deliver(records(2), config(), flaky)
    assert len(calls) == 5 and not discards


def test_an_invoke_that_never_reached_the_function_does_not_use_up_the_retry_quota():
    """The API process killed or restarting: the batch waits for it instead of being discarded."""
    function = Function()
    unreachable = iter(range(4))

    def invoke(batch):
        if next(unreachable, None) is not None:
            return InvokeResult("req", 500, NOT_INVOKED, b"")
        return function(batch)

    discards, sent = deliver(records(3), config(maximum_retry_attempts=0), invoke)
    assert not discards and not sent
    assert function.processed == ["00000", "00001", "00002"]


def test_an_invoke_that_never_reached_the_function_still_ages_out():
    clock = iter([NOW, NOW, NOW + 120, NOW + 120])
    sent = []
    discards = deliver_stream_batch(
        records(2, created=NOW - 5),
        "shard-1",
        config(maximum_record_age_seconds=60, maximum_retry_attempts=0),
        lambda batch: InvokeResult("req", 500, NOT_INVOKED, b""),
        sent.append,
        now=lambda: next(clock),
        sleep=lambda _s: None,
    )
    assert [d.condition for d in discards] == [RECORD_AGE_EXCEEDED]


def test_a_stopping_worker_gives_up_waiting_for_an_unreachable_on_failure_destination(tmp_path, caplog):
    """A data plane whose API was killed stops at once; the batch is not checkpointed, so the next
    start delivers it again."""

    class Unreachable:
        def call(self, _operation, **_request):
            raise ApiError("SendMessage", "ConnectionRefusedError", "[Errno 111] Connection refused", NO_ANSWER)

    mapping = {"UUID": "uuid-1", "FunctionArn": FUNCTION, "EventSourceArn": STREAM}
    worker = StreamWorker(mapping, SimpleNamespace(sqs=Unreachable(), region="us-east-1"), tmp_path, Problems())
    worker.on_failure_url = "http://127.0.0.1:1/000000000000/failures"
    sender = threading.Thread(target=worker._guarded, args=(worker._send_failure, "shard", {"DDBStreamBatchInfo": {}}))
    sender.start()
    wait_until = time.monotonic() + 5
    while "on-failure destination unavailable" not in caplog.text and time.monotonic() < wait_until:
        time.sleep(0.01)
    worker.stop()
    sender.join(timeout=2)
    assert not sender.is_alive()
    assert "restarting" not in caplog.text
