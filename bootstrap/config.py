"""The bootstrap's settings, from the environment, with their defaults.

| variable                    | default (local / aws)               | meaning                                          |
|-----------------------------|-------------------------------------|--------------------------------------------------|
| STACK_ENV                   | dev                                 | prefix of every resource name (`dev_DeviceData`) |
| EMULATOR_PORT               | 4566 / -                            | embedded emulator's port; moves the endpoint     |
| AWS_ENDPOINT_URL            | http://127.0.0.1:$EMULATOR_PORT / - | the API endpoint (local targets only)            |
| AWS_DEFAULT_REGION          | us-east-1 / (required)              | region                                           |
| TABLE_BILLING               | on-demand                           | `on-demand` or `provisioned` (38 read/22 write)  |
| FUNCTION_TIMEOUT_SECONDS    | 30                                  | timeout of the three functions                   |
| FUNCTION_MEMORY_MB          | 256                                 | memory of the three functions                    |
| INGEST_BATCH_WINDOW_SECONDS | 1 / 60                              | SQS batching window of the ingest mapping (>= 1) |
| HISTORY_BUFFER_SECONDS      | 2 / 60                              | Firehose buffering interval                      |
| HISTORY_BUFFER_MB           | 1 / 50                              | Firehose buffering size                          |
| STREAM_RETRY_ATTEMPTS       | 3                                   | MaximumRetryAttempts of the stream mappings      |
| STREAM_BATCH_WINDOW_SECONDS | 1                                   | batching window of the stream mappings           |
| TTL_SECONDS                 | 31536000                            | passed to the ingest function                    |
| APP_ENV                     | (none)                              | passed to the ingest function (`Staging`)        |
| ARCHIVE_LAYOUT              | batch                               | passed to the archive function                   |
| ARCHIVE_STORAGE_CLASS       | GLACIER                             | passed to the archive function                   |
| STATE_DIR                   | .state                              | where outputs.json and build files are written   |

A local target's endpoint is AWS_ENDPOINT_URL when set, else http://127.0.0.1:<EMULATOR_PORT>
(aws_calls.sessions.local_endpoint: the simulator and the emulator derive it the same way).
A malformed value, or a local endpoint that is not this machine, raises SettingError.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlparse

from aws_calls.sessions import LOCAL_REGION, local_endpoint
from device_data.archive import ARCHIVE_STORAGE_CLASS, ArchiveLayout
from device_data.table import DEFAULT_TTL_SECONDS
from env_settings.reader import Environment, SettingError, one_of, whole_number

# The compose file's LocalStack service, reachable by name from the bootstrap container.
COMPOSE_HOSTS = {"localstack", "localhost"}


class DeployTarget(StrEnum):
    """`local`: an emulator on this machine, with dummy credentials. `aws`: a real account through
    the standard credential chain, only when asked for by name."""

    LOCAL = "local"
    AWS = "aws"


class TableBilling(StrEnum):
    ON_DEMAND = "on-demand"
    # The seed's fixed capacity (PROVISIONED_READ / PROVISIONED_WRITE in bootstrap.stack).
    PROVISIONED = "provisioned"


@dataclass(frozen=True)
class StackConfig:
    env: str
    target: DeployTarget
    region: str
    endpoint: str | None
    billing: TableBilling
    function_timeout: int
    function_memory: int
    ingest_batch_window: int
    history_buffer_seconds: int
    history_buffer_mb: int
    stream_retry_attempts: int
    stream_batch_window: int
    ttl_seconds: int
    app_env: str
    archive_layout: ArchiveLayout
    archive_storage_class: str
    state_dir: str

    @property
    def is_local(self) -> bool:
        return self.target == DeployTarget.LOCAL

    @classmethod
    def from_env(cls, target: DeployTarget = DeployTarget.LOCAL, env: Environment = os.environ) -> StackConfig:
        target = DeployTarget(target)
        local = target == DeployTarget.LOCAL
        endpoint: str | None = None
        if local:
            endpoint = local_endpoint(env)
            check_local_endpoint(endpoint)
            region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or LOCAL_REGION
        else:
            region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or ""
            if not region:
                raise SettingError("--target aws needs the region: set AWS_DEFAULT_REGION")
        return cls(
            env=env.get("STACK_ENV") or "dev",
            target=target,
            region=region,
            endpoint=endpoint,
            billing=one_of(env, "TABLE_BILLING", TableBilling.ON_DEMAND),
            function_timeout=whole_number(env, "FUNCTION_TIMEOUT_SECONDS", 30),
            function_memory=whole_number(env, "FUNCTION_MEMORY_MB", 256),
            # AWS (and LocalStack) refuse a window of 0 with the ingest batch of 20: 1 s is the least they take.
            ingest_batch_window=whole_number(env, "INGEST_BATCH_WINDOW_SECONDS", 1 if local else 60),
            history_buffer_seconds=whole_number(env, "HISTORY_BUFFER_SECONDS", 2 if local else 60),
            history_buffer_mb=whole_number(env, "HISTORY_BUFFER_MB", 1 if local else 50),
            stream_retry_attempts=whole_number(env, "STREAM_RETRY_ATTEMPTS", 3),
            stream_batch_window=whole_number(env, "STREAM_BATCH_WINDOW_SECONDS", 1),
            ttl_seconds=whole_number(env, "TTL_SECONDS", DEFAULT_TTL_SECONDS),
            app_env=env.get("APP_ENV", ""),
            archive_layout=one_of(env, "ARCHIVE_LAYOUT", ArchiveLayout.BATCH),
            archive_storage_class=env.get("ARCHIVE_STORAGE_CLASS") or ARCHIVE_STORAGE_CLASS,
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
    raise SettingError(
        f"refusing to deploy to {endpoint}: a local deploy only talks to loopback or the compose "
        "service 'localstack'. To deploy to a real AWS account, say so: --target aws"
    )
