"""boto3 clients for the bootstrap: a local target's endpoint with dummy credentials, AWS through
the standard credential chain."""

from __future__ import annotations

import boto3
from botocore.config import Config

from aws_calls.sessions import ClientFactory, cached_clients, local_clients
from bootstrap.config import StackConfig

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=120)


def client_factory(config: StackConfig) -> ClientFactory:
    if config.endpoint:
        return local_clients(config.endpoint, config.region, _CONFIG)
    return cached_clients(boto3.session.Session(region_name=config.region), config=_CONFIG)
