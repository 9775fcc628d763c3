"""Counts the API calls the emulator serves, by operation, for the load benchmark's
"AWS calls per 1,000 readings". GET /_emulator/calls returns the counts as JSON."""
from __future__ import annotations

import json
import threading
from collections import Counter

COUNTS_PATH = "/_emulator/calls"
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
    if path.startswith("/2015-03-31/") or path.startswith("/2017-03-31/"):
        return "lambda.other"
    if path.startswith("/_"):
        return "internal"
    segments = [segment for segment in path.split("/") if segment]
    if method == "PUT" and len(segments) >= 2:
        return "s3.PutObject"
    return f"s3.{method}"


class CallCounter:
    """ASGI middleware around the emulator's app."""

    def __init__(self, app):
        self.app = app
        self.counts: Counter = Counter()
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == COUNTS_PATH:
            with self._lock:
                body = json.dumps(dict(self.counts)).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return None
        headers = {name.decode().lower(): value.decode(errors="replace") for name, value in scope.get("headers", [])}
        with self._lock:
            self.counts[operation(scope["method"], scope["path"], headers)] += 1
        return await self.app(scope, receive, send)
