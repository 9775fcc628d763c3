"""boto3 clients for the handlers, made lazily, and how to tell a transient AWS error."""

from __future__ import annotations

import functools
import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

# Error codes AWS documents as "try again later" for the calls the handlers make.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "RequestTimeout",
        "TransactionInProgressException",
        "AWS.SimpleQueueService.RequestThrottled",
        "RequestThrottled",
    }
)

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@functools.cache
def client(service: str):
    """One client per service per process, made on first use (never at import time, so a test's
    mock or a changed AWS_ENDPOINT_URL is in place first). `client.cache_clear()` forgets them."""
    return _session().client(service, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None, config=_CONFIG)


@functools.cache
def _session() -> boto3.session.Session:
    # One session, so the service models it loads are parsed once per process.
    return boto3.session.Session()


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_CODES or status >= 500
    return isinstance(error, (BotocoreConnectionError, HTTPClientError))
