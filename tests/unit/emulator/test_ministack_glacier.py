"""A Glacier object is unreadable until its restore, which takes the emulator's setting."""

import asyncio
import importlib
import time

from emulator.ministack import glacier, ttl
from emulator.ministack.registry import PatchRegistry

RESTORE = b"<RestoreRequest><Days>1</Days></RestoreRequest>"


def s3(method, path, body=b"", headers=None, query=None):
    module = importlib.import_module("ministack.services.s3")
    return asyncio.run(module.handle_request(method, path, headers or {}, body, query or {}))


def test_an_object_stays_in_its_restore_window_for_the_set_delay_then_reads():
    ttl.import_dynamodb()
    registry = PatchRegistry()
    registry.apply(glacier.restore_delay(0.5))
    try:
        assert s3("PUT", "/glacier-contract")[0] == 200
        assert s3("PUT", "/glacier-contract/a", b"x", {"x-amz-storage-class": "GLACIER"})[0] == 200
        status, _headers, body = s3("GET", "/glacier-contract/a")
        assert status == 403 and b"InvalidObjectState" in body
        assert s3("POST", "/glacier-contract/a", RESTORE, query={"restore": [""]})[0] == 202
        assert s3("HEAD", "/glacier-contract/a")[1]["x-amz-restore"] == 'ongoing-request="true"'
        assert s3("GET", "/glacier-contract/a")[0] == 403
        # MiniStack alone takes 2 s.
        deadline = time.monotonic() + 1.5
        while s3("GET", "/glacier-contract/a")[0] != 200:
            assert time.monotonic() < deadline, "the restore did not complete in the set 0.5 s"
            time.sleep(0.05)
        assert s3("HEAD", "/glacier-contract/a")[1]["x-amz-restore"].startswith('ongoing-request="false"')
    finally:
        registry.undo()
