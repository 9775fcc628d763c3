"""GET /_emulator/patches lists the MiniStack patches applied; every other request goes to MiniStack."""

import asyncio
import json

from emulator.api_server import PATCHES_PATH, PatchListing

APPLIED = [{"name": "sqs-receive-without-full-scans", "summary": "...", "targets": ["ministack.services.sqs.x"]}]


def serve(path):
    passed_on, sent = [], []

    async def ministack(scope, receive, send):
        passed_on.append(scope["path"])

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    asyncio.run(PatchListing(ministack, APPLIED)(scope, receive, send))
    return passed_on, sent


def test_the_patch_list_is_served_as_json():
    passed_on, [start, body] = serve(PATCHES_PATH)
    assert passed_on == [] and start["status"] == 200
    assert (b"content-type", b"application/json") in start["headers"]
    assert json.loads(body["body"]) == {"patches": APPLIED}


def test_other_paths_reach_ministack():
    assert serve("/_ministack/health") == (["/_ministack/health"], [])
