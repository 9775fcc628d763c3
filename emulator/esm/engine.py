"""The data plane: runs every event source mapping the Lambda API lists.

Mappings are re-read every second, so creating, updating, disabling or deleting one through
the API (what the bootstrap does) takes effect without restarting anything. Stream positions
are checkpointed per function, stream and shard in the state folder after every batch
(`checkpoints`), so a restart or a mapping created again resumes where it stopped: nothing
skipped after a crash (at worst the last batch again), and nothing repeated after a clean stop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_calls.batching import Failure, RetryPolicy, chunks, send_with_retries, sqs_batch_failures
from emulator.esm.checkpoints import (
    Checkpoints,
    Consumer,
    LostCheckpoint,
    ProblemKind,
    ProblemReport,
    Problems,
    StartPosition,
    UnreadableCheckpoint,
)
from emulator.esm.filtering import FilterPatternError, parse_filter_criteria, record_matches
from emulator.esm.invoke_payload import event_payload, payload_batches
from emulator.esm.local_api import NO_ANSWER, ApiError, JsonClient, JsonService, Lambda, LocalApi, is_transient
from emulator.esm.sqs_delivery import lambda_sqs_record, records_to_delete
from emulator.esm.stream_delivery import NOT_INVOKED, InvokeResult, StreamMappingConfig, deliver_stream_batch
from emulator.esm.stream_events import lambda_stream_record
from emulator.state_files import checkpoints_dir

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams.literals import ShardIteratorTypeType

logger = logging.getLogger("emulator.esm")

REFRESH_SECONDS = 1.0
STREAM_POLL_SECONDS = 0.25  # Lambda polls a stream shard four times a second.
DEFAULT_SQS_POLLERS = 2


class AwsClients:
    """The local API as the pollers call it (`local_api`: records and messages in their JSON wire form)."""

    def __init__(self, endpoint: str, region: str):
        api = LocalApi(endpoint, region)
        self.region = region
        self.lambda_ = Lambda(api)
        self.sqs = JsonClient(api, JsonService.SQS)
        self.streams = JsonClient(api, JsonService.DYNAMODB_STREAMS)

    def invoke(self, function_arn: str, records: list[dict[str, Any]]) -> InvokeResult:
        try:
            invocation = self.lambda_.invoke(function_arn, event_payload(records))
        except ApiError as error:
            logger.warning("invoke of %s failed before the function ran: %s", function_arn, error)
            return InvokeResult(str(uuid.uuid4()), 500, NOT_INVOKED, b"")
        return InvokeResult(invocation.request_id, invocation.status, invocation.function_error, invocation.payload)

    def queue_url(self, queue_arn: str) -> str:
        _, _, _, _, account, name = queue_arn.split(":", 5)
        url: str = self.sqs.call("GetQueueUrl", QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        return url


class WorkerStopping(Exception):
    """Raised out of a wait when the worker stops: the batch in hand is not checkpointed, so the
    next start delivers it again."""


class Worker(ABC):
    """One mapping's pollers; `stop()` lets the batch in flight finish and checkpoint."""

    def __init__(
        self,
        mapping: Mapping[str, Any],
        clients: AwsClients,
        state_dir: Path,
        problems: Problems,
        lost_checkpoint: LostCheckpoint = LostCheckpoint.STOP,
    ):
        self.mapping = mapping
        self.clients = clients
        self.state_dir = state_dir
        self.problems = problems
        self.lost_checkpoint = lost_checkpoint
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    @abstractmethod
    def start(self) -> None:
        """Start the pollers."""

    def _spawn(self, target: Callable[..., None], name: str, *args: str) -> None:
        thread = threading.Thread(target=self._guarded, args=(target, name, *args), name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _guarded(self, target: Callable[..., None], name: str, *args: str) -> None:
        while not self.stopping.is_set():
            try:
                target(*args)
                return
            except WorkerStopping:
                return
            except Exception:
                logger.exception("%s failed; restarting it in 1 s", name)
                self.stopping.wait(1)

    def pause(self, seconds: float) -> None:
        """A wait between retries that ends when the worker stops (the API may be gone for good)."""
        if self.stopping.wait(seconds):
            raise WorkerStopping

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.problems.clear(self.mapping["UUID"])


class SqsWorker(Worker):
    def start(self) -> None:
        scaling = (self.mapping.get("ScalingConfig") or {}).get("MaximumConcurrency")
        pollers = min(int(scaling), 8) if scaling else DEFAULT_SQS_POLLERS
        for index in range(pollers):
            self._spawn(self._poll, f"sqs-{self.mapping['UUID'][:8]}-{index}")

    def _poll(self) -> None:
        mapping, clients = self.mapping, self.clients
        queue_arn = mapping["EventSourceArn"]
        queue_url = clients.queue_url(queue_arn)
        batch_size = int(mapping.get("BatchSize") or 10)
        window = float(mapping.get("MaximumBatchingWindowInSeconds") or 0)
        report = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
        patterns = parse_filter_criteria(mapping.get("FilterCriteria"))
        while not self.stopping.is_set():
            messages = self._gather(queue_url, batch_size, window)
            if not messages:
                continue
            selected: list[dict[str, Any]] = []
            consumed: list[dict[str, Any]] = []
            for message in messages:
                record = lambda_sqs_record(message, queue_arn, clients.region)
                # Lambda deletes what the filter drops without invoking the function.
                (selected if record_matches(patterns, record) else consumed).append(record)
            for batch in payload_batches(selected):
                result = clients.invoke(mapping["FunctionArn"], batch)
                consumed += records_to_delete(batch, result, report)
            self._delete(queue_url, consumed)

    def _gather(self, queue_url: str, batch_size: int, window: float) -> list[dict[str, Any]]:
        """Up to `batch_size` messages: with a window, as many as arrive before it closes; without
        one, what is there now (receives continue while they come back full)."""
        messages: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(messages) < batch_size and not self.stopping.is_set():
            remaining = (deadline - time.monotonic()) if deadline else window
            if messages and window > 0 and remaining <= 0:
                break
            # SQS long-polls in whole seconds; the last part of a window is short polls with pauses.
            wait = 1 if not messages else max(0, min(1, int(remaining)))
            asked = min(10, batch_size - len(messages))
            received = self.clients.sqs.call(
                "ReceiveMessage",
                QueueUrl=queue_url,
                MaxNumberOfMessages=asked,
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if received and deadline is None:
                deadline = time.monotonic() + window
            messages += received
            if messages and window <= 0 and len(received) < asked:
                break
            if messages and not received and wait == 0:
                self.stopping.wait(min(0.05, max(0.0, remaining)))
        return messages

    def _delete(self, queue_url: str, records: list[dict[str, Any]]) -> None:
        # A message id is a valid batch entry Id (hex and hyphens), and names the message in the log below.
        entries = [{"Id": record["messageId"], "ReceiptHandle": record["receiptHandle"]} for record in records]

        def delete(batch: list[dict[str, str]]) -> list[Failure]:
            return sqs_batch_failures(
                batch, self.clients.sqs.call("DeleteMessageBatch", QueueUrl=queue_url, Entries=batch)
            )

        for group in chunks(entries, 10):
            for failure in send_with_retries(delete, group, RetryPolicy(), is_transient):
                # Not deleted: SQS delivers the message again after its visibility timeout.
                logger.warning("could not delete message %s: %s %s", failure.entry["Id"], failure.code, failure.message)


class StreamWorker(Worker):
    @property
    def consumer(self) -> Consumer:
        return Consumer(self.mapping["FunctionArn"], self.mapping["EventSourceArn"])

    def start(self) -> None:
        self.config = StreamMappingConfig.from_mapping(self.mapping)
        self.patterns = parse_filter_criteria(self.mapping.get("FilterCriteria"))
        self.starting_position: ShardIteratorTypeType = self.mapping.get("StartingPosition") or "TRIM_HORIZON"
        self.skip_through: dict[str, int] = {}
        on_failure = ((self.mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.on_failure_url = self.clients.queue_url(on_failure) if on_failure else None
        if self._open_checkpoints():
            self._spawn(self._watch_shards, f"stream-{self.mapping['UUID'][:8]}")

    def _open_checkpoints(self) -> bool:
        """False when the stream must not be read: its checkpoint file cannot be read and
        STREAM_LOST_CHECKPOINT=stop, or it cannot be moved aside."""
        mapping_id = self.mapping["UUID"]
        folder = checkpoints_dir(self.state_dir)
        unwritable = ProblemReport(self.problems, mapping_id, ProblemKind.CHECKPOINT_UNWRITABLE)
        try:
            self.checkpoints = Checkpoints.load(folder, self.consumer, mapping_id, unwritable, self.stopping)
        except UnreadableCheckpoint as error:
            return self._after_unreadable(error, unwritable)
        if self.checkpoints.start:
            self.starting_position = _iterator_type(self.checkpoints.start)
        if not self.checkpoints.path.exists():
            logger.warning(
                "no checkpoint for %s (a new consumer, or its checkpoint file %s was lost): reading from %s",
                self.consumer,
                self.checkpoints.path,
                self.starting_position,
            )
        return True

    def _after_unreadable(self, error: UnreadableCheckpoint, unwritable: ProblemReport) -> bool:
        report = ProblemReport(self.problems, self.mapping["UUID"], ProblemKind.CHECKPOINT_UNREADABLE)
        if self.lost_checkpoint == LostCheckpoint.STOP:
            message = (
                f"{error}: {self.consumer} is not read until you choose: restore the file, or restart with "
                "STREAM_LOST_CHECKPOINT=trim_horizon (read the stream again: duplicates downstream) or "
                "latest (new records only: the ones in between are never delivered)"
            )
            logger.error("%s", message)
            report(message)
            return False
        start = StartPosition.LATEST if self.lost_checkpoint == LostCheckpoint.LATEST else StartPosition.TRIM_HORIZON
        try:
            self.checkpoints, aside = Checkpoints.after_unreadable(
                error, self.consumer, start, unwritable, self.stopping
            )
        except OSError as move_error:
            message = f"{error}, and cannot be moved aside ({move_error.strerror or move_error}): not read"
            logger.error("%s", message)
            report(message)
            return False
        self.starting_position = _iterator_type(start)
        message = (
            f"{error}: moved to {aside.name}; reading {self.consumer} from {self.starting_position} "
            f"(STREAM_LOST_CHECKPOINT={self.lost_checkpoint})"
        )
        logger.error("%s", message)
        report(message)
        return True

    def _watch_shards(self) -> None:
        started: set[str] = set()
        while not self.stopping.is_set():
            stream = self.clients.streams.call("DescribeStream", StreamArn=self.config.stream_arn)
            for shard in stream["StreamDescription"]["Shards"]:
                if shard["ShardId"] not in started:
                    started.add(shard["ShardId"])
                    self._spawn(self._consume, f"shard-{shard['ShardId'][-8:]}", shard["ShardId"])
            self.stopping.wait(REFRESH_SECONDS * 5)

    def _consume(self, shard_id: str) -> None:
        batch_size = int(self.mapping.get("BatchSize") or 100)
        window = float(self.mapping.get("MaximumBatchingWindowInSeconds") or 0)
        iterator: str | None = self._iterator(shard_id)
        while not self.stopping.is_set() and iterator:
            records, iterator = self._gather(shard_id, iterator, batch_size, window)
            if not records:
                continue
            events = [lambda_stream_record(record, self.config.stream_arn, self.clients.region) for record in records]
            selected = [event for event in events if record_matches(self.patterns, event)]
            for batch in payload_batches(selected):
                deliver_stream_batch(batch, shard_id, self.config, self._invoke, self._send_failure, sleep=self.pause)
            self.checkpoints.save(shard_id, events[-1]["dynamodb"]["SequenceNumber"])

    def _gather(
        self, shard_id: str, iterator: str | None, batch_size: int, window: float
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `batch_size` records: the window starts at the first record; until then, and while
        the window is open, the shard is polled four times a second as Lambda does."""
        records: list[dict[str, Any]] = []
        deadline: float | None = None
        while iterator and not self.stopping.is_set():
            try:
                response = self.clients.streams.call(
                    "GetRecords", ShardIterator=iterator, Limit=batch_size - len(records)
                )
            except ApiError as error:
                if error.code not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                    raise
                # Nothing gathered has been delivered yet: read it again from the checkpoint.
                return [], self._iterator(shard_id)
            skip_through = self.skip_through.get(shard_id, -1)
            received = [r for r in response.get("Records", []) if int(r["dynamodb"]["SequenceNumber"]) > skip_through]
            records += received
            iterator = response.get("NextShardIterator")
            if deadline is None and records:
                deadline = time.monotonic() + window
            if len(records) >= batch_size or (deadline is not None and time.monotonic() >= deadline):
                break
            if not received:
                pause = (
                    STREAM_POLL_SECONDS
                    if deadline is None
                    else min(STREAM_POLL_SECONDS, max(0.0, deadline - time.monotonic()))
                )
                self.stopping.wait(pause)
        return records, iterator

    def _iterator(self, shard_id: str) -> str:
        checkpoint = self.checkpoints.get(shard_id)
        if not checkpoint:
            return self._shard_iterator(shard_id, ShardIteratorType=self.starting_position)
        try:
            return self._shard_iterator(shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=checkpoint)
        except ApiError as error:
            if error.code != "TrimmedDataAccessException":
                raise
        # As Lambda does when its position has aged out: go on from the oldest record still there.
        # Records up to the checkpoint are skipped where they remain (sequence numbers only grow).
        logger.warning(
            "checkpoint %s of shard %s is no longer in the stream; resuming from the oldest record",
            checkpoint,
            shard_id,
        )
        self.skip_through[shard_id] = int(checkpoint)
        return self._shard_iterator(shard_id, ShardIteratorType="TRIM_HORIZON")

    def _shard_iterator(self, shard_id: str, **position: str) -> str:
        iterator: str = self.clients.streams.call(
            "GetShardIterator", StreamArn=self.config.stream_arn, ShardId=shard_id, **position
        )["ShardIterator"]
        return iterator

    def _invoke(self, records: list[dict[str, Any]]) -> InvokeResult:
        return self.clients.invoke(self.config.function_arn, records)

    def _send_failure(self, invocation_record: dict[str, Any]) -> None:
        if not self.on_failure_url:
            logger.warning(
                "discarded stream records with no on-failure destination: %s", invocation_record["DDBStreamBatchInfo"]
            )
            return
        while True:
            try:
                self.clients.sqs.call(
                    "SendMessage", QueueUrl=self.on_failure_url, MessageBody=json.dumps(invocation_record)
                )
                return
            except ApiError as error:
                # The records are only checkpointed once their failure record is sent.
                logger.warning("on-failure destination unavailable (%s); retrying", error)
                self.pause(1)


class Engine:
    def __init__(self, clients: AwsClients, state_dir: Path, lost_checkpoint: LostCheckpoint = LostCheckpoint.STOP):
        self.clients = clients
        self.state_dir = state_dir
        self.lost_checkpoint = lost_checkpoint
        self.problems = Problems()
        self.workers: dict[str, Worker] = {}

    def refresh(self) -> None:
        mappings = {}
        for mapping in self.clients.lambda_.event_source_mappings():
            if mapping.get("State", "Enabled") in ("Enabled", "Creating", "Enabling", "Updating"):
                mappings[mapping["UUID"]] = mapping
        for mapping_id in list(self.workers):
            if mapping_id not in mappings or _settings(mappings[mapping_id]) != _settings(
                self.workers[mapping_id].mapping
            ):
                self.workers.pop(mapping_id).stop()
        # Reported again below while they last.
        self.problems.clear(kind=ProblemKind.DUPLICATE_CONSUMER)
        for mapping_id, mapping in mappings.items():
            if mapping_id not in self.workers:
                worker_type = SqsWorker if ":sqs:" in mapping["EventSourceArn"] else StreamWorker
                worker = worker_type(mapping, self.clients, self.state_dir, self.problems, self.lost_checkpoint)
                if self._duplicate(worker):
                    continue
                try:
                    worker.start()
                except (FilterPatternError, ApiError) as error:
                    # The API gone is not the mapping's fault: the refresh ends, and the next one tries again.
                    if isinstance(error, ApiError) and error.status == NO_ANSWER:
                        raise
                    logger.error("mapping %s cannot run: %s", mapping_id, error)
                    worker.stop()
                    continue
                self.workers[mapping_id] = worker

    def _duplicate(self, worker: Worker) -> bool:
        """AWS refuses a second mapping of one function to one stream; MiniStack creates it. Two
        would share one checkpoint file, so the second one is not run."""
        if not isinstance(worker, StreamWorker):
            return False
        mapping_id = worker.mapping["UUID"]
        for other_id, other in self.workers.items():
            if isinstance(other, StreamWorker) and other.consumer == worker.consumer:
                message = f"not run: mapping {other_id} already reads {worker.consumer} (AWS refuses such a duplicate)"
                self.problems.report(mapping_id, ProblemKind.DUPLICATE_CONSUMER, message)
                return True
        return False

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stopping.set()
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()


def _iterator_type(start: StartPosition) -> ShardIteratorTypeType:
    return "LATEST" if start == StartPosition.LATEST else "TRIM_HORIZON"


def _settings(mapping: Mapping[str, Any]) -> dict[str, Any]:
    ignored = {"State", "StateTransitionReason", "LastModified", "LastProcessingResult"}
    return {key: value for key, value in mapping.items() if key not in ignored}
