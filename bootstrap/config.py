"""The bootstrap's settings, from the environment, with their defaults.

| variable                      | default (local / aws)        | meaning                                         |
|-------------------------------|------------------------------|-------------------------------------------------|
| STACK_ENV                     | dev                          | prefix of every resource name (`dev_DeviceData`)|
| AWS_ENDPOINT_URL              | http://127.0.0.1:4566 / -    | the API endpoint (local targets only)           |
| AWS_DEFAULT_REGION            | us-east-1 / (required)       | region                                          |
| DEVICE_ROLE_ARN               | role `<env>-iot-device`      | the only principal the queue policy lets send   |
| TABLE_BILLING                 | on-demand                    | `on-demand` or `provisioned` (38 read/22 write) |
| FUNCTION_TIMEOUT_SECONDS      | 30                           | timeout of the three functions                  |
| FUNCTION_MEMORY_MB            | 256                          | memory of the three functions                   |
| INGEST_BATCH_WINDOW_SECONDS   | 0 / 60                       | SQS batching window of the ingest mapping       |
| HISTORY_BUFFER_SECONDS        | 2 / 60                       | Firehose buffering interval                     |
| HISTORY_BUFFER_MB             | 1 / 50                       | Firehose buffering size                         |
| STREAM_RETRY_ATTEMPTS         | 3                            | MaximumRetryAttempts of the stream mappings     |
| STREAM_BATCH_WINDOW_SECONDS   | 1                            | batching window of the stream mappings          |
| TTL_SECONDS                   | 31536000                     | passed to the ingest function                   |
| APP_ENV                       | (none)                       | passed to the ingest function (`Staging`)       |
| ARCHIVE_LAYOUT                | batch                        | passed to the archive function                  |
| ARCHIVE_STORAGE_CLASS         | GLACIER                      | passed to the archive function                  |
| STATE_DIR                     | .state                       | where outputs.json and build files are written  |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from aws_calls.sessions import LOCAL_ENDPOINT, LOCAL_REGION

# The compose file's LocalStack service, reachable by name from the bootstrap container.
COMPOSE_HOSTS = {"localstack", "localhost"}


class ConfigError(Exception):
    """A setting that makes deploying unsafe or impossible; reported in one line."""


@dataclass(frozen=True)
class StackConfig:
    env: str
    target: str
    region: str
    endpoint: str | None
    device_role_arn: str | None
    billing: str
    function_timeout: int
    function_memory: int
    ingest_batch_window: int
    history_buffer_seconds: int
    history_buffer_mb: int
    stream_retry_attempts: int
    stream_batch_window: int
    ttl_seconds: int
    app_env: str
    archive_layout: str
    archive_storage_class: str
    state_dir: str

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @classmethod
    def from_env(cls, target: str = "local", env: Mapping[str, str] = os.environ) -> StackConfig:
        if target not in ("local", "aws"):
            raise ConfigError(f"unknown target {target!r}: use local or aws")
        local = target == "local"
        if local:
            endpoint = env.get("AWS_ENDPOINT_URL") or LOCAL_ENDPOINT
            check_local_endpoint(endpoint)
            region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or LOCAL_REGION
        else:
            endpoint = None
            region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or ""
            if not region:
                raise ConfigError("--target aws needs the region: set AWS_DEFAULT_REGION")
        billing = env.get("TABLE_BILLING") or "on-demand"
        if billing not in ("on-demand", "provisioned"):
            raise ConfigError(f"TABLE_BILLING={billing!r}: use on-demand or provisioned")
        return cls(
            env=env.get("STACK_ENV") or "dev",
            target=target,
            region=region,
            endpoint=endpoint,
            device_role_arn=env.get("DEVICE_ROLE_ARN") or None,
            billing=billing,
            function_timeout=_int(env, "FUNCTION_TIMEOUT_SECONDS", 30),
            function_memory=_int(env, "FUNCTION_MEMORY_MB", 256),
            ingest_batch_window=_int(env, "INGEST_BATCH_WINDOW_SECONDS", 0 if local else 60),
            history_buffer_seconds=_int(env, "HISTORY_BUFFER_SECONDS", 2 if local else 60),
            history_buffer_mb=_int(env, "HISTORY_BUFFER_MB", 1 if local else 50),
            stream_retry_attempts=_int(env, "STREAM_RETRY_ATTEMPTS", 3),
            stream_batch_window=_int(env, "STREAM_BATCH_WINDOW_SECONDS", 1),
            ttl_seconds=_int(env, "TTL_SECONDS", 31_536_000),
            app_env=env.get("APP_ENV", ""),
            archive_layout=env.get("ARCHIVE_LAYOUT") or "batch",
            archive_storage_class=env.get("ARCHIVE_STORAGE_CLASS") or "GLACIER",
            state_dir=env.get("STATE_DIR") or ".state",
        )


def check_local_endpoint(endpoint: str) -> None:
    """Refuse anything but this machine (or the compose service), so a local deploy can never
    reach a real AWS account by accident."""
    host = urlparse(endpoint).hostname or ""
    if host in COMPOSE_HOSTS:
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ConfigError(
        f"refusing to deploy to {endpoint}: a local deploy only talks to loopback or the compose "
        "service 'localstack'. To deploy to a real AWS account, say so: --target aws"
    )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None
