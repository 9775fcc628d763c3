"""MiniStack's event source mapping poller never starts: emulator.esm runs the mappings."""

import importlib
import threading

from emulator.ministack import mappings, ttl
from emulator.ministack.registry import PatchRegistry


def test_creating_or_restoring_a_mapping_starts_no_poller_thread():
    ttl.import_dynamodb()
    lambda_svc = importlib.import_module("ministack.services.lambda_svc")
    registry = PatchRegistry()
    registry.apply(mappings.POLLER_OFF)
    try:
        threads = set(threading.enumerate())
        lambda_svc._ensure_poller()
        assert set(threading.enumerate()) == threads and not lambda_svc._poller_started
    finally:
        registry.undo()
