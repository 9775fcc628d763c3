"""Every setting the handlers read, with its default, in one place.

Read once per invocation at the edge (the handler) and passed inward as values. A missing or
malformed setting raises env_settings.reader.SettingError: the invocation fails, so nothing is lost.

| variable                  | default     | used by         | meaning                                             |
|---------------------------|-------------|-----------------|-----------------------------------------------------|
| TABLE_NAME                | (required)  | ingest          | the DeviceData table                                |
| DLQ_URL                   | (none)      | ingest          | where unstorable messages are parked with a reason  |
| TTL_SECONDS               | 31536000    | ingest          | expiredAt = createdAt/1000 + TTL_SECONDS            |
| APP_ENV                   | (none)      | ingest          | `Staging` keeps only `stg` devices, else drops them |
| DELIVERY_STREAM_NAME      | (required)  | history         | the Firehose stream that writes the history         |
| ARCHIVE_BUCKET            | (required)  | archive         | the bucket TTL removals are archived to             |
| ARCHIVE_STORAGE_CLASS     | GLACIER     | archive         | S3 storage class of archive objects                 |
| ARCHIVE_LAYOUT            | batch       | archive         | `batch` (one object per invocation) or `per-item`   |
| ARCHIVE_PREFIX            | archive/    | archive         | key prefix of archive objects                       |
| TTL_ATTRIBUTE             | expiredAt   | history,archive | the table's TTL attribute                           |
| REMOVALS_WITHOUT_IDENTITY | manual      | history,archive | a REMOVE without userIdentity is a manual delete;   |
|                           |             |                 | `ttl-if-expired`: a TTL removal if its TTL passed   |
|                           |             |                 | (LocalStack, which marks no TTL delete)             |
| RETRY_ATTEMPTS            | 6           | all             | tries per partially failed batch call               |
| RETRY_BASE_DELAY_SECONDS  | 0.05        | all             | first backoff step (doubles, full jitter, max 2 s)  |
| AWS_ENDPOINT_URL          | (none)      | all             | endpoint of a local emulator; unset on AWS          |
| POWERTOOLS_LOG_LEVEL      | INFO        | all             | log level of the JSON logs                          |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_calls.batching import RetryPolicy
from device_data.archive import ARCHIVE_PREFIX, ARCHIVE_STORAGE_CLASS, ArchiveLayout, RemovalsWithoutIdentity
from device_data.messages import STAGING_APP_ENV
from device_data.table import DEFAULT_TTL_SECONDS, TTL_ATTRIBUTE
from env_settings.reader import Environment, number, one_of, required, whole_number
from handlers.core.ingest_rules import IngestRules


@dataclass(frozen=True)
class IngestSettings:
    table_name: str
    dlq_url: str | None
    rules: IngestRules
    retry: RetryPolicy

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> IngestSettings:
        return cls(
            table_name=required(env, "TABLE_NAME"),
            dlq_url=env.get("DLQ_URL") or None,
            rules=IngestRules(
                ttl_seconds=whole_number(env, "TTL_SECONDS", DEFAULT_TTL_SECONDS),
                staging=env.get("APP_ENV") == STAGING_APP_ENV,
            ),
            retry=_retry_policy(env),
        )


@dataclass(frozen=True)
class HistorySettings:
    delivery_stream_name: str
    ttl_attribute: str
    removals_without_identity: RemovalsWithoutIdentity
    retry: RetryPolicy

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> HistorySettings:
        return cls(
            delivery_stream_name=required(env, "DELIVERY_STREAM_NAME"),
            ttl_attribute=env.get("TTL_ATTRIBUTE") or TTL_ATTRIBUTE,
            removals_without_identity=_removals_without_identity(env),
            retry=_retry_policy(env),
        )


@dataclass(frozen=True)
class ArchiveSettings:
    bucket: str
    storage_class: str
    layout: ArchiveLayout
    prefix: str
    ttl_attribute: str
    removals_without_identity: RemovalsWithoutIdentity

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> ArchiveSettings:
        return cls(
            bucket=required(env, "ARCHIVE_BUCKET"),
            storage_class=env.get("ARCHIVE_STORAGE_CLASS") or ARCHIVE_STORAGE_CLASS,
            layout=one_of(env, "ARCHIVE_LAYOUT", ArchiveLayout.BATCH),
            # An empty prefix is a choice (objects at the bucket's root), not a missing setting.
            prefix=env.get("ARCHIVE_PREFIX", ARCHIVE_PREFIX),
            ttl_attribute=env.get("TTL_ATTRIBUTE") or TTL_ATTRIBUTE,
            removals_without_identity=_removals_without_identity(env),
        )


def _removals_without_identity(env: Environment) -> RemovalsWithoutIdentity:
    return one_of(env, "REMOVALS_WITHOUT_IDENTITY", RemovalsWithoutIdentity.MANUAL)


def _retry_policy(env: Environment) -> RetryPolicy:
    return RetryPolicy(
        attempts=max(1, whole_number(env, "RETRY_ATTEMPTS", RetryPolicy.attempts)),
        base_delay=number(env, "RETRY_BASE_DELAY_SECONDS", RetryPolicy.base_delay),
    )
