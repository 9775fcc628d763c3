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


class _Batch:
    """The messages of one `send`: `done` is set when the last of them is acknowledged, so a sender
    waits on one event, not one per message."""

    def __init__(self, size: int) -> None:
        self.waiting = size
        self.done = threading.Event()
        self._lock = threading.Lock()
        if size == 0:
            self.done.set()

    def acknowledged(self) -> None:
        with self._lock:
            self.waiting -= 1
            if self.waiting == 0:
                self.done.set()


@dataclass(eq=False)
class _Published:
    """A message handed to a loop; `acked` at its PUBACK."""

    message: Outgoing
    batch: _Batch
    acked: bool = False


@dataclass(eq=False)
class _Device:
    client: mqtt.Client
    connected: bool = False
    retry_at: float = 0.0
    attempts: int = 0
    # Messages sent and not yet acknowledged, by paho's message id.
    unacked: dict[int, _Published] = field(default_factory=dict)
    # The socket's file descriptor as registered with the loop's poller, or None.
    fd: int | None = None
    # A connection was tried: every later try is a retry.
    tried: bool = False


class _NetworkLoop(threading.Thread):
    """Owns some devices' clients and drives their sockets.

    Its work per turn is only for the devices that have something to do: sockets stay registered
    with one poller from connect to disconnect, and only the devices just published to or read
    from are asked whether they have more to write or buffered to read. At 1,000 messages a
    second, rebuilding the poll set and asking all of a loop's devices each turn cost the
    simulator more CPU than the messages did."""

    def __init__(self, name: str, rng: random.Random) -> None:
        super().__init__(name=name, daemon=True)
        self.devices: dict[str, _Device] = {}
        self.requests: queue.SimpleQueue[_Published] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.rng = rng
        self.reconnects = 0
        # poll(), not select(): no limit of 1,024 file descriptors on the connections one loop holds.
        self._poller = select.poll()
        self._by_fd: dict[int, _Device] = {}
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._poller.register(self._wake_read.fileno(), select.POLLIN)

    def add(self, client_id: str, client: mqtt.Client) -> None:
        device = _Device(client)
        client.on_connect = lambda _c, _u, _f, reason, _p: self._on_connect(device, reason)
        client.on_disconnect = lambda _c, _u, _f, reason, _p: self._on_disconnect(client_id, device, reason)
        client.on_publish = lambda _c, _u, mid, _reason, _p: self._on_puback(device, mid)
        self.devices[client_id] = device

    def hand_over(self, published: list[_Published]) -> None:
        for one in published:
            self.requests.put(one)
        self._wake_write.send(b"x")

    def connected(self) -> int:
        return sum(device.connected for device in self.devices.values())

    def run(self) -> None:
        next_misc = 0.0
        buffered: set[_Device] = set()
        while not self.stopping.is_set():
            now = time.monotonic()
            self._reconnect_due(now)
            touched = self._publish_handed_over()
            read, buffered = self._read_ready(buffered)
            touched.update(read)
            if now >= next_misc:
                next_misc = now + MISC_EVERY_SECONDS
                for device in self.devices.values():
                    device.client.loop_misc()
                    self._follow_socket(device)
                touched.update(self.devices.values())
            for device in touched:
                if device.connected and device.client.want_write():
                    device.client.loop_write()
        for device in self.devices.values():
            device.client.disconnect()
            device.client.loop_write()
        self._wake_read.close()
        self._wake_write.close()

    def _publish_handed_over(self) -> set[_Device]:
        published_to: set[_Device] = set()
        while True:
            try:
                published = self.requests.get_nowait()
            except queue.Empty:
                return published_to
            device = self.devices[published.message.device_id]
            # Queued by paho while disconnected, and sent when the connection is back.
            info = device.client.publish(published.message.topic, published.message.payload, qos=1)
            device.unacked[info.mid] = published
            published_to.add(device)

    def _read_ready(self, buffered: set[_Device]) -> tuple[set[_Device], set[_Device]]:
        """Reads every device with data waiting: (those read, those with a packet still buffered)."""
        ready = self._poller.poll(0 if buffered else POLL_TIMEOUT_SECONDS * 1000)
        readable = set(buffered)
        for fd, _event in ready:
            if fd == self._wake_read.fileno():
                self._drain_wakes()
            elif (device := self._by_fd.get(fd)) is not None:
                readable.add(device)
        still_buffered = set()
        for device in readable:
            device.client.loop_read()
            self._follow_socket(device)
            sock = device.client.socket()
            # A WebSocket frame read earlier may hold more than one packet.
            if sock is not None and getattr(sock, "pending", lambda: 0)():
                still_buffered.add(device)
        return readable, still_buffered

    def _drain_wakes(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _follow_socket(self, device: _Device) -> None:
        """Keeps the poller registered with the device's current socket (paho replaces it on a
        reconnect and drops it on a disconnect)."""
        sock = device.client.socket()
        try:
            fd = sock.fileno() if sock is not None else None
        except OSError:
            fd = None  # closed under us: its next read or reconnect sorts it out
        if fd == device.fd:
            return
        if device.fd is not None and self._by_fd.get(device.fd) is device:
            self._poller.unregister(device.fd)
            del self._by_fd[device.fd]
        device.fd = fd
        if fd is not None:
            self._poller.register(fd, select.POLLIN)
            self._by_fd[fd] = device

    def _reconnect_due(self, now: float) -> None:
        for client_id, device in self.devices.items():
            if device.connected or device.client.socket() is not None or now < device.retry_at:
                continue
            self.reconnects += device.tried
            device.tried = True
            try:
                device.client.reconnect()
            except (OSError, mqtt.WebsocketConnectionError) as error:
                self._back_off(client_id, device, str(error))
            self._follow_socket(device)

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
        if published is not None and not published.acked:
            published.acked = True
            published.batch.acknowledged()


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
        batch = _Batch(len(messages))
        handed = [_Published(message, batch) for message in messages]
        by_loop: dict[_NetworkLoop, list[_Published]] = {}
        for published in handed:
            by_loop.setdefault(self.owner[published.message.device_id], []).append(published)
        for loop, its_share in by_loop.items():
            loop.hand_over(its_share)
        batch.done.wait(timeout)
        return [
            Failure({"Id": str(index)}, "NoPuback", f"no PUBACK within {timeout:.0f} s", retryable=False)
            for index, published in enumerate(handed)
            if not published.acked
        ]

    def close(self) -> None:
        for loop in self.loops:
            loop.stopping.set()
        for loop in self.loops:
            if loop.is_alive():
                loop.join(timeout=5)
