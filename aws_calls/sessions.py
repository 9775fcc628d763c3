"""boto3 clients: one cache of clients per session, and the session every local tool uses.

A local emulator accepts any credentials. Fixed dummy ones mean nothing signed for a local
endpoint can ever be valid for a real account, whatever profile the shell has selected.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = "test"

# The service is named at run time, so a client is typed where it is used (mypy_boto3 types).
ClientFactory = Callable[[str], Any]


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
