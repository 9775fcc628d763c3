"""A deployed pipeline as a test meets it: its outputs, and the waits a test needs.

Every wait has a deadline and polls; nothing sleeps a fixed time. The helpers read only what a
test names (its own device ids, the history written after a point, the dead letters it matches),
so they work on a stack that `make up`'s simulator is feeding at the same time.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError

from aws_calls.sessions import ClientFactory, local_clients
from bootstrap.outputs import archive_counts
from device_data.messages import MessageFate
from simulator.payloads import Outgoing
from simulator.transports import Via, default_via, opened

DEFAULT_TIMEOUT_SECONDS = 30.0
RESTORE_DEADLINE_SECONDS = 30.0
T = TypeVar("T")


class SendError(AssertionError):
    """A reading the transport could not deliver (no PUBACK, refused by SQS or IoT Core)."""


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = 0.2,
    message: str = "",
) -> T:
    """Poll until `condition()` returns something truthy and return it; fail at the deadline
    with `message` and the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    waited = message or "the condition"
    raise AssertionError(f"timed out after {timeout:g} s waiting for {waited}; last value: {last!r}")


class Reading(NamedTuple):
    """What a sent reading becomes: the table key of its item."""

    device_id: str
    created_at_ms: int

    @property
    def key(self) -> dict[str, dict[str, str]]:
        return {"deviceID": {"S": self.device_id}, "createdAt": {"N": str(self.created_at_ms)}}


class HistoryPoint(NamedTuple):
    """The history objects that existed at a moment: lines 'since' it are in objects written after."""

    keys: frozenset[str]


class ArchivedItem(NamedTuple):
    key: str  # the archive object's S3 key
    storage_class: str
    entry: dict  # the archive line: keys, item (DynamoDB wire JSON), event_id, ...


class DeadLetter(NamedTuple):
    """A message the ingest function parked, with its reason (the DLQ message attributes)."""

    code: str  # error_code, one of handlers.core.ingest_rules.REJECTION_CODES
    reason: str  # error_reason, in words
    body: str
    attributes: dict[str, str]

    @property
    def payload(self) -> bytes:
        """The body as the device published it: the topic rule base64-encodes it."""
        try:
            return base64.b64decode(self.body, validate=True)
        except ValueError:
            return self.body.encode()


@dataclass
class IotStack:
    """A deployed stack: `outputs` is what `make outputs` prints; `client(service)` gives boto3
    clients of its endpoint with the dummy credentials."""

    outputs: dict
    endpoint: str
    config: Any = None  # the bootstrap's StackConfig, when the stack was deployed here
    client: ClientFactory = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.client = local_clients(
            self.endpoint,
            self.outputs.get("region") or "us-east-1",
            Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32),
        )

    # Sending

    def send_reading(
        self,
        device_id: str,
        values: Mapping[str, float] | None = None,
        *,
        via: str | Via | None = None,
        created_at_ms: int | None = None,
    ) -> Reading:
        """Publish one reading as device `device_id` does (`via`: mqtt, https or sqs, as the
        simulator's --via; default: mqtt where the stack has IoT Core, else sqs)."""
        created = created_at_ms or int(time.time() * 1000)
        payload = {"things_name": device_id, "timestamp": created, "data": dict(values or {"temperature": 21.5})}
        reading = Reading(device_id, created)
        self.send_payload(device_id, json.dumps(payload).encode(), via=via, keys=(reading,))
        return reading

    def send_payload(
        self, device_id: str, payload: bytes, *, via: str | Via | None = None, keys: tuple[Reading, ...] = ()
    ) -> None:
        """Publish raw bytes on the device's topic (or, via sqs, base64 as the topic rule sends
        them): for messages the pipeline should refuse."""
        chosen = Via(via) if via else default_via(self.outputs)[0]
        message = Outgoing(
            body=base64.b64encode(payload).decode(),
            device_id=device_id,
            kind="test",
            fate=MessageFate.STORED if keys else MessageFate.DEAD_LETTERED,
            keys=tuple(keys),
            payload=payload,
        )
        with opened(
            chosen,
            endpoint=self.endpoint,
            queue_url=self.outputs["queue_url"],
            iot_endpoint=self.outputs.get("iot_endpoint"),
            device_ids=[device_id],
            loops=1,
            seed=0,
        ) as transport:
            failures = transport.send([message])
        if failures:
            raise SendError(f"{device_id} could not send via {chosen}: {failures[0].code} {failures[0].message}")

    # Reading back

    def item(self, reading: Reading) -> dict | None:
        return self.client("dynamodb").get_item(TableName=self.outputs["table"], Key=reading.key).get("Item")

    def wait_for_item(self, reading: Reading, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> dict:
        """The reading's item (DynamoDB wire JSON) once it is in the table."""
        return wait_for(lambda: self.item(reading), timeout, message=f"the item of {reading}")

    def table_items(self, device_prefix: str = "") -> list[dict]:
        items = []
        for page in self.client("dynamodb").get_paginator("scan").paginate(TableName=self.outputs["table"]):
            items += [item for item in page["Items"] if item["deviceID"]["S"].startswith(device_prefix)]
        return items

    def history_point(self) -> HistoryPoint:
        return HistoryPoint(frozenset(key for key, _body in self._history_objects(read=False)))

    def history_lines(self, since: HistoryPoint | None = None) -> list[dict]:
        """Every history line, or those in objects written after `since` (a Firehose object
        holds the changes of its buffering interval, so a line may be of a change just before)."""
        skip = since.keys if since else frozenset()
        return [
            json.loads(line)
            for key, body in self._history_objects(read=True, skip=skip)
            for line in body.decode().splitlines()
        ]

    def wait_for_history(
        self,
        match: Callable[[dict], bool],
        count: int = 1,
        since: HistoryPoint | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> list[dict]:
        """At least `count` history lines that `match`, once the history holds them."""

        def enough() -> list[dict]:
            found = [line for line in self.history_lines(since) if match(line)]
            return found if len(found) >= count else []

        return wait_for(enough, timeout, interval=0.5, message=f"{count} matching history line(s)")

    def archived_items(self) -> list[ArchivedItem]:
        """Every archived item. Glacier objects are restored first (all restores requested
        before waiting on any, as one would on S3)."""
        s3, bucket = self.client("s3"), self.outputs["archive_bucket"]
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=self.outputs["archive_prefix"]):
            for listed in page.get("Contents", []):
                head = s3.head_object(Bucket=bucket, Key=listed["Key"])
                objects.append((listed["Key"], head.get("StorageClass", "STANDARD"), head))
        frozen = [(key, head) for key, storage_class, head in objects if storage_class in ("GLACIER", "DEEP_ARCHIVE")]
        for key, head in frozen:
            _request_restore(s3, bucket, key, head)
        for key, _head in frozen:
            _wait_restored(s3, bucket, key)
        entries = []
        for key, storage_class, _head in objects:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            text = gzip.decompress(body).decode() if key.endswith(".gz") else body.decode()
            entries += [ArchivedItem(key, storage_class, json.loads(line)) for line in text.splitlines()]
        return entries

    def archived_item_count(self) -> int:
        """Read from each object's metadata, without a restore."""
        return archive_counts(self.client("s3"), self.outputs["archive_bucket"], self.outputs["archive_prefix"])[1]

    def dead_letters(self, match: Callable[[DeadLetter], bool] = lambda _letter: True) -> list[DeadLetter]:
        """Take the dead letters that `match` off the DLQ; the others are made visible again at once."""
        sqs, url = self.client("sqs"), self.outputs["dlq_url"]
        taken: list[tuple[DeadLetter, str]] = []
        others: list[tuple[DeadLetter, str]] = []
        while batch := sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", []):
            for message in batch:
                attributes = {
                    name: value.get("StringValue", "") for name, value in message.get("MessageAttributes", {}).items()
                }
                letter = DeadLetter(
                    attributes.get("error_code", ""), attributes.get("error_reason", ""), message["Body"], attributes
                )
                (taken if match(letter) else others).append((letter, message["ReceiptHandle"]))
        for start in range(0, len(taken), 10):
            chunk = taken[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, (_l, handle) in enumerate(chunk)]
            )
        for start in range(0, len(others), 10):
            chunk = others[start : start + 10]
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, (_l, handle) in enumerate(chunk)
                ],
            )
        return [letter for letter, _handle in taken]

    def wait_for_dead_letter(
        self, match: Callable[[DeadLetter], bool], timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> DeadLetter:
        return wait_for(lambda: next(iter(self.dead_letters(match)), None), timeout, message="a matching dead letter")

    def drain(self, queue_url: str) -> list[dict]:
        """Every message now on the queue, deleted."""
        sqs = self.client("sqs")
        messages = []
        while batch := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", []):
            messages += batch
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return messages

    def queue_depth(self, queue_url: str) -> int:
        """Visible and in-flight messages."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def _history_objects(self, *, read: bool, skip: frozenset[str] = frozenset()) -> list[tuple[str, bytes]]:
        s3, bucket = self.client("s3"), self.outputs["history_bucket"]
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=self.outputs["history_prefix"]):
            for entry in page.get("Contents", []):
                if entry["Key"] not in skip:
                    body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read() if read else b""
                    found.append((entry["Key"], body))
        return found


def _request_restore(s3: Any, bucket: str, key: str, head: dict) -> None:
    """Ask for a Glacier restore unless one is done or under way."""
    if head.get("Restore"):
        return
    try:
        s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
    except ClientError as error:
        if error.response["Error"]["Code"] != "RestoreAlreadyInProgress":
            raise


def _wait_restored(s3: Any, bucket: str, key: str) -> None:
    wait_for(
        lambda: 'ongoing-request="false"' in s3.head_object(Bucket=bucket, Key=key).get("Restore", ""),
        RESTORE_DEADLINE_SECONDS,
        message=f"the restore of s3://{bucket}/{key}",
    )
