"""What a client observes of one backend: each call's outcome, in a form two backends can be compared by.

A scenario makes its calls through `Backend.call`, which records the outcome (the response without
what differs by nature: ARNs, timestamps, request ids, sequence numbers; or the error code, and its
message where AWS's text is known) and returns the response for the scenario to go on with.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

# Fields that name or date a resource, or belong to the transport: never compared.
VOLATILE = {
    "ResponseMetadata",
    "TableArn",
    "TableId",
    "CreationDateTime",
    "LatestStreamArn",
    "LatestStreamLabel",
    "StreamArn",
    "StreamLabel",
    "SequenceNumber",
    "ApproximateCreationDateTime",
    "eventID",
    "eventSourceARN",
    "awsRegion",
    "ShardIterator",
    "NextShardIterator",
    "LastIncreaseDateTime",
    "LastDecreaseDateTime",
    "TableSizeBytes",
    "ItemCount",
    "NumberOfDecreasesToday",
    "TableThroughputModeSummary",
    "DeletionProtectionEnabled",
    "WarmThroughput",
    "BillingModeSummary",
    "ProvisionedThroughput",
}


def strip(value: Any, names: dict[str, str]) -> Any:
    """Without the volatile fields, each table's unique name replaced by its place in the scenario."""
    if isinstance(value, dict):
        return {names.get(key, key): strip(member, names) for key, member in value.items() if key not in VOLATILE}
    if isinstance(value, list):
        return [strip(member, names) for member in value]
    if isinstance(value, str):
        for name, placeholder in names.items():
            value = value.replace(name, placeholder)
    return value


ORACLE = "dynamodb-local"


def s(text: str) -> dict:
    """A string AttributeValue."""
    return {"S": text}


def n(text: str) -> dict:
    """A number AttributeValue."""
    return {"N": text}


@dataclass(frozen=True)
class LocalDiffersFromAws:
    """What DynamoDB Local answers where AWS answers otherwise (documented or recorded, in `why`):
    the oracle's observation is checked against `local`, and `aws` is compared in its place."""

    local: Any
    aws: Any
    why: str


def sorted_items(items: Iterable[dict]) -> list[dict]:
    return sorted(items, key=shown)


@dataclass
class Backend:
    name: str
    endpoint: str
    log: list[Any] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        config = Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=30)
        self.ddb = session.client("dynamodb", endpoint_url=self.endpoint, config=config)
        self.streams = session.client("dynamodbstreams", endpoint_url=self.endpoint, config=config)

    def fresh(self) -> Backend:
        """The same backend and clients with an empty log, for one scenario."""
        scenario = copy.copy(self)
        scenario.log, scenario.tables = [], {}
        return scenario

    def note(self, label: str, value: Any) -> None:
        """Record something the scenario observed by itself."""
        self.log.append((label, strip(value, self.tables)))

    def call(
        self,
        operation: str,
        *,
        message: bool = False,
        keep: Callable[[dict], Any] | None = None,
        service: str = "dynamodb",
        local_differs: LocalDiffersFromAws | None = None,
        **params: Any,
    ) -> dict:
        """Make the call and record its outcome; `message` compares the error text too (only where it is
        AWS's), `keep` picks what of a successful response is compared. Returns the response, {} on error."""
        client = self.ddb if service == "dynamodb" else self.streams
        response: dict = {}
        try:
            response = getattr(client, operation)(**params)
        except ClientError as error:
            details = error.response["Error"]
            observed: Any = {"error": details.get("Code")}
            if message:
                observed["message"] = self._without_names(details.get("Message") or "", params)
        else:
            observed = keep(response) if keep else dict(response)
            if isinstance(observed, dict) and "ReturnConsumedCapacity" not in params:
                # DynamoDB Local reports capacity unasked on some calls; AWS only when asked
                observed.pop("ConsumedCapacity", None)
        observed = strip(observed, self.tables)
        if local_differs and self.name == ORACLE:
            assert observed == local_differs.local, f"DynamoDB Local no longer answers as recorded: {shown(observed)}"
            observed = local_differs.aws
        self.log.append((operation, observed))
        return response

    @staticmethod
    def _without_names(message: str, params: dict) -> str:
        """The message with the resource names the request gave (ARNs differ by backend) shown by parameter."""
        for name, value in params.items():
            if isinstance(value, str) and len(value) > 20:
                message = message.replace(value, f"<{name}>")
        return message

    def table_name(self, stem: str = "diff") -> str:
        """A unique table name, shown in the log as its place among the scenario's tables."""
        name = f"{stem}-{uuid.uuid4().hex[:8]}"
        self.tables[name] = f"<table {len(self.tables)}>"
        return name

    def create_table(
        self,
        *,
        sort_key: str | None = None,
        key_type: str = "S",
        sort_type: str = "N",
        stream: str | None = None,
        extra: dict | None = None,
    ) -> str:
        """A fresh on-demand table keyed `pk` (and `sort_key`), optionally streamed with view type `stream`."""
        name = self.table_name()
        keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attributes = [{"AttributeName": "pk", "AttributeType": key_type}]
        if sort_key:
            keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
            attributes.append({"AttributeName": sort_key, "AttributeType": sort_type})
        params: dict[str, Any] = {
            "TableName": name,
            "KeySchema": keys,
            "AttributeDefinitions": attributes,
            "BillingMode": "PAY_PER_REQUEST",
            **(extra or {}),
        }
        if stream:
            params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
        self.ddb.create_table(**params)
        return name

    def stream_records(self, table: str) -> list[dict]:
        """Every record of the table's latest stream, from TRIM_HORIZON of each shard, as compared."""
        arn = self.ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        records: list[dict] = []
        for shard in shards:
            iterator = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            ).get("ShardIterator")
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator)
                records.extend(page["Records"])
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        return [observed_record(record) for record in records]

    def observe_stream(self, table: str) -> None:
        self.note("stream", self.stream_records(table))


def observed_record(record: dict) -> dict:
    change = record["dynamodb"]
    observed = {
        "eventName": record["eventName"],
        "Keys": change.get("Keys"),
        "StreamViewType": change.get("StreamViewType"),
        "SizeBytes": change.get("SizeBytes"),
    }
    for image in ("NewImage", "OldImage"):
        if image in change:
            observed[image] = change[image]
    return observed


Scenario = Callable[[Backend], None]


class Scenarios:
    """A module's scenarios by name, and the one test that runs each on both backends."""

    def __init__(self) -> None:
        self.by_name: dict[str, Scenario] = {}
        self.differences: dict[str, str] = {}

    def add(self, run: Scenario) -> Scenario:
        self.by_name[run.__name__] = run
        return run

    def differs(self, reason: str) -> Callable[[Scenario], Scenario]:
        """A scenario the embedded backend does not match yet, and why (listed in the README)."""

        def known(run: Scenario) -> Scenario:
            self.differences[run.__name__] = reason
            return self.add(run)

        return known

    def test(self) -> Callable[..., None]:
        @pytest.mark.differential
        @pytest.mark.parametrize(
            "name",
            [
                pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=self.differences[name]))
                if name in self.differences
                else name
                for name in self.by_name
            ],
        )
        def test_embedded_observes_what_dynamodb_local_does(name: str, dynamodb_local: Backend, embedded: Backend):
            oracle, ours = dynamodb_local.fresh(), embedded.fresh()
            self.by_name[name](oracle)
            self.by_name[name](ours)
            for step, (theirs, mine) in enumerate(zip(oracle.log, ours.log, strict=False)):
                assert mine == theirs, (
                    f"step {step} differs:\n  DynamoDB Local: {shown(theirs)}\n  embedded:       {shown(mine)}"
                )
            assert len(ours.log) == len(oracle.log)

        return test_embedded_observes_what_dynamodb_local_does


def shown(value: Any) -> str:
    return json.dumps(value, default=repr, sort_keys=True)
