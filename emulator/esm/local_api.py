"""The data plane's client of the local API: Lambda's pollers' calls to SQS, DynamoDB Streams and Lambda.

How AWS's pollers talk to those services is internal to AWS: no function can observe it. boto3
spent two thirds of the data plane's CPU serialising, signing and parsing
(bench/results/profile-2026-11-23.md), so this client sends the wire requests itself: AWS JSON
1.0 for SQS and DynamoDB Streams, REST-JSON for Lambda, with headers built once, JSON bodies and
one kept-alive connection per thread. Nothing is signed: the emulator checks no signature, and
reads the region from the credential scope of the Authorization header, which is all it is sent.
Answers stay in their JSON wire form (binary as base64, times as epoch seconds): what Lambda puts
in the events.

What botocore gave the data plane is kept: its timeouts (60 s to connect, 900 s to read: an
Invoke may run 15 minutes), its standard retry mode (3 attempts; a transient failure waits up to
1 s, then up to 2 s), and one error type, `ApiError`, with the code, message and HTTP status.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from aws_calls.batching import RetryPolicy
from aws_calls.errors import TRANSIENT_CODES

CONNECT_TIMEOUT_SECONDS = 60.0
READ_TIMEOUT_SECONDS = 900.0
# botocore's standard mode: 3 attempts, full jitter up to 1 s then 2 s.
STANDARD_RETRIES = RetryPolicy(attempts=3, base_delay=0.5, max_delay=20.0)
# The status of an ApiError for a call that got no HTTP answer (refused, reset, timed out).
NO_ANSWER = 0
LAMBDA_API = "/2015-03-31"
# Any date of eight digits makes a credential scope the emulator reads.
_SCOPE_DATE = "20260101"
_JSON_1_0 = "application/x-amz-json-1.0"
_SYNCHRONOUS_INVOKE = MappingProxyType({"X-Amz-Invocation-Type": "RequestResponse"})


class JsonService(Enum):
    """The AWS JSON 1.0 services the pollers call: (X-Amz-Target prefix, credential scope service)."""

    SQS = ("AmazonSQS", "sqs")
    DYNAMODB_STREAMS = ("DynamoDBStreams_20120810", "dynamodb")

    @property
    def target_prefix(self) -> str:
        return self.value[0]

    @property
    def signing_name(self) -> str:
        return self.value[1]


class ApiError(Exception):
    """A call that failed: the service's error code and message and the HTTP status, or, when no
    answer came (NO_ANSWER), the name of the network error."""

    def __init__(self, operation: str, code: str, message: str, status: int):
        answer = f"HTTP {status}" if status != NO_ANSWER else "no answer"
        super().__init__(f"{operation} failed: {code} ({answer}): {message}")
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status


def is_transient(error: BaseException) -> bool:
    """Worth trying again: no answer, a 5xx, or a throttling or try-again-later code."""
    return isinstance(error, ApiError) and (
        error.status == NO_ANSWER or error.status >= 500 or error.code in TRANSIENT_CODES
    )


@dataclass(frozen=True)
class Invocation:
    """A synchronous Invoke's answer; `function_error` is X-Amz-Function-Error ("Unhandled") or None."""

    request_id: str
    status: int
    function_error: str | None
    payload: bytes


class _Connection:
    """One kept-alive HTTP/1.1 connection. A request goes out in one write, head and body
    together, as botocore sends it: split in two, the server reads it twice."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.sock: socket.socket | None = None

    def exchange(self, method: str, request: bytes) -> tuple[int, http.client.HTTPMessage, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, CONNECT_TIMEOUT_SECONDS)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Connected within the connect timeout; an answer may take as long as an invocation.
            self.sock.settimeout(READ_TIMEOUT_SECONDS)
        self.sock.sendall(request)
        response = http.client.HTTPResponse(self.sock, method=method)
        response.begin()
        answer = response.read()
        if response.will_close:
            self.close()
        return response.status, response.msg, answer

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class LocalApi:
    """Calls to the local API at `endpoint` (plain HTTP), from any number of threads."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        retries: RetryPolicy = STANDARD_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ):
        url = urlsplit(endpoint)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"the data plane calls the local API over plain HTTP, not {endpoint}")
        self.host, self.port = url.hostname, url.port or 80
        self.region = region
        self.retries = retries
        self.sleep = sleep
        self._local = threading.local()
        self._host_header = f"Host: {url.netloc}\r\n"
        self._json_heads: dict[tuple[str, str], str] = {}
        self._lambda_scope = self._scope("lambda")

    def call_json(self, service: JsonService, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        head = self._json_heads.get((service.target_prefix, operation))
        if head is None:
            headers = {
                "X-Amz-Target": f"{service.target_prefix}.{operation}",
                "Content-Type": _JSON_1_0,
                **self._scope(service.signing_name),
            }
            if service is JsonService.SQS:
                # SQS answers errors with their Query API codes too (x-amzn-query-error), as botocore asks.
                headers["x-amzn-query-mode"] = "true"
            head = self._json_heads[(service.target_prefix, operation)] = self._head("POST", "/", headers)
        status, _headers, body = self._exchange(operation, "POST", head, json.dumps(request).encode())
        return _document(operation, status, body)

    def call_lambda(
        self,
        operation: str,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """A Lambda REST call to LAMBDA_API + `path`."""
        head = self._head(method, LAMBDA_API + path, {**self._lambda_scope, **(headers or {})})
        return self._exchange(operation, method, head, body)

    def _head(self, method: str, path: str, headers: Mapping[str, str]) -> str:
        """The request line and headers but Content-Length."""
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"{method} {path} HTTP/1.1\r\n{self._host_header}{lines}"

    def _exchange(
        self, operation: str, method: str, head: str, body: bytes
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request, again after a transient failure; an error answer raises ApiError."""
        request = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        attempt = 1
        while True:
            try:
                return self._once(operation, method, request)
            except ApiError as error:
                if attempt >= self.retries.attempts or not is_transient(error):
                    raise
            self.sleep(self.retries.delay(attempt))
            attempt += 1

    def _once(self, operation: str, method: str, request: bytes) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection, reused = self._connection()
        try:
            status, headers, answer = connection.exchange(method, request)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            if reused and isinstance(error, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
                # The server closed the kept-alive connection as the request went: send it on a new one.
                return self._once(operation, method, request)
            raise ApiError(operation, type(error).__name__, str(error), NO_ANSWER) from error
        if status >= 300:
            raise _api_error(operation, status, headers, answer)
        return status, headers, answer

    def _connection(self) -> tuple[_Connection, bool]:
        """This thread's connection, and whether it carried requests before."""
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = _Connection(self.host, self.port)
        if connection.sock is None:
            return connection, False
        if _closed_by_peer(connection.sock):
            connection.close()
            return connection, False
        return connection, True

    def _scope(self, signing_name: str) -> dict[str, str]:
        credential = f"test/{_SCOPE_DATE}/{self.region}/{signing_name}/aws4_request"
        return {"Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=0"}


class JsonClient:
    """One AWS JSON 1.0 service: `call("ReceiveMessage", QueueUrl=...)` takes boto3's request
    members (they are the JSON body) and answers the JSON the service sends."""

    def __init__(self, api: LocalApi, service: JsonService):
        self.api = api
        self.service = service

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        return self.api.call_json(self.service, operation, request)


class Lambda:
    """The Lambda calls of the data plane: synchronous Invoke, and the event source mappings."""

    def __init__(self, api: LocalApi):
        self.api = api

    def invoke(self, function_name: str, payload: bytes) -> Invocation:
        path = f"/functions/{quote(function_name, safe='')}/invocations"
        status, headers, body = self.api.call_lambda("Invoke", "POST", path, payload, _SYNCHRONOUS_INVOKE)
        return Invocation(headers.get("x-amzn-RequestId", ""), status, headers.get("X-Amz-Function-Error"), body)

    def event_source_mappings(self) -> list[dict[str, Any]]:
        """Every mapping, page after page."""
        mappings: list[dict[str, Any]] = []
        marker = None
        while True:
            query = f"?{urlencode({'Marker': marker})}" if marker else ""
            operation = "ListEventSourceMappings"
            status, _headers, body = self.api.call_lambda(operation, "GET", f"/event-source-mappings{query}")
            page = _document(operation, status, body)
            mappings += page.get("EventSourceMappings", [])
            marker = page.get("NextMarker")
            if not marker:
                return mappings


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle kept-alive socket that is readable has been closed by the server (or has data no
    request asked for): either way it cannot carry the next request."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _document(operation: str, status: int, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ApiError(operation, "InvalidResponse", f"the answer is not a JSON object: {body[:200]!r}", status)
    return document


def _api_error(operation: str, status: int, headers: http.client.HTTPMessage, body: bytes) -> ApiError:
    """The error an answer carries, read as botocore reads it: the Query API code SQS sends in
    x-amzn-query-error, else x-amzn-ErrorType, else the body's __type; without any, the status."""
    try:
        document = json.loads(body) if body else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    query_code = (headers.get("x-amzn-query-error") or "").split(";", 1)[0]
    code = query_code or headers.get("x-amzn-ErrorType") or document.get("__type") or document.get("code") or ""
    # "aws.protocol#Code" and "Code:http://..." name the code with a namespace or a link.
    code = str(code).split(":", 1)[0].rsplit("#", 1)[-1] or str(status)
    message = document.get("message") or document.get("Message") or ""
    return ApiError(operation, code, str(message), status)
