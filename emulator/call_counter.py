"""Counts the API calls the emulator serves, by operation, and fails chosen calls on request.

GET /_emulator/calls returns the counts as JSON (the load benchmark's "AWS calls per 1,000
readings"). POST /_emulator/faults with {"operation": "firehose.PutRecordBatch", "count": 3,
"code": "ServiceUnavailableException", "status": 503} makes the next 3 such calls fail with that
AWS error, so tests can watch the pipeline ride out a Firehose or S3 outage.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

COUNTS_PATH = "/_emulator/calls"
FAULTS_PATH = "/_emulator/faults"
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
    """ASGI middleware around the emulator's app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter = Counter()
        self.faults: dict[str, dict] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == COUNTS_PATH:
            with self._lock:
                counts = dict(self.counts)
            return await _respond(send, 200, counts)
        if scope["path"] == FAULTS_PATH and scope["method"] == "POST":
            return await _respond(send, 200, self._add_fault(await _body(receive)))
        headers = {name.decode().lower(): value.decode(errors="replace") for name, value in scope.get("headers", [])}
        name = operation(scope["method"], scope["path"], headers)
        with self._lock:
            self.counts[name] += 1
            fault = self.faults.get(name)
            if fault:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    del self.faults[name]
        if fault:
            return await _respond(
                send,
                fault["status"],
                {"__type": fault["code"], "message": f"injected {fault['code']}"},
                [(b"x-amzn-errortype", fault["code"].encode())],
            )
        return await self.app(scope, receive, send)

    def _add_fault(self, request: bytes) -> dict:
        fault = json.loads(request or b"{}")
        with self._lock:
            self.faults[fault["operation"]] = {
                "count": int(fault.get("count", 1)),
                "code": fault.get("code", "ServiceUnavailableException"),
                "status": int(fault.get("status", 503)),
            }
            return dict(self.faults)


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send, status: int, document: dict, headers: list | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/x-amz-json-1.1"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})
