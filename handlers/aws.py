"""The handlers' boto3 clients, made lazily."""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@functools.cache
def client(service: str) -> Any:
    """One client per service per process, made on first use (never at import time, so a test's
    mock or a changed AWS_ENDPOINT_URL is in place first). `client.cache_clear()` forgets them."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    # The stubs type a client by a literal service name; this one is named by the caller.
    return _session().client(service, endpoint_url=endpoint, config=_CONFIG)  # type: ignore[call-overload]


@functools.cache
def _session() -> boto3.session.Session:
    # One session, so the service models it loads are parsed once per process.
    return boto3.session.Session()
