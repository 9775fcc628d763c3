"""boto3 clients for the bootstrap: local targets through localstack-client (the endpoint from
AWS_ENDPOINT_URL or LOCALSTACK_HOST, dummy credentials `test`), AWS through the standard chain."""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from localstack_client.session import Session as LocalSession

from bootstrap.config import StackConfig

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=120)


def client_factory(config: StackConfig) -> Callable[[str], object]:
    if config.is_local:
        parsed = urlparse(config.endpoint)
        session = LocalSession(
            aws_access_key_id="test",
            aws_secret_access_key="test",
            aws_session_token=None,
            region_name=config.region,
            localstack_host=f"{parsed.hostname}:{parsed.port or 4566}",
        )
    else:
        session = boto3.session.Session(region_name=config.region)

    @functools.cache
    def client(service: str):
        return session.client(service, config=_CONFIG)

    return client
