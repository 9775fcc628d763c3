"""Calling an ASGI app in-process with a crafted scope, as hypercorn would."""

import asyncio


def call(
    app, *, host="127.0.0.1:4566", method="POST", path="/", headers=(), body=b"", scope_type="http", extensions=None
):
    """Runs one request through `app`; returns (status, headers as a dict, body) as the client sees them."""
    scope = {
        "type": scope_type,
        "method": method,
        "path": path,
        "headers": ([(b"host", host.encode())] if host is not None else []) + list(headers),
    }
    if extensions is not None:
        scope["extensions"] = extensions
    incoming = [{"type": "websocket.connect"} if scope_type == "websocket" else {"type": "http.request", "body": body}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next((m for m in sent if m["type"] in {"http.response.start", "websocket.http.response.start"}), None)
    if start is None:
        return sent[0]["type"], {}, b""
    answer = b"".join(m.get("body", b"") for m in sent if m["type"].endswith("response.body"))
    return start["status"], {name.decode().lower(): value.decode() for name, value in start["headers"]}, answer
