"""Devices as MQTT clients: each simulated device is a paho-mqtt client of its own (client id =
its thing name, MQTT over WebSocket, keep-alive), publishing its readings at QoS 1 to its own
`<thing>/SENSOR/DAT`, reconnecting with exponential backoff and jitter when the connection drops.

Hundreds of connections in one process: the clients' network loops are shared by a few threads
(`loops`), each driving its clients with poll() instead of paho's thread per client. Every paho
call for a client happens on the thread that owns it; the senders only hand messages over and
wait for their PUBACKs. A message counts as delivered at its PUBACK: AWS IoT Core has run the
topic rule (the message is on the queue, or parked by the error action) before it answers.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import select
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from aws_calls.batching import Failure
from simulator.payloads import Outgoing

logger = logging.getLogger("simulator.mqtt")

KEEPALIVE_SECONDS = 30
# How long a message may wait for its PUBACK, reconnects included, before it counts as not sent.
ACK_TIMEOUT_SECONDS = 60.0
RECONNECT_FIRST_DELAY, RECONNECT_MAX_DELAY = 0.5, 30.0
CONNECT_TIMEOUT_SECONDS = 30.0
# paho's own housekeeping (keep-alive PINGREQ, retrying unacknowledged messages) runs this often.
MISC_EVERY_SECONDS = 0.5
POLL_TIMEOUT_SECONDS = 0.05


class MqttConnectError(Exception):
    """Reported in one line by the CLI."""


@dataclass
class _Published:
    """A message handed to a loop; `done` is set at its PUBACK."""

    message: Outgoing
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class _Device:
    client: mqtt.Client
    connected: bool = False
    retry_at: float = 0.0
    attempts: int = 0
    # Messages sent and not yet acknowledged, by paho's message id.
    unacked: dict[int, _Published] = field(default_factory=dict)


class _NetworkLoop(threading.Thread):
    """Owns some devices' clients and drives their sockets."""

    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name=name, daemon=True)
        self.devices: dict[str, _Device] = {}
        self.requests: queue.SimpleQueue[_Published] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.rng = rng
        self.reconnects = 0
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)

    def add(self, client_id: str, client: mqtt.Client) -> None:
        device = _Device(client)
        client.on_connect = lambda _c, _u, _f, reason, _p: self._on_connect(device, reason)
        client.on_disconnect = lambda _c, _u, _f, reason, _p: self._on_disconnect(client_id, device, reason)
        client.on_publish = lambda _c, _u, mid, _reason, _p: self._on_puback(device, mid)
        self.devices[client_id] = device

    def hand_over(self, published: _Published) -> None:
        self.requests.put(published)
        self._wake_write.send(b"x")

    def connected(self) -> int:
        return sum(device.connected for device in self.devices.values())

    def run(self) -> None:
        next_misc = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            self._reconnect_due(now)
            self._publish_handed_over()
            self._read_ready()
            for device in self.devices.values():
                if device.connected and device.client.want_write():
                    device.client.loop_write()
            if now >= next_misc:
                next_misc = now + MISC_EVERY_SECONDS
                for device in self.devices.values():
                    device.client.loop_misc()
        for device in self.devices.values():
            device.client.disconnect()
            device.client.loop_write()
        self._wake_read.close()
        self._wake_write.close()

    def _publish_handed_over(self) -> None:
        while True:
            try:
                published = self.requests.get_nowait()
            except queue.Empty:
                return
            device = self.devices[published.message.device_id]
            # Queued by paho while disconnected, and sent when the connection is back.
            info = device.client.publish(published.message.topic, published.message.payload, qos=1)
            device.unacked[info.mid] = published

    def _read_ready(self) -> None:
        sockets = {}
        pending = []
        for device in self.devices.values():
            sock = device.client.socket()
            if sock is None:
                continue
            sockets[sock] = device
            # A WebSocket frame read earlier may hold more than one packet.
            if getattr(sock, "pending", lambda: 0)():
                pending.append(device)
        # poll(), not select(): no limit of 1,024 file descriptors on the connections one loop holds.
        poller = select.poll()
        by_fd = {}
        for sock, device in sockets.items():
            try:
                by_fd[sock.fileno()] = device
            except OSError:
                continue  # closed under us: its next read or reconnect sorts it out
            poller.register(sock.fileno(), select.POLLIN)
        poller.register(self._wake_read.fileno(), select.POLLIN)
        ready = poller.poll(0 if pending else POLL_TIMEOUT_SECONDS * 1000)
        if any(fd == self._wake_read.fileno() for fd, _event in ready):
            try:
                while self._wake_read.recv(4096):
                    pass
            except BlockingIOError:
                pass
        for device in {*pending, *(by_fd[fd] for fd, _event in ready if fd in by_fd)}:
            device.client.loop_read()

    def _reconnect_due(self, now: float) -> None:
        for client_id, device in self.devices.items():
            if device.connected or device.client.socket() is not None or now < device.retry_at:
                continue
            self.reconnects += 1
            try:
                device.client.reconnect()
            except (OSError, mqtt.WebsocketConnectionError) as error:
                self._back_off(client_id, device, str(error))

    def _on_connect(self, device: _Device, reason: mqtt.ReasonCode) -> None:
        if reason.is_failure:
            return
        device.connected, device.attempts = True, 0

    def _on_disconnect(self, client_id: str, device: _Device, reason: mqtt.ReasonCode) -> None:
        device.connected = False
        if not self.stopping.is_set():
            self._back_off(client_id, device, str(reason))

    def _back_off(self, client_id: str, device: _Device, why: str) -> None:
        delay = min(RECONNECT_MAX_DELAY, RECONNECT_FIRST_DELAY * 2**device.attempts)
        device.attempts += 1
        device.retry_at = time.monotonic() + self.rng.uniform(delay / 2, delay)
        logger.info("device %s disconnected (%s): reconnecting in %.1f s", client_id, why, delay)

    def _on_puback(self, device: _Device, mid: int) -> None:
        published = device.unacked.pop(mid, None)
        if published is not None:
            published.done.set()


class MqttFleet:
    """A connection per device, on `loops` shared network threads; `send` publishes and waits for
    the PUBACKs."""

    def __init__(self, endpoint_url: str, device_ids: Iterable[str], loops: int = 4, seed: int = 1) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise MqttConnectError(f"{endpoint_url!r} is not an MQTT over WebSocket URL (ws://host:port/mqtt)")
        self.host, self.path = parts.hostname, parts.path or "/mqtt"
        self.port = parts.port or (443 if parts.scheme == "wss" else 80)
        self.tls = parts.scheme == "wss"
        rng = random.Random(seed)
        self.loops = [_NetworkLoop(f"mqtt-loop-{n}", random.Random(rng.random())) for n in range(max(1, loops))]
        self.owner: dict[str, _NetworkLoop] = {}
        for device_id, loop in zip(device_ids, itertools.cycle(self.loops), strict=False):
            loop.add(device_id, self._client(device_id))
            self.owner[device_id] = loop

    def _client(self, client_id: str) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, transport="websockets")
        client.ws_set_options(path=self.path)
        if self.tls:
            client.tls_set()
        return client

    def connect(self, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
        """Connect every device (from its own loop thread) and wait until all are connected."""
        for loop in self.loops:
            for device in loop.devices.values():
                # The loop thread makes the connection, as it makes every later one.
                device.client.connect_async(self.host, self.port, keepalive=KEEPALIVE_SECONDS)
            loop.start()
        deadline = time.monotonic() + timeout
        total = len(self.owner)
        while (connected := sum(loop.connected() for loop in self.loops)) < total:
            if time.monotonic() > deadline:
                self.close()
                raise MqttConnectError(
                    f"only {connected} of {total} devices connected to "
                    f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}{self.path} in {timeout:.0f} s"
                )
            time.sleep(0.05)

    @property
    def retries(self) -> int:
        """Reconnects so far (paho sends the unacknowledged messages again on each)."""
        return sum(loop.reconnects for loop in self.loops)

    def send(self, messages: list[Outgoing], timeout: float = ACK_TIMEOUT_SECONDS) -> list[Failure]:
        handed = [_Published(message) for message in messages]
        for published in handed:
            self.owner[published.message.device_id].hand_over(published)
        deadline = time.monotonic() + timeout
        for published in handed:
            published.done.wait(max(0.0, deadline - time.monotonic()))
        return [
            Failure({"Id": str(index)}, "NoPuback", f"no PUBACK within {timeout:.0f} s", retryable=False)
            for index, published in enumerate(handed)
            if not published.done.is_set()
        ]

    def close(self) -> None:
        for loop in self.loops:
            loop.stopping.set()
        for loop in self.loops:
            if loop.is_alive():
                loop.join(timeout=5)
