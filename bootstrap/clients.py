"""boto3 clients for the bootstrap: a local target's endpoint with dummy credentials, AWS through
the standard credential chain."""

from __future__ import annotations

import boto3
from botocore.config import Config

from aws_calls.sessions import LOCAL_CREDENTIALS, ClientFactory, cached_clients, local_clients
from bootstrap.config import StackConfig
from env_settings.reader import SettingError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=120)


def client_factory(config: StackConfig) -> ClientFactory:
    if config.endpoint:
        return local_clients(config.endpoint, config.region, _CONFIG)
    session = boto3.session.Session(region_name=config.region)
    credentials = session.get_credentials()
    # Keys in the environment win over AWS_PROFILE in the credential chain: the local stack's
    # dummy keys, left exported, would be what an AWS deploy signs with.
    if credentials is not None and credentials.access_key == LOCAL_CREDENTIALS:
        raise SettingError(
            "--target aws would sign with the local dummy credentials (AWS_ACCESS_KEY_ID=test in the environment): "
            "unset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then use AWS_PROFILE or your usual credentials"
        )
    return cached_clients(session, config=_CONFIG)
