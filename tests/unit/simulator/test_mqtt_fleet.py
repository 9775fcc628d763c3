"""The simulator's MQTT devices against a small broker of the test's own (MQTT 3.1.1 over WebSocket):
every message is acknowledged, a dropped connection is made again and its messages are sent again,
and a message never acknowledged is reported as not sent."""

import asyncio
import threading

import pytest
from websockets.asyncio.server import serve

from device_data.messages import MessageFate
from simulator.mqtt_sender import MqttFleet
from simulator.payloads import Outgoing

CONNECT, CONNACK, PUBLISH, PUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 12, 13, 14


def packets(data: bytearray):
    """Complete MQTT packets taken from the front of `data`: (type, flags, body)."""
    while len(data) >= 2:
        length, multiplier, at = 0, 1, 1
        while True:
            if at >= len(data):
                return
            byte = data[at]
            at += 1
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            if not byte & 0x80:
                break
        if len(data) < at + length:
            return
        first, body = data[0], bytes(data[at : at + length])
        del data[: at + length]
        yield first >> 4, first & 0x0F, body


class Broker:
    """Acknowledges PUBLISHes at QoS 1 and keeps their payloads; `drop_after` closes a connection
    instead of acknowledging that many-th PUBLISH on it, once; `silent` acknowledges nothing."""

    def __init__(self, drop_after: int = 0, silent: bool = False) -> None:
        self.drop_after, self.silent = drop_after, silent
        self.payloads: list[bytes] = []
        self.connects = 0
        self.dropped = 0
        self.ready = threading.Event()
        self.port = 0

    async def session(self, websocket) -> None:
        data, published = bytearray(), 0
        async for frame in websocket:
            data.extend(frame)
            for kind, flags, body in packets(data):
                if kind == CONNECT:
                    self.connects += 1
                    await websocket.send(bytes((CONNACK << 4, 2, 0, 0)))
                elif kind == PINGREQ:
                    await websocket.send(bytes((PINGRESP << 4, 0)))
                elif kind == PUBLISH:
                    published += 1
                    if self.drop_after and published == self.drop_after and not self.dropped:
                        self.dropped += 1
                        return
                    topic_length = int.from_bytes(body[:2], "big")
                    packet_id = body[2 + topic_length : 4 + topic_length]
                    self.payloads.append(body[4 + topic_length :])
                    if not self.silent and (flags >> 1) & 0x03 == 1:
                        await websocket.send(bytes((PUBACK << 4, 2)) + packet_id)
                elif kind == DISCONNECT:
                    return

    def run(self) -> None:
        async def main() -> None:
            self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
            async with serve(self.session, "127.0.0.1", 0, subprotocols=["mqtt"]) as server:
                self.port = server.sockets[0].getsockname()[1]
                self.ready.set()
                await self.stopping.wait()

        asyncio.run(main())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)


@pytest.fixture
def broker(request):
    settings = getattr(request, "param", {})
    broker = Broker(**settings)
    thread = threading.Thread(target=broker.run, daemon=True)
    thread.start()
    assert broker.ready.wait(5)
    yield broker
    broker.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def message(device_id: str, n: int) -> Outgoing:
    payload = f'{{"things_name": "{device_id}", "n": {n}}}'.encode()
    return Outgoing(body="", device_id=device_id, kind="form", fate=MessageFate.STORED, keys=(), payload=payload)


def fleet_on(broker: Broker, devices: int, loops: int) -> MqttFleet:
    fleet = MqttFleet(f"ws://127.0.0.1:{broker.port}/mqtt", [f"dev-{n:04d}" for n in range(devices)], loops=loops)
    fleet.connect(timeout=10)
    return fleet


def test_every_device_on_a_few_loops_has_each_message_acknowledged(broker):
    fleet = fleet_on(broker, devices=30, loops=2)
    try:
        batches = [[message(f"dev-{n % 30:04d}", n) for n in range(start, start + 10)] for start in range(0, 90, 10)]
        failures = [failure for batch in batches for failure in fleet.send(batch, timeout=10)]
    finally:
        fleet.close()
    assert failures == []
    assert sorted(broker.payloads) == sorted(m.payload for batch in batches for m in batch)
    assert fleet.retries == 0 and broker.connects == 30


@pytest.mark.parametrize("broker", [{"drop_after": 2}], indirect=True)
def test_a_dropped_connection_is_made_again_and_its_message_is_sent_again(broker):
    fleet = fleet_on(broker, devices=1, loops=1)
    try:
        sent = [message("dev-0000", n) for n in range(3)]
        failures = fleet.send(sent, timeout=10)
    finally:
        fleet.close()
    assert failures == []
    assert broker.dropped == 1 and broker.connects == 2 and fleet.retries == 1
    assert sorted(broker.payloads) == sorted(m.payload for m in sent)


@pytest.mark.parametrize("broker", [{"silent": True}], indirect=True)
def test_a_message_never_acknowledged_is_reported_as_not_sent(broker):
    fleet = fleet_on(broker, devices=2, loops=1)
    try:
        failures = fleet.send([message("dev-0000", 1), message("dev-0001", 2)], timeout=0.5)
    finally:
        fleet.close()
    assert [(failure.entry["Id"], failure.code) for failure in failures] == [("0", "NoPuback"), ("1", "NoPuback")]
