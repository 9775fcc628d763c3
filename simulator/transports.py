"""How the simulated devices reach the pipeline (`--via`), and the default for the backend.

| via   | what a device does                                           | where                      |
|-------|--------------------------------------------------------------|----------------------------|
| mqtt  | its own MQTT connection, QoS 1 to `<thing>/SENSOR/DAT`         | default with IoT Core      |
| https | iot-data Publish (QoS 1) to the same topic                   |                            |
| sqs   | nothing: the message goes to the ingest queue as the rule would send it | LocalStack Community |

With `BACKEND=localstack` (IoT Core is a paid LocalStack feature) or a stack whose outputs name
no IoT endpoint, the default is `sqs`, and the simulator says so in one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum

from botocore.config import Config

from aws_calls.sessions import LOCAL_REGION, local_clients
from bootstrap.local_stack import Backend
from env_settings.reader import Environment, SettingError, one_of
from simulator.sender import Transport


class Via(StrEnum):
    MQTT = "mqtt"
    HTTPS = "https"
    SQS = "sqs"

    @property
    def through_rule(self) -> bool:
        """The topic rule carries the message to the queue (and base64-encodes it)."""
        return self != Via.SQS


def default_via(outputs: Mapping[str, object], env: Environment = os.environ) -> tuple[Via, str | None]:
    """The transport to use when none is asked for, and the line that says why when it is not MQTT."""
    if one_of(env, "BACKEND", Backend.AUTO) == Backend.LOCALSTACK:
        return Via.SQS, "BACKEND=localstack has no IoT Core (a paid LocalStack feature): sending to SQS (--via sqs)"
    if not outputs.get("iot_endpoint"):
        return Via.SQS, "the stack's outputs name no IoT endpoint: sending to SQS (--via sqs)"
    return Via.MQTT, None


@contextmanager
def opened(
    via: Via,
    *,
    endpoint: str,
    queue_url: str | None,
    iot_endpoint: str | None,
    device_ids: list[str],
    loops: int,
    seed: int,
) -> Iterator[Transport]:
    """The transport, connected; MQTT connections are closed on the way out."""
    if via == Via.MQTT:
        from simulator.mqtt_sender import MqttConnectError, MqttFleet

        if not iot_endpoint:
            raise MqttConnectError("--via mqtt needs the device endpoint: give --iot-endpoint, or deploy first")
        fleet = MqttFleet(iot_endpoint, device_ids, loops=loops, seed=seed)
        fleet.connect()
        try:
            yield fleet
        finally:
            fleet.close()
        return
    clients = local_clients(
        endpoint,
        os.environ.get("AWS_DEFAULT_REGION") or LOCAL_REGION,
        Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3}),
    )
    if via == Via.HTTPS:
        from simulator.https_sender import HttpsSender

        yield HttpsSender(clients("iot-data"))
        return
    from simulator.sqs_sender import SqsSender

    if not queue_url:
        raise SettingError("--via sqs needs the ingest queue: give --queue-url, or deploy first")
    yield SqsSender(clients("sqs"), queue_url)
