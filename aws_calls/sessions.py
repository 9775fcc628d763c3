"""boto3 clients: one cache of clients per session, and the session every local tool uses.

A local emulator accepts any credentials. Fixed dummy ones mean nothing signed for a local
endpoint can ever be valid for a real account, whatever profile the shell has selected.

The local endpoint is derived here and nowhere else (bootstrap, simulator and emulator read it):

| variable         | default                           | meaning                                    |
|------------------|-----------------------------------|--------------------------------------------|
| AWS_ENDPOINT_URL | http://127.0.0.1:${EMULATOR_PORT} | the endpoint, when it is not the emulator  |
| EMULATOR_PORT    | 4566                              | the embedded emulator's port, on 127.0.0.1 |

So `EMULATOR_PORT` alone moves a whole stack: the emulator, the deploy, the simulator, the
functions and the tests all follow it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from env_settings.reader import Environment, SettingError, whole_number

# LocalStack's port: the AWS CLI, awslocal and the compose file all expect it.
DEFAULT_EMULATOR_PORT = 4566
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = "test"

# The service is named at run time, so a client is typed where it is used (mypy_boto3 types).
ClientFactory = Callable[[str], Any]


def emulator_port(env: Environment) -> int:
    port = whole_number(env, "EMULATOR_PORT", DEFAULT_EMULATOR_PORT)
    if not 0 < port < 65536:
        raise SettingError(f"EMULATOR_PORT={port} is not a TCP port (1-65535)")
    return port


def loopback_endpoint(port: int) -> str:
    """The embedded emulator's endpoint: it listens on 127.0.0.1 only."""
    return f"http://127.0.0.1:{port}"


def local_endpoint(env: Environment) -> str:
    """AWS_ENDPOINT_URL when it is set, else the embedded emulator's endpoint on EMULATOR_PORT."""
    return env.get("AWS_ENDPOINT_URL") or loopback_endpoint(emulator_port(env))


def cached_clients(
    session: boto3.session.Session, endpoint_url: str | None = None, config: Config | None = None
) -> ClientFactory:
    """One client per service, made from `session` on first use."""

    @functools.cache
    def client(service: str) -> Any:
        # The stubs type a client by a literal service name; this one is named by the caller.
        return session.client(service, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]

    return client


def local_clients(endpoint: str, region: str = LOCAL_REGION, config: Config | None = None) -> ClientFactory:
    """Clients of the emulator at `endpoint`, signed with the dummy credentials."""
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS, region_name=region
    )
    return cached_clients(session, endpoint, config)
