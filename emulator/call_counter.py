"""Counts the API calls the emulator serves, by operation, and fails chosen calls on request.

GET /_emulator/calls returns the counts as JSON (the load benchmark's "AWS calls per 1,000
readings"). POST /_emulator/faults with {"operation": "firehose.PutRecordBatch", "count": 3,
"code": "ServiceUnavailableException", "status": 503} makes the next 3 such calls fail with that
AWS error, so tests can watch the pipeline ride out a Firehose or S3 outage.

The /_emulator/ endpoints take JSON only: a form or text/plain POST, which a web page can send
without a CORS preflight, gets 415; a body that is not the JSON asked for gets 400, in one line.

GET /_emulator/identity returns {"identity": ..., "state_dir": ...}: which state folder this
emulator belongs to (emulator.identity), so a deploy can tell its own emulator from another's.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from emulator.identity import IDENTITY_PATH, StateIdentity
from emulator.loopback_guard import ASGIApp, Receive, Scope, Send

INTERNAL_PREFIX = "/_emulator/"
COUNTS_PATH = INTERNAL_PREFIX + "calls"
FAULTS_PATH = INTERNAL_PREFIX + "faults"
_TARGET_PREFIXES = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
    "AmazonSQS": "sqs",
    "Firehose_20150804": "firehose",
    "Logs_20140328": "logs",
}


def operation(method: str, path: str, headers: dict[str, str]) -> str:
    """`service.Operation` of one request, from the JSON protocols' X-Amz-Target or the REST path."""
    target = headers.get("x-amz-target", "")
    if "." in target:
        prefix, action = target.rsplit(".", 1)
        return f"{_TARGET_PREFIXES.get(prefix, prefix)}.{action}"
    if path.startswith("/2015-03-31/functions/") and path.endswith("/invocations"):
        return "lambda.Invoke"
    if path.startswith(("/2015-03-31/", "/2017-03-31/")):
        return "lambda.other"
    if path.startswith("/_"):
        return "internal"
    segments = [segment for segment in path.split("/") if segment]
    if method == "PUT" and len(segments) >= 2:
        return "s3.PutObject"
    return f"s3.{method}"


class CallCounter:
    """ASGI middleware around the emulator's app. Without an `identity`, /_emulator/identity
    answers 404."""

    def __init__(self, app: ASGIApp, identity: StateIdentity | None = None) -> None:
        self.app = app
        self.identity = identity
        self.counts: Counter[str] = Counter()
        self.faults: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {name.decode().lower(): value.decode(errors="replace") for name, value in scope.get("headers", [])}
        if scope["path"].startswith(INTERNAL_PREFIX) and scope["method"] == "POST":
            content_type = headers.get("content-type", "")
            if not is_json_media_type(content_type):
                message = f"{scope['path']} takes application/json, not {content_type or 'a body without Content-Type'}"
                return await _respond(send, 415, _error("UnsupportedMediaTypeException", message))
        if scope["path"] == IDENTITY_PATH:
            if self.identity is None:
                return await _respond(send, 404, _error("ResourceNotFoundException", "this emulator has no identity"))
            return await _respond(send, 200, self.identity.document())
        if scope["path"] == COUNTS_PATH:
            with self._lock:
                counts = dict(self.counts)
            return await _respond(send, 200, counts)
        if scope["path"] == FAULTS_PATH and scope["method"] == "POST":
            try:
                fault = fault_request(await read_body(receive))
            except BadRequest as error:
                return await _respond(send, 400, _error(error.code, str(error)))
            return await _respond(send, 200, self._add_fault(fault))
        name = operation(scope["method"], scope["path"], headers)
        with self._lock:
            self.counts[name] += 1
            injected = self.faults.get(name)
            if injected:
                injected["count"] -= 1
                if injected["count"] <= 0:
                    del self.faults[name]
        if injected:
            return await _respond(
                send,
                injected["status"],
                _error(injected["code"], f"injected {injected['code']}"),
                [(b"x-amzn-errortype", injected["code"].encode())],
            )
        return await self.app(scope, receive, send)

    def _add_fault(self, fault: dict[str, Any]) -> dict[str, dict[str, Any]]:
        with self._lock:
            self.faults[fault["operation"]] = {key: fault[key] for key in ("count", "code", "status")}
            return dict(self.faults)


class BadRequest(Exception):
    """A request to a /_emulator/ endpoint that is not what it takes; `code` is the AWS-style error type."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.startswith("application/x-amz-json-")


def fault_request(body: bytes) -> dict[str, Any]:
    """The fault a POST /_emulator/faults asks for, with its defaults filled in."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise BadRequest("SerializationException", f"the body is not JSON: {error}") from None
    if not isinstance(request, dict) or not isinstance(request.get("operation"), str):
        raise BadRequest(
            "ValidationException", 'the body must be an object with "operation", e.g. "firehose.PutRecord"'
        )
    fault = {"count": 1, "code": "ServiceUnavailableException", "status": 503, **request}
    count, status = fault["count"], fault["status"]
    if not (isinstance(count, int) and count >= 1 and isinstance(status, int) and 400 <= status <= 599):
        raise BadRequest("ValidationException", "count must be a positive integer and status an HTTP error status")
    if not isinstance(fault["code"], str):
        raise BadRequest("ValidationException", "code must be a string such as ServiceUnavailableException")
    return {key: fault[key] for key in ("operation", "count", "code", "status")}


async def read_body(receive: Receive) -> bytes:
    """The whole body of an ASGI request."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _error(code: str, message: str) -> dict[str, str]:
    return {"__type": code, "message": message}


async def _respond(
    send: Send, status: int, document: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/x-amz-json-1.1"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})
