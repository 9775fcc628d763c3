"""The API process: MiniStack on 127.0.0.1:<port> with the embedded backend's additions.

Run by `python -m emulator start` (detached); `python -m emulator api` runs it in the foreground.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from emulator.call_counter import CallCounter, read_body
from emulator.identity import ensure_identity
from emulator.lifecycle import DURABILITY_PATH, EmulatorError
from emulator.loopback_guard import LoopbackGuard
from emulator.settings import EmulatorSettings, JournalMode

if TYPE_CHECKING:
    from emulator.firehose_buffer import FirehoseBuffers
    from emulator.ministack.journal import Journal
    from emulator.ministack.saves import SaveLog

logger = logging.getLogger("emulator.api")

PATCHES_PATH = "/_emulator/patches"
SHUTDOWN_REPORT = "api.shutdown.json"
JOURNAL_FOLDER = "journal"
# Entries of work done off requests (the TTL sweep) are written at least this often.
BACKGROUND_FLUSH_SECONDS = 0.2
CHECKPOINT_CHECK_SECONDS = 5.0
# In-flight requests (a long poll, an open MQTT connection) get this long to end once the stop is asked.
GRACEFUL_SHUTDOWN_SECONDS = 5


def serve(settings: EmulatorSettings) -> None:
    _configure_ministack(settings)
    from emulator import ministack
    from emulator.ministack.journal import Journal
    from emulator.ministack.registry import PatchRegistry
    from emulator.ministack.ttl import sweep_every

    journal = (
        Journal(
            Path(settings.state_dir) / JOURNAL_FOLDER,
            settings.journal_reserve_mb * 1024 * 1024,
            sync=settings.journal is JournalMode.FSYNC,
        )
        if settings.journal is not JournalMode.OFF
        else None
    )
    patches = PatchRegistry()
    ministack_app, firehose, saves, expiries = ministack.install(
        patches,
        journal,
        sync_saves=settings.journal is JournalMode.FSYNC,
        glacier_restore_seconds=settings.glacier_restore_seconds,
    )
    logger.info("MiniStack %s, patched: %s", ministack.MINISTACK_VERSION, [p.patch.name for p in patches.applied])
    durability = Durability(ministack_app, firehose, saves, journal, settings)
    app = PatchListing(durability, patches.describe())
    stopping = threading.Event()
    _every(0.2, firehose.flush_due, stopping, "firehose-flusher")

    import uvicorn
    import uvloop

    class Server(uvicorn.Server):
        # SIGTERM and SIGINT start our stop sequence (below), which ends the server when it is done.
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # On the loop that serves every DynamoDB request: see emulator.ministack.ttl.
        sweeper = asyncio.create_task(
            sweep_every(expiries, settings.ttl_sweep_seconds, settings.ttl_deletion_delay_seconds)
        )
        counted = CallCounter(app, ensure_identity(settings.state_dir))
        guarded = LoopbackGuard(counted, settings.extra_cors_allowed_origins)
        server = Server(server_config(guarded, settings.port))

        async def stop_when_asked() -> None:
            await stop.wait()
            stopping.set()
            sweeper.cancel()
            await durability.stop_background()
            # Buffered Firehose records reach S3 before MiniStack saves its state.
            await loop.run_in_executor(None, durability.deliver_firehose)
            server.should_exit = True

        # A failed start is reported once, by the caller, in one line; uvicorn would log it twice more.
        logging.getLogger("uvicorn.error").addFilter(lambda _record: durability.startup_error is None)
        stopper = asyncio.create_task(stop_when_asked())
        try:
            await server.serve()
        except SystemExit:
            # uvicorn exits when the lifespan startup fails; Durability kept the reason, raised below.
            if durability.startup_error is None:
                raise
        finally:
            stopper.cancel()
            sweeper.cancel()

    try:
        uvloop.run(main())
        if durability.startup_error is not None:
            raise EmulatorError(durability.startup_error)
    finally:
        patches.undo()


def server_config(app: Any, port: int) -> Any:
    """uvicorn on httptools and uvloop: half hypercorn's CPU per request (bench/results/profile-2026-11-23.md)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="none",
        http="httptools",
        ws="websockets-sansio",
        # No WebSocket pings: devices keep their connection alive with MQTT's own PINGREQ, as on
        # AWS IoT Core. paho-mqtt answers a WebSocket ping with an unmasked pong, which the server
        # must refuse (RFC 6455, 5.1): with uvicorn's default ping every 20 s, every paho device
        # was disconnected after 20 s, and its unacknowledged messages were sent again.
        ws_ping_interval=None,
        lifespan="on",
        # Our logging configuration (emulator/__main__.py) formats uvicorn's lines too.
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # MiniStack writes the Date header itself, as AWS does: the server adds none (a second one
        # breaks WebSocket handshakes), nor a Server header.
        server_header=False,
        date_header=False,
    )


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
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PatchListing:
    """ASGI middleware: GET /_emulator/patches returns the MiniStack patches applied, as JSON."""

    def __init__(self, app: ASGIApp, patches: list[dict[str, Any]]):
        self.app = app
        self._body = json.dumps({"patches": patches}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATCHES_PATH:
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self._body})


# -- durability ------------------------------------------------------------------------------------


class RequestKind(Enum):
    """What a request can do to the state, which decides how it is made durable."""

    READ = "read"
    # Its changes are journaled entries (items, stream records, messages, Firehose records) or,
    # for S3 objects, files MiniStack writes itself.
    DATA = "data"
    # Anything else that may change state: answered after a checkpoint (a full snapshot).
    CONTROL = "control"


JOURNALED_ACTIONS = frozenset(
    {
        # DynamoDB
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
        # SQS
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "PurgeQueue",
        # Firehose
        "PutRecord",
        "PutRecordBatch",
    }
)
READ_ACTION_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "TransactGet", "Filter", "Head")
_LAMBDA_PREFIXES = ("/2015-03-31/", "/2014-11-13/", "/2017-03-31/", "/2018-10-31/", "/2019-09-30/", "/2020-")
_S3_VIRTUAL_HOST = re.compile(r"^[^.]+\.s3[.-]")
_FORM = "application/x-www-form-urlencoded"


def action_kind(action: str) -> RequestKind:
    if action in JOURNALED_ACTIONS:
        return RequestKind.DATA
    if action.startswith(READ_ACTION_PREFIXES):
        return RequestKind.READ
    return RequestKind.CONTROL


def request_kind(method: str, path: str, headers: dict[str, str], form_action: str | None) -> RequestKind:
    """Read, data or control, from what routes the request: X-Amz-Target, the Query protocol's
    Action, the Lambda REST paths, or else S3 (object or bucket)."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return RequestKind.READ
    target = headers.get("x-amz-target", "")
    if "." in target:
        return action_kind(target.rsplit(".", 1)[1])
    if form_action is not None:
        return action_kind(form_action)
    if path.startswith(_LAMBDA_PREFIXES):
        return RequestKind.DATA if path.endswith(("/invocations", "/invoke-async/")) else RequestKind.CONTROL
    if path.startswith("/_"):
        return RequestKind.CONTROL
    segments = [segment for segment in path.split("/") if segment]
    in_bucket_host = bool(_S3_VIRTUAL_HOST.match(headers.get("host", "")))
    # S3 persists objects itself (a failed write answers 503); buckets are control plane.
    return RequestKind.DATA if len(segments) >= (1 if in_bucket_host else 2) else RequestKind.CONTROL


def unavailable(
    headers: dict[str, str], path: str, form: bool, message: str
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """AWS's 503 ServiceUnavailable in the request's protocol: SDKs retry it."""
    if "x-amz-target" in headers or path.startswith(_LAMBDA_PREFIXES):
        body = json.dumps({"__type": "ServiceUnavailable", "message": message}).encode()
        content_type = b"application/x-amz-json-1.0"
    elif form:
        body = (
            "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
            f"<Message>{escape(message)}</Message></Error></ErrorResponse>"
        ).encode()
        content_type = b"text/xml"
    else:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>'
            f"<Message>{escape(message)}</Message></Error>"
        ).encode()
        content_type = b"application/xml"
    return [
        (b"content-type", content_type),
        (b"x-amzn-errortype", b"ServiceUnavailable"),
        (b"content-length", str(len(body)).encode()),
    ], body


class Durability:
    """ASGI middleware around MiniStack: nothing is answered before it is durable.

    - At start (lifespan), after MiniStack has loaded its snapshot and before anything is
      served: the journal is replayed and the stream records compacted. A corrupt journal
      fails the start with one line naming the file.
    - A request that may change state is let in only while the journal's space is reserved
      (else 503, before MiniStack sees it). When it answers, its entries are written first;
      a control-plane request is answered after a checkpoint. If that fails, it gets 503, and
      so does every request until a restart (the state in memory is ahead of the disk).
    - An S3 object that could not be written answers 503.
    - At a clean stop, after MiniStack's saves: the journal is removed only if every save
      succeeded, and `run/api.shutdown.json` says what was saved.
    - GET /_emulator/durability: {"ok": ..., "error": ..., "since": ...}.
    """

    def __init__(
        self,
        app: ASGIApp,
        firehose: FirehoseBuffers,
        saves: SaveLog,
        journal: Journal | None,
        settings: EmulatorSettings,
    ):
        self.app = app
        self.firehose = firehose
        self.saves = saves
        self.journal = journal
        self.settings = settings
        self.run_dir = Path(settings.state_dir) / "run"
        self.startup_error: str | None = None
        self.firehose_failure: str | None = None
        self.s3_failure: tuple[str, float] | None = None
        self._started = False
        self._background: asyncio.Task[None] | None = None
        self._stop_background = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, self._lifespan(send))
            except Exception as error:
                if self._started or self.startup_error is not None:
                    raise
                # Hypercorn would serve on without the start (no state loaded, nothing journaled).
                logger.exception("the start failed")
                self.startup_error = f"the start failed: {type(error).__name__}: {error}"
                await send({"type": "lifespan.startup.failed", "message": self.startup_error})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == DURABILITY_PATH:
            await _respond_json(send, 200, self.status())
            return
        headers = {name.decode().lower(): value.decode(errors="replace") for name, value in scope.get("headers", [])}
        form = headers.get("content-type", "").startswith(_FORM) and scope["method"] == "POST"
        form_action = None
        if form:
            body = await read_body(receive)
            form_action = (parse_qs(body.decode(errors="replace")).get("Action") or [""])[0]
            receive = _replaying(body)
        kind = request_kind(scope["method"], scope["path"], headers, form_action)
        s3_object = kind is RequestKind.DATA and not form and "x-amz-target" not in headers
        refusal = self._refusal(kind)
        if refusal is not None:
            await self._unavailable(send, headers, scope["path"], form, refusal)
            return
        from emulator.ministack.s3 import write_failures

        replaced = False

        async def durable_send(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                problem = await self._make_durable(kind, s3_object, message["status"], s3_failures)
                if problem is not None:
                    replaced = True
                    await self._unavailable(send, headers, scope["path"], form, problem)
                    return
            elif replaced:
                return
            await send(message)

        with write_failures() as s3_failures:
            await self.app(scope, receive, durable_send)

    def _refusal(self, kind: RequestKind) -> str | None:
        if self.journal is None:
            return None
        if self.journal.failure is not None:
            return self.journal.failure
        return self.journal.admit() if kind is not RequestKind.READ else None

    async def _make_durable(
        self, kind: RequestKind, s3_object: bool, status: int, s3_failures: list[str]
    ) -> str | None:
        problem = None
        if s3_failures:
            problem = "; ".join(s3_failures)
            self.s3_failure = (problem, time.time() if self.s3_failure is None else self.s3_failure[1])
        elif s3_object and status < 400:
            self.s3_failure = None
        if self.journal is None:
            return problem
        from emulator.ministack.journal import CheckpointFailed

        if self.journal.checkpoint_needed or (kind is RequestKind.CONTROL and status < 400):
            try:
                await self.journal.checkpoint(self.firehose, _save_dict)
            except CheckpointFailed as error:
                self.journal.fail(f"a control-plane change could not be saved: {error}")
        return self.journal.flush() or problem

    async def _unavailable(self, send: Send, headers: dict[str, str], path: str, form: bool, message: str) -> None:
        response_headers, body = unavailable(headers, path, form, message)
        await send({"type": "http.response.start", "status": 503, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = self.journal.status() if self.journal is not None else {"ok": True, "journal": "off"}
        if self.s3_failure is not None and report["ok"]:
            report.update(ok=False, error=self.s3_failure[0], since=self.s3_failure[1])
        return report

    # -- lifespan ----------------------------------------------------------------------------

    def _lifespan(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.startup_error = self._start()
                if self.startup_error is not None:
                    await send({"type": "lifespan.startup.failed", "message": self.startup_error})
                    return
                self._started = True
                self._background = asyncio.create_task(self._work_in_background())
            elif message["type"] == "lifespan.shutdown.complete":
                self._stopped()
            await send(message)

        return lifespan_send

    def _start(self) -> str | None:
        """Runs once MiniStack has loaded its snapshot; the reason the start must fail, or None."""
        from emulator.journal_file import JournalCorrupt
        from emulator.ministack import compact

        (self.run_dir / SHUTDOWN_REPORT).unlink(missing_ok=True)
        if self.journal is not None:
            try:
                recovery = self.journal.recover(self.firehose)
            except JournalCorrupt as error:
                logger.critical("%s", error)
                return str(error)
            if recovery.records:
                logger.warning(
                    "replayed the journal after a crash: %d records, %s, in %.2f s",
                    recovery.records,
                    recovery.entries,
                    recovery.seconds,
                )
        compact.after_load()
        if self.journal is not None:
            self.journal.start()
        return None

    async def _work_in_background(self) -> None:
        """Writes entries of work done off requests, and checkpoints when the journal is big or old."""
        journal = self.journal
        if journal is None:
            return
        from emulator.ministack.journal import CheckpointFailed

        due = journal.recovery.generations > 0
        next_check = time.monotonic() + CHECKPOINT_CHECK_SECONDS
        while not self._stop_background.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop_background.wait(), BACKGROUND_FLUSH_SECONDS)
            if journal.writer.has_pending():
                journal.flush()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + CHECKPOINT_CHECK_SECONDS
                due = due or journal.checkpoint_due(
                    self.settings.checkpoint_mb * 1024 * 1024, self.settings.checkpoint_seconds
                )
            # Asked for off a request (a stack's task ended): not left for a request that may not come.
            due = due or journal.checkpoint_needed
            if due and journal.failure is None and not self._stop_background.is_set():
                due = False
                try:
                    await journal.checkpoint(self.firehose, _save_dict)
                except CheckpointFailed as error:
                    logger.error("checkpoint failed, the journal is kept: %s", error)

    async def stop_background(self) -> None:
        """Before MiniStack saves: no checkpoint may write the same files meanwhile."""
        self._stop_background.set()
        if self._background is not None:
            await self._background
        if self.journal is not None and self.journal.failure is not None:
            self.saves.refusal = f"not saved: {self.journal.failure}"

    def deliver_firehose(self) -> None:
        from emulator.firehose_buffer import DeliveryFailed

        try:
            self.firehose.flush_all()
        except DeliveryFailed as error:
            self.firehose_failure = str(error)
            logger.error("Firehose records kept in the journal: %s", error)

    def _stopped(self) -> None:
        """MiniStack's saves are done: report them, and remove the journal only if all succeeded."""
        failed = dict(self.saves.failed)
        if not self.saves.ran:
            failed["ministack"] = "its shutdown did not save"
        if self.firehose_failure is not None:
            failed["firehose"] = self.firehose_failure
        truncated = False
        if self.journal is not None and not failed and self.journal.failure is None:
            self.journal.remove_all()
            truncated = True
        report = {"saved": self.saves.saved, "failed": failed, "journal_truncated": truncated}
        path = self.run_dir / SHUTDOWN_REPORT
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(report) + "\n")
            os.replace(temporary, path)
        except OSError as error:
            logger.error("could not write %s: %s (%s)", path, error.strerror or error, report)
        if failed:
            logger.error("stopped with state not saved: %s", failed)


def _save_dict() -> Any:
    import importlib

    return importlib.import_module("ministack.app")._build_persistence_save_dict()


def _replaying(body: bytes) -> Receive:
    """A receive that hands the app the body already read, then waits as the server's would."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive


async def _respond_json(send: Send, status: int, document: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})
