"""The API process: MiniStack on 127.0.0.1:<port> with the embedded backend's additions.

Run by `python -m emulator start` (detached); `python -m emulator api` runs it in the foreground.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from emulator.call_counter import CallCounter
from emulator.loopback_guard import LoopbackGuard
from emulator.settings import EmulatorSettings

logger = logging.getLogger("emulator.api")

PATCHES_PATH = "/_emulator/patches"


def serve(settings: EmulatorSettings) -> None:
    _configure_ministack(settings)
    from emulator import ministack
    from emulator.ministack.registry import PatchRegistry
    from emulator.ministack.ttl import sweep_every

    patches = PatchRegistry()
    ministack_app, firehose = ministack.install(patches, settings.glacier_restore_seconds)
    logger.info("MiniStack %s, patched: %s", ministack.MINISTACK_VERSION, [p.patch.name for p in patches.applied])
    app = PatchListing(ministack_app, patches.describe())
    stopping = threading.Event()
    _every(0.2, firehose.flush_due, stopping, "firehose-flusher")

    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{settings.port}"]
    config.keep_alive_timeout = 75
    config.loglevel = "WARNING"
    config.accesslog = None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # On the loop that serves every DynamoDB request: see emulator.ministack.ttl.
        sweeper = asyncio.create_task(sweep_every(settings.ttl_sweep_seconds, settings.ttl_deletion_delay_seconds))

        async def shutdown_trigger() -> None:
            await stop.wait()
            stopping.set()
            sweeper.cancel()
            # Buffered Firehose records reach S3 before MiniStack saves its state.
            await loop.run_in_executor(None, firehose.flush_all)

        # hypercorn types its app with its own ASGI TypedDicts; ours is a plain ASGI callable.
        guarded: Any = LoopbackGuard(CallCounter(app), settings.extra_cors_allowed_origins)
        await hypercorn_serve(guarded, config, shutdown_trigger=shutdown_trigger)

    asyncio.run(main())


def _configure_ministack(settings: EmulatorSettings) -> None:
    state = Path(settings.state_dir)
    os.environ.update(
        {
            "GATEWAY_PORT": str(settings.port),
            "BIND_HOST": "127.0.0.1",
            "MINISTACK_REGION": settings.region,
            "PERSIST_STATE": "1",
            "STATE_DIR": str(state / "ministack"),
            "S3_PERSIST": "1",
            "S3_DATA_DIR": str(state / "s3"),
            "LOG_LEVEL": os.environ.get("EMULATOR_LOG_LEVEL", "WARNING"),
            # Functions run as warm local subprocesses; never look for a Docker engine.
            "LAMBDA_EXECUTOR": "local",
            # Listen on loopback only: no IoT mTLS or SFTP listeners on 0.0.0.0.
            "IOT_MTLS_ENABLED": "0",
            "SFTP_ENABLED": "0",
        }
    )


def _every(seconds: float, work: Callable[[], object], stopping: threading.Event, name: str) -> None:
    def loop() -> None:
        while not stopping.wait(seconds):
            try:
                work()
            except Exception:
                logger.exception("%s failed; trying again in %s s", name, seconds)

    threading.Thread(target=loop, name=name, daemon=True).start()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class PatchListing:
    """ASGI middleware: GET /_emulator/patches returns the MiniStack patches applied, as JSON."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], patches: list[dict[str, Any]]):
        self.app = app
        self._body = json.dumps({"patches": patches}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATCHES_PATH:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self._body})
