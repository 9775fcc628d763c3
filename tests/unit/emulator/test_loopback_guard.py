"""The loopback guard, called in-process with the scopes a browser, an SDK or an attacker would make."""

import asyncio
import json

import pytest

from emulator.loopback_guard import LoopbackGuard
from emulator.settings import EmulatorSettings
from tests.unit.emulator.asgi import call

SCAN = [(b"x-amz-target", b"DynamoDB_20120810.Scan"), (b"content-type", b"application/x-amz-json-1.0")]


class FakeMiniStack:
    """Answers 200 with MiniStack's own wildcard CORS header, and remembers what reached it."""

    def __init__(self):
        self.seen = []

    async def __call__(self, scope, receive, send):
        self.seen.append(scope)
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-amz-json-1.0"), (b"Access-Control-Allow-Origin", b"*")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"Items": [{"secret": {"S": "reading"}}]}'})


@pytest.fixture
def ministack():
    return FakeMiniStack()


@pytest.fixture
def guard(ministack):
    return LoopbackGuard(ministack)


def origin(value):
    return [(b"origin", value.encode())]


def test_an_sdk_request_without_origin_passes_and_loses_ministacks_wildcard_cors(guard, ministack):
    status, headers, body = call(guard, headers=SCAN)
    assert status == 200 and b"reading" in body
    assert len(ministack.seen) == 1
    assert not any(name.startswith("access-control-") for name in headers)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:4566",
        "127.0.0.1",
        "127.8.9.10:80",
        "localhost:4566",
        "LOCALHOST",
        "localhost.",
        "[::1]:4566",
        "[::1]",
        "dev-archive.localhost:4566",
    ],
)
def test_every_loopback_host_passes(guard, host):
    assert call(guard, host=host, headers=SCAN)[0] == 200


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:4566",
        "localhost.attacker.example",
        "127.0.0.1.nip.io:4566",
        "attacker.example@127.0.0.1",
        "0.0.0.0:4566",
        "192.168.1.10:4566",
        "",
        None,
    ],
)
def test_a_dns_rebinding_host_is_refused_before_reaching_ministack(guard, ministack, host):
    status, headers, body = call(guard, host=host, headers=SCAN)
    assert status == 403
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    error = json.loads(body)
    assert error["__type"] == "AccessDeniedException" and "not a loopback name" in error["message"]
    assert b"\n" not in body
    assert ministack.seen == []


def test_a_second_host_header_cannot_slip_past(guard, ministack):
    status, _, _ = call(guard, headers=[(b"host", b"attacker.example"), *SCAN])
    assert status == 403 and ministack.seen == []


def test_a_cross_origin_scan_is_refused_and_reads_nothing(guard, ministack):
    status, headers, body = call(guard, headers=SCAN + origin("https://attacker.example"))
    assert status == 403
    assert b"reading" not in body and "access-control-allow-origin" not in headers
    assert "EXTRA_CORS_ALLOWED_ORIGINS" in json.loads(body)["message"]
    assert ministack.seen == []


@pytest.mark.parametrize(
    "page", ["http://localhost:3000", "http://127.0.0.1:5173", "https://[::1]:8443", "http://app.localhost"]
)
def test_a_loopback_origin_gets_its_own_origin_echoed_never_a_wildcard(guard, page):
    status, headers, body = call(guard, headers=SCAN + origin(page))
    assert status == 200 and b"reading" in body
    assert headers["access-control-allow-origin"] == page
    assert "x-amzn-requestid" in headers["access-control-expose-headers"]
    assert headers["vary"] == "Origin"


@pytest.mark.parametrize(
    "page", ["null", "file://", "http://localhost.attacker.example", "ftp://localhost", "localhost"]
)
def test_an_origin_that_is_not_a_loopback_web_origin_is_refused(guard, page):
    assert call(guard, headers=SCAN + origin(page))[0] == 403


def test_a_preflight_from_a_loopback_origin_is_answered_without_ministack(guard, ministack):
    status, headers, _ = call(
        guard,
        method="OPTIONS",
        headers=[
            *origin("http://localhost:3000"),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"authorization,content-type,x-amz-date,x-amz-target"),
        ],
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "authorization,content-type,x-amz-date,x-amz-target"
    assert ministack.seen == []


def test_a_preflight_from_a_foreign_origin_is_refused(guard, ministack):
    headers = [*origin("https://attacker.example"), (b"access-control-request-method", b"POST")]
    assert call(guard, method="OPTIONS", headers=headers)[0] == 403
    assert ministack.seen == []


def test_an_options_request_that_is_not_a_preflight_reaches_ministack(guard, ministack):
    assert call(guard, method="OPTIONS", path="/dev-archive")[0] == 200
    assert len(ministack.seen) == 1


def test_a_configured_extra_origin_is_allowed_and_others_still_refused(ministack):
    guard = LoopbackGuard(ministack, ["https://Dashboard.example.com:443", "http://10.0.0.5:8080"])
    status, headers, _ = call(guard, headers=SCAN + origin("https://dashboard.example.com"))
    assert status == 200 and headers["access-control-allow-origin"] == "https://dashboard.example.com"
    assert call(guard, headers=SCAN + origin("http://10.0.0.5:8080"))[0] == 200
    assert call(guard, headers=SCAN + origin("http://10.0.0.5:8081"))[0] == 403
    assert call(guard, headers=SCAN + origin("http://dashboard.example.com"))[0] == 403


def test_a_chrome_private_network_preflight_from_a_configured_origin_is_allowed(ministack):
    guard = LoopbackGuard(ministack, ["https://dashboard.example.com"])
    status, headers, _ = call(
        guard,
        method="OPTIONS",
        headers=[
            *origin("https://dashboard.example.com"),
            (b"access-control-request-method", b"GET"),
            (b"access-control-request-private-network", b"true"),
        ],
    )
    assert status == 204 and headers["access-control-allow-private-network"] == "true"


def test_a_misconfigured_extra_origin_stops_the_server_from_starting(ministack):
    with pytest.raises(ValueError, match=r"dashboard\.example\.com/app"):
        LoopbackGuard(ministack, ["https://dashboard.example.com/app"])


def test_extra_origins_are_read_from_the_environment_like_localstacks():
    env = {"EXTRA_CORS_ALLOWED_ORIGINS": "http://a.example:3000, https://b.example,,"}
    assert EmulatorSettings.from_env(env).extra_cors_allowed_origins == ("http://a.example:3000", "https://b.example")
    assert EmulatorSettings.from_env({}).extra_cors_allowed_origins == ()


def test_a_cross_site_browser_request_without_origin_is_refused(guard, ministack):
    # An <img src="http://127.0.0.1:4566/?Action=PurgeQueue&..."> sends no Origin, but says where it is from.
    status, _, body = call(guard, method="GET", path="/", headers=[(b"sec-fetch-site", b"cross-site")])
    assert status == 403 and body.startswith(b"<?xml") and b"<Code>AccessDenied</Code>" in body
    assert ministack.seen == []


@pytest.mark.parametrize("site", ["none", "same-origin", "same-site"])
def test_a_typed_url_or_same_site_browser_request_passes(guard, site):
    assert call(guard, method="GET", path="/_emulator/calls", headers=[(b"sec-fetch-site", site.encode())])[0] == 200


def test_a_foreign_referer_counts_as_the_origin_when_there_is_none(guard, ministack):
    referer = [(b"referer", b"https://attacker.example/page?x=1")]
    assert call(guard, method="GET", path="/dev-archive", headers=referer)[0] == 403
    assert (
        call(guard, method="GET", path="/dev-archive", headers=[(b"referer", b"http://localhost:3000/app")])[0] == 200
    )


def test_an_s3_style_request_gets_its_refusal_in_xml_on_one_line(guard):
    status, headers, body = call(guard, method="GET", path="/dev-archive", headers=origin("https://attacker.example"))
    assert status == 403 and headers["content-type"] == "application/xml"
    assert b"<Code>AccessDenied</Code>" in body and b"\n" not in body


def test_a_websocket_from_a_foreign_origin_is_refused_with_403(guard, ministack):
    extensions = {"websocket.http.response": {}}
    status, _, body = call(
        guard, scope_type="websocket", headers=origin("https://attacker.example"), extensions=extensions
    )
    assert status == 403 and b"AccessDenied" in body
    assert ministack.seen == []


def test_a_websocket_is_closed_before_accepting_when_the_server_cannot_send_a_response(guard, ministack):
    assert call(guard, scope_type="websocket", host="attacker.example")[0] == "websocket.close"
    assert ministack.seen == []


def test_a_websocket_from_a_loopback_page_is_accepted(guard, ministack):
    assert call(guard, scope_type="websocket", headers=origin("http://localhost:3000"))[0] == "websocket.accept"


def test_lifespan_events_pass_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(LoopbackGuard(app)({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]
