"""Every setting the handlers read, with its default, in one place.

Read once per invocation at the edge (the handler) and passed inward as values.

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
| RETRY_ATTEMPTS            | 6           | all             | tries per partially failed batch call               |
| RETRY_BASE_DELAY_SECONDS  | 0.05        | all             | first backoff step (doubles, full jitter, max 2 s)  |
| AWS_ENDPOINT_URL          | (none)      | all             | endpoint of a local emulator; unset on AWS          |
| POWERTOOLS_LOG_LEVEL      | INFO        | all             | log level of the JSON logs                          |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from aws_calls.batching import RetryPolicy
from handlers.core.archive_objects import LAYOUTS
from handlers.core.ingest_rules import DEFAULT_TTL_SECONDS, TTL_ATTRIBUTE, IngestRules

Environment = Mapping[str, str]


class ConfigurationError(Exception):
    """A required setting is missing or malformed; the invocation fails so nothing is lost."""


@dataclass(frozen=True)
class IngestSettings:
    table_name: str
    dlq_url: str | None
    rules: IngestRules
    retry: RetryPolicy

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> IngestSettings:
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            dlq_url=env.get("DLQ_URL") or None,
            rules=IngestRules(
                ttl_seconds=_integer(env, "TTL_SECONDS", DEFAULT_TTL_SECONDS),
                staging=env.get("APP_ENV", "") == "Staging",
            ),
            retry=_retry_policy(env),
        )


@dataclass(frozen=True)
class HistorySettings:
    delivery_stream_name: str
    ttl_attribute: str
    retry: RetryPolicy

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> HistorySettings:
        return cls(
            delivery_stream_name=_required(env, "DELIVERY_STREAM_NAME"),
            ttl_attribute=env.get("TTL_ATTRIBUTE") or TTL_ATTRIBUTE,
            retry=_retry_policy(env),
        )


@dataclass(frozen=True)
class ArchiveSettings:
    bucket: str
    storage_class: str
    layout: str
    prefix: str
    ttl_attribute: str

    @classmethod
    def from_env(cls, env: Environment = os.environ) -> ArchiveSettings:
        layout = env.get("ARCHIVE_LAYOUT") or "batch"
        if layout not in LAYOUTS:
            raise ConfigurationError(f"ARCHIVE_LAYOUT={layout!r}: expected one of {', '.join(LAYOUTS)}")
        return cls(
            bucket=_required(env, "ARCHIVE_BUCKET"),
            storage_class=env.get("ARCHIVE_STORAGE_CLASS") or "GLACIER",
            layout=layout,
            prefix=env.get("ARCHIVE_PREFIX", "archive/"),
            ttl_attribute=env.get("TTL_ATTRIBUTE") or TTL_ATTRIBUTE,
        )


def _retry_policy(env: Environment) -> RetryPolicy:
    return RetryPolicy(
        attempts=max(1, _integer(env, "RETRY_ATTEMPTS", RetryPolicy.attempts)),
        base_delay=_number(env, "RETRY_BASE_DELAY_SECONDS", RetryPolicy.base_delay),
    )


def _required(env: Environment, name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set: the function's environment must name it")
    return value


def _integer(env: Environment, name: str, default: int) -> int:
    try:
        return int(env.get(name) or default)
    except ValueError:
        raise ConfigurationError(f"{name}={env.get(name)!r} is not a whole number") from None


def _number(env: Environment, name: str, default: float) -> float:
    try:
        return float(env.get(name) or default)
    except ValueError:
        raise ConfigurationError(f"{name}={env.get(name)!r} is not a number") from None
