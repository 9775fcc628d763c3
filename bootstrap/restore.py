"""python -m bootstrap.restore --device D --from T --to T [--dry-run] [--tier Standard] [--expiry DAYS|none]

Puts archived readings of one device back into the table: the readings whose `createdAt` is in
[--from, --to] (ISO 8601; a time without a zone is UTC), from either archive layout.
1. Plan: `per-item` objects are named by device and createdAt; `batch` objects by the day their
   items were removed, which is never before the day they were created, so only batches removed
   on or after --from are candidates and their entries are filtered once read.
2. Request a Glacier restore of every candidate not readable yet (tier --tier), then wait with
   progress until each is (`x-amz-restore: ongoing-request="false"`); one whose restore is
   already under way is waited for.
3. Put each matching reading back with PutItem on the condition that no item with its key
   exists, so newer data is never overwritten and a second run restores nothing twice. The item
   is the archived one, attribute for attribute and type for type, except its TTL attribute:
   a new expiry --expiry days from now, or none (`--expiry none`), so it does not expire at once.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from aws_calls.sessions import ClientFactory
from bootstrap.__main__ import _check_backend as check_backend_of
from bootstrap.cli import one_line_errors
from bootstrap.clients import client_factory
from bootstrap.config import DeployTarget, StackConfig
from bootstrap.local_stack import StackError
from bootstrap.stack import BucketRole, declare
from device_data.table import HASH_KEY, RANGE_KEY
from emulator.lifecycle import EmulatorError
from emulator.settings import EmulatorSettings
from env_settings.reader import SettingError
from handlers.core.archive_objects import boto3_item

COMMAND = "restore"
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
# How long the restored copy stays readable: long enough to read it once.
RESTORED_COPY_DAYS = 1
DEFAULT_EXPIRY_DAYS = 30


class Tier(StrEnum):
    EXPEDITED = "Expedited"
    STANDARD = "Standard"
    BULK = "Bulk"


class RestoreError(Exception):
    """A request that cannot be carried out, in one line."""


@dataclass(frozen=True)
class Request:
    device: str
    start_ms: int
    end_ms: int
    # None: the restored reading never expires.
    expiry_days: int | None


@dataclass(frozen=True)
class ArchivedObject:
    key: str
    storage_class: str
    restore: str  # the x-amz-restore header, "" when no restore was asked for

    @property
    def readable(self) -> bool:
        return self.storage_class not in ARCHIVE_CLASSES or 'ongoing-request="false"' in self.restore

    @property
    def restoring(self) -> bool:
        return 'ongoing-request="true"' in self.restore


@dataclass
class Outcome:
    restored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def epoch_ms(text: str) -> int:
    """ISO 8601 (`2026-11-23`, `2026-11-23T10:00`, `...Z`, `...+09:00`) in epoch milliseconds; naive is UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RestoreError(f"{text!r} is not an ISO 8601 date or time (e.g. 2026-11-23T10:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def candidate(key: str, prefix: str, request: Request) -> bool:
    """Whether an archive object may hold readings of the request, from its key alone."""
    relative = key[len(prefix) :]
    if relative.endswith(".json"):
        # per-item: <device>/<createdAt>.json
        device, _, created = relative[: -len(".json")].rpartition("/")
        return device == request.device and created.isdigit() and request.start_ms <= int(created) <= request.end_ms
    parts = relative.split("/")
    # batch: <table>/<YYYY>/<MM>/<DD>/<stream>/<first>-<last>-<digest>.jsonl.gz, by removal day
    if len(parts) >= 5 and relative.endswith(".jsonl.gz"):
        try:
            removed = datetime(int(parts[1]), int(parts[2]), int(parts[3]), tzinfo=UTC)
        except ValueError:
            return False
        return (removed.timestamp() + 86400) * 1000 > request.start_ms
    return False


def entries(key: str, body: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(body).decode() if key.endswith(".gz") else body.decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def matches(entry: dict[str, Any], request: Request) -> bool:
    keys = entry["keys"]
    return keys[HASH_KEY].get("S") == request.device and request.start_ms <= int(keys[RANGE_KEY]["N"]) <= request.end_ms


def restored_item(entry: dict[str, Any], ttl_attribute: str, expiry_days: int | None, now: float) -> dict[str, Any]:
    """The archived item as PutItem takes it, with its new expiry (or none)."""
    item = {name: value for name, value in entry["item"].items() if name != ttl_attribute}
    if expiry_days is not None:
        item[ttl_attribute] = {"N": str(int(now) + expiry_days * 86400)}
    return boto3_item(item)


def reading_name(entry: dict[str, Any]) -> str:
    return f"{entry['keys'][HASH_KEY]['S']}@{entry['keys'][RANGE_KEY]['N']}"


class Restorer:
    def __init__(
        self,
        client: ClientFactory,
        bucket: str,
        prefix: str,
        table: str,
        ttl_attribute: str,
        progress: Callable[[str], None] = print,
        poll_seconds: float = 1.0,
    ):
        self.s3, self.dynamodb = client("s3"), client("dynamodb")
        self.bucket, self.prefix, self.table, self.ttl_attribute = bucket, prefix, table, ttl_attribute
        self.progress, self.poll_seconds = progress, poll_seconds

    def plan(self, request: Request) -> list[ArchivedObject]:
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for listed in page.get("Contents", []):
                if candidate(listed["Key"], self.prefix, request):
                    found.append(self._look(listed["Key"]))
        return found

    def _look(self, key: str) -> ArchivedObject:
        head = self.s3.head_object(Bucket=self.bucket, Key=key)
        return ArchivedObject(key, head.get("StorageClass", "STANDARD"), head.get("Restore", ""))

    def request_restores(self, objects: Iterable[ArchivedObject], tier: Tier) -> int:
        asked = 0
        for archived in objects:
            if archived.readable or archived.restoring:
                continue
            try:
                self.s3.restore_object(
                    Bucket=self.bucket,
                    Key=archived.key,
                    RestoreRequest={"Days": RESTORED_COPY_DAYS, "GlacierJobParameters": {"Tier": str(tier)}},
                )
                asked += 1
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
                    raise
        return asked

    def wait_readable(self, objects: list[ArchivedObject]) -> None:
        started = time.monotonic()
        waiting = [archived.key for archived in objects if not archived.readable]
        said = -1
        while waiting:
            if len(waiting) != said:
                self.progress(
                    f"waiting for {len(waiting)} of {len(objects)} archive objects to be restored "
                    f"({time.monotonic() - started:.0f} s)"
                )
                said = len(waiting)
            time.sleep(self.poll_seconds)
            waiting = [key for key in waiting if not self._look(key).readable]

    def put_back(self, request: Request, objects: list[ArchivedObject], now: float) -> Outcome:
        outcome = Outcome()
        for archived in objects:
            body = self.s3.get_object(Bucket=self.bucket, Key=archived.key)["Body"].read()
            for entry in entries(archived.key, body):
                if not matches(entry, request):
                    continue
                name = reading_name(entry)
                try:
                    self.dynamodb.put_item(
                        TableName=self.table,
                        Item=restored_item(entry, self.ttl_attribute, request.expiry_days, now),
                        ConditionExpression="attribute_not_exists(#hash)",
                        ExpressionAttributeNames={"#hash": HASH_KEY},
                    )
                    outcome.restored.append(name)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                        outcome.skipped.append(name)
                    else:
                        outcome.failed.append((name, str(error)))
        return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap.restore", description="Put archived readings back.")
    parser.add_argument("--device", required=True, help="the deviceID")
    parser.add_argument("--from", dest="start", required=True, help="ISO 8601, matched against createdAt (inclusive)")
    parser.add_argument("--to", dest="end", required=True, help="ISO 8601, matched against createdAt (inclusive)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be restored; restore nothing")
    parser.add_argument("--tier", type=Tier, choices=list(Tier), default=Tier.STANDARD, help="Glacier retrieval tier")
    parser.add_argument(
        "--expiry",
        default=str(DEFAULT_EXPIRY_DAYS),
        help=f"the restored readings' TTL: days from now ({DEFAULT_EXPIRY_DAYS}), or `none` to keep them",
    )
    parser.add_argument("--target", type=DeployTarget, choices=list(DeployTarget), default=DeployTarget.LOCAL)
    args = parser.parse_args(argv)

    def work() -> int:
        request = Request(args.device, epoch_ms(args.start), epoch_ms(args.end), _expiry_days(args.expiry))
        if request.start_ms > request.end_ms:
            raise RestoreError(f"--from {args.start} is after --to {args.end}")
        config = StackConfig.from_env(args.target)
        # As every other command: only this stack's backend, and one line when nothing answers.
        check_backend_of(config, EmulatorSettings.from_env(), COMMAND)
        client = client_factory(config)
        stack = declare(config, client("sts").get_caller_identity()["Account"])
        archive = stack.bucket(BucketRole.ARCHIVE)
        restorer = Restorer(client, archive.name, archive.prefix, stack.table.name, stack.table.ttl_attribute)
        objects = restorer.plan(request)
        span = f"device {args.device} between {args.start} and {args.end}"
        if not objects:
            print(f"nothing archived for {span}")
            return 0
        if args.dry_run:
            unreadable = sum(not archived.readable for archived in objects)
            print(f"dry run: {len(objects)} archive objects may hold readings of {span} ({unreadable} need a restore)")
            for archived in objects:
                state = "readable" if archived.readable else "needs a restore"
                print(f"  s3://{archive.name}/{archived.key} ({archived.storage_class}, {state})")
            return 0
        asked = restorer.request_restores(objects, args.tier)
        if asked:
            print(f"requested {asked} Glacier restores (tier {args.tier})")
        restorer.wait_readable(objects)
        outcome = restorer.put_back(request, objects, time.time())
        if not (outcome.restored or outcome.skipped or outcome.failed):
            print(f"nothing archived for {span}")
            return 0
        print(
            f"restored {len(outcome.restored)}, skipped {len(outcome.skipped)} (already in the table), "
            f"failed {len(outcome.failed)}"
        )
        for name, reason in outcome.failed:
            print(f"  failed {name}: {reason}", file=sys.stderr)
        return 1 if outcome.failed else 0

    return one_line_errors(work, (RestoreError, SettingError, StackError, EmulatorError))


def _expiry_days(text: str) -> int | None:
    if text.strip().lower() == "none":
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise RestoreError(f"--expiry {text}: a whole number of days (at least 1), or none")
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
