"""Messages as a device publishes them and as the IoT rule's SQS action sends them on, in every
form the ingest function accepts.

Pure: a `Plan` turns (device, time) into an `Outgoing` message that knows what it should become
(items stored, filtered by the staging rule, parked in the DLQ, or parked by the rule's error
action), so a run can be accounted for.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from device_data.messages import MessageFate, sensor_topic
from device_data.table import DEFAULT_TTL_SECONDS
from simulator.fleet import Device, drift
from simulator.malformed import CATALOGUE, PUBLISHED_CATALOGUE

FORMS = ("things_name", "topic", "data_list", "flat")


@dataclass(frozen=True)
class Outgoing:
    body: str  # as the ingest queue receives it
    device_id: str
    kind: str  # a FORM, "malformed:<code>", or "rule_error:<name>"
    fate: MessageFate
    keys: tuple[tuple[str, int], ...]  # (deviceID, createdAt ms) of the items it should store
    expired: bool = False
    payload: bytes = b""  # as the device publishes it

    @property
    def topic(self) -> str:
        return sensor_topic(self.device_id)


@dataclass(frozen=True)
class PlanSettings:
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    bad_ratio: float = 0.0
    backdate_ratio: float = 0.0
    plain_json_ratio: float = 0.0
    staging: bool = False  # the pipeline's APP_ENV is Staging
    list_size: int = 3
    # Devices publish and the topic rule sends on (base64); else the messages go to SQS as they are.
    through_rule: bool = False


class Plan:
    def __init__(self, devices: list[Device], settings: PlanSettings, rng: random.Random):
        self.devices = devices
        self.settings = settings
        self.rng = rng

    def batches(self, total: int | None, size: int, clock: Callable[[], float] = time.time) -> Iterator[list[Outgoing]]:
        """`total` messages (None: without end) in batches of `size`, each stamped when it is made."""
        remaining = total if total is not None else float("inf")
        while remaining > 0:
            count = int(min(size, remaining))
            remaining -= count
            now = clock()
            yield [self.next_message(now) for _ in range(count)]

    def next_message(self, now: float) -> Outgoing:
        rng, settings = self.rng, self.settings
        device = rng.choice(self.devices)
        if rng.random() < settings.bad_ratio:
            if settings.through_rule:
                published = rng.choice(PUBLISHED_CATALOGUE)
                kind = (
                    f"malformed:{published.expected_code}"
                    if published.fate == MessageFate.DEAD_LETTERED
                    else f"rule_error:{published.name}"
                )
                body = _base64(published.payload)
                return Outgoing(body, device.device_id, kind, published.fate, (), payload=published.payload)
            malformed = rng.choice(CATALOGUE)
            return Outgoing(
                malformed.body,
                device.device_id,
                f"malformed:{malformed.expected_code}",
                MessageFate.DEAD_LETTERED,
                (),
                payload=malformed.body.encode(),
            )
        form = rng.choice(FORMS)
        expired = rng.random() < settings.backdate_ratio
        if expired:
            # Old enough that createdAt/1000 + TTL has passed: DynamoDB's TTL removes it at once.
            base_ms = int((now - settings.ttl_seconds - rng.uniform(60, 3600)) * 1000)
            clock = "backdated"
        else:
            base_ms, clock = int(now * 1000), "live"
        in_seconds = rng.random() < 0.5
        count = settings.list_size if form == "data_list" else 1
        created = [device.next_created_ms(base_ms, whole_second=in_seconds, clock=clock) for _ in range(count)]
        message = _message(form, device, created, in_seconds, rng)
        plain = rng.random() < settings.plain_json_ratio and not settings.through_rule
        payload = json.dumps(message, default=_number).encode()
        body = payload.decode() if plain else _base64(payload)
        fate = MessageFate.FILTERED if device.staging != settings.staging else MessageFate.STORED
        keys = tuple((device.device_id, ms) for ms in created) if fate == MessageFate.STORED else ()
        return Outgoing(body, device.device_id, form, fate, keys, expired and fate == MessageFate.STORED, payload)


def _message(form: str, device: Device, created: list[int], in_seconds: bool, rng: random.Random) -> dict:
    stamp = (lambda ms: ms // 1000) if in_seconds else (lambda ms: ms)
    if form == "things_name":
        return {"things_name": device.device_id, "timestamp": stamp(created[0]), "data": drift(device, rng)}
    if form == "topic":
        return {
            "topic": sensor_topic(device.device_id),
            "timestamp": stamp(created[0]),
            "data": {**drift(device, rng), "createdAt": stamp(created[0])},
        }
    if form == "data_list":
        return {
            "things_name": device.device_id,
            "timestamp": stamp(created[0]),
            "data": [{**drift(device, rng), "createdAt": stamp(ms)} for ms in created],
        }
    return {"things_name": device.device_id, "timestamp": stamp(created[0]), **drift(device, rng)}


def _base64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


def _number(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
