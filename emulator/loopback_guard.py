"""Keeps the emulator's API to this machine: what a web page sends it is refused.

Binding to 127.0.0.1 is not enough. Any page the developer opens can send requests there (and
read the answers when CORS says `*`), and a hostile domain can rebind its name to 127.0.0.1
(DNS rebinding). So every HTTP and WebSocket request must
- name a loopback host in `Host`: `localhost`, a name under `.localhost` (RFC 6761: never sent
  to DNS, so it cannot be rebound), 127.0.0.0/8 or [::1], with any port; and
- when it says where it comes from (`Origin`, else `Referer`), come from a loopback origin or
  one listed in EXTRA_CORS_ALLOWED_ORIGINS. A browser's cross-site request that does not say
  (`Sec-Fetch-Site: cross-site`, an <img> or <script> GET) is refused too.
SDKs and the AWS CLI send none of these headers and pass.

Allowed origins get CORS headers naming them, never `*`, and their preflights are answered
here. MiniStack's own `Access-Control-*` headers are dropped from every response.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any
from xml.sax.saxutils import escape

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("emulator.loopback_guard")

ALLOWED_METHODS = "GET, HEAD, PUT, POST, DELETE, PATCH"
# A page sees only the response headers CORS exposes; these are the ones the AWS SDKs read.
EXPOSED_HEADERS = (
    "x-amzn-requestid, x-amzn-errortype, x-amz-request-id, x-amz-id-2, x-amz-crc32, x-amz-version-id, etag, date"
)
PREFLIGHT_MAX_AGE_SECONDS = 600
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_AUTHORITY = re.compile(r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9.-]+))(?::(?P<port>[0-9]{1,5}))?")
_S3_STYLE_ERROR = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>{}</Message></Error>'
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<authority>[^/?#]*)")


def is_loopback_name(host: str) -> bool:
    """`localhost`, a name under `.localhost`, or a loopback address (without brackets or port)."""
    name = host.lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# Every request names one of a few hosts: parsing it (an IP address) was 5% of an SQS call's CPU.
@functools.lru_cache(maxsize=256)
def is_loopback_host(host: str) -> bool:
    """Whether a Host header names a loopback host (any port)."""
    authority = _authority_parts(host)
    return authority is not None and is_loopback_name(authority[0])


def normalized_origin(text: str, *, with_path: bool = False) -> str | None:
    """`scheme://host[:port]` in lower case without a default port, or None when `text` is not an
    http(s) origin. `with_path` accepts a whole URL (a Referer) and keeps only its origin."""
    parts = _origin_parts(text, with_path=with_path)
    if parts is None:
        return None
    scheme, host, port = parts
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")


def _origin_parts(text: str, *, with_path: bool = False) -> tuple[str, str, str] | None:
    lowered = text.strip().lower()
    match = _ORIGIN.match(lowered) if with_path else _ORIGIN.fullmatch(lowered)
    authority = _authority_parts(match["authority"]) if match else None
    if match is None or authority is None:
        return None
    return match["scheme"], *authority


def _authority_parts(authority: str) -> tuple[str, str] | None:
    """(host, port) of `name[:port]` or `[ipv6][:port]`; port is "" when absent."""
    match = _AUTHORITY.fullmatch(authority.strip().lower())
    if match is None:
        return None
    return match["ipv6"] or match["name"], match["port"] or ""


class LoopbackGuard:
    """ASGI middleware: refuses (403) what is not addressed to, and sent from, this machine."""

    def __init__(self, app: ASGIApp, extra_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.extra_origins = frozenset(_configured_origin(origin) for origin in extra_origins)

    def origin_allowed(self, origin: str) -> bool:
        parts = _origin_parts(origin)
        return parts is not None and (is_loopback_name(parts[1]) or normalized_origin(origin) in self.extra_origins)

    def refusal(self, headers: Mapping[str, str]) -> str | None:
        """Why the request is refused, or None when it may pass."""
        host = headers.get("host", "")
        if not is_loopback_host(host):
            return f"Host {host!r} is not a loopback name; this endpoint serves localhost and 127.0.0.1 only"
        if "origin" in headers:
            source: str | None = headers["origin"]
        else:
            source = normalized_origin(headers.get("referer", ""), with_path=True)
        if source is not None:
            if not self.origin_allowed(source):
                return f"origin {source!r} is not loopback; list it in EXTRA_CORS_ALLOWED_ORIGINS to allow it"
        elif headers.get("sec-fetch-site") == "cross-site":
            return "a cross-site browser request without an Origin; only loopback pages may call this endpoint"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            return await self.app(scope, receive, send)
        headers = request_headers(scope)
        reason = self.refusal(headers)
        if reason is not None:
            logger.warning("refused %s %s: %s", scope.get("method", "WEBSOCKET"), scope.get("path"), reason)
            if scope["type"] == "websocket":
                return await _refuse_websocket(scope, receive, send, reason)
            wants_json = _speaks_json(headers, scope["path"])
            return await _send_response(send, 403, *_access_denied(reason, wants_json))
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        origin = headers.get("origin")
        if origin is not None and scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            return await _send_response(send, 204, _preflight_headers(origin, headers), b"")
        return await self.app(scope, receive, _with_cors_headers(send, origin))


def request_headers(scope: Scope) -> dict[str, str]:
    """Header names in lower case; a header sent twice reads as both values joined by a comma,
    so a second `Host` or `Origin` cannot slip past the check."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _configured_origin(origin: str) -> str:
    normalized = normalized_origin(origin)
    if normalized is None:
        raise ValueError(f"EXTRA_CORS_ALLOWED_ORIGINS: {origin!r} is not an origin like https://app.example.com:8443")
    return normalized


def _with_cors_headers(send: Send, origin: str | None) -> Send:
    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if not name.lower().startswith(b"access-control-")
            ]
            if origin is not None:
                headers += [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                    (b"vary", b"Origin"),
                ]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_cors


def _preflight_headers(origin: str, headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    answer = [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
        (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_SECONDS).encode()),
        (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
    ]
    # The origin is trusted, so whatever headers its SDK signs (x-amz-*, amz-sdk-*) may be sent.
    if requested := headers.get("access-control-request-headers"):
        answer.append((b"access-control-allow-headers", requested.encode("latin-1")))
    # Chrome asks before a public page (an origin listed in EXTRA_CORS_ALLOWED_ORIGINS) calls loopback.
    if headers.get("access-control-request-private-network") == "true":
        answer.append((b"access-control-allow-private-network", b"true"))
    return answer


def _speaks_json(headers: Mapping[str, str], path: str) -> bool:
    """The JSON protocol APIs (DynamoDB, SQS, Firehose, Logs) and our own; S3 and the query APIs speak XML."""
    return "x-amz-target" in headers or "json" in headers.get("content-type", "") or path.startswith("/_emulator/")


def _access_denied(reason: str, wants_json: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    if wants_json:
        body = json.dumps({"__type": "AccessDeniedException", "message": reason}).encode()
        return [(b"content-type", b"application/x-amz-json-1.1"), (b"x-amzn-errortype", b"AccessDeniedException")], body
    return [(b"content-type", b"application/xml")], _S3_STYLE_ERROR.format(escape(reason)).encode()


async def _send_response(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, reason: str) -> None:
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        headers, body = _access_denied(reason, wants_json=True)
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008})
