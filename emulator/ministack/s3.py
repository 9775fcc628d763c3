"""S3 objects whose file could not be written are known, so the write is answered 503 (or a
Firehose buffer is kept for another try) instead of 200.

MiniStack writes each object to disk (S3_PERSIST) after it is in memory, and when that write
fails it logs "Failed to persist S3 object" and answers 200: the object is then gone after the
next start. `_persist_object` here writes the same files in the same order; a failure is
logged as before and added to the `write_failures()` of the request or delivery in progress.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from emulator.ministack.registry import Originals, Patch, Target
from emulator.ministack.saves import reason

logger = logging.getLogger("emulator.s3")

S3 = "ministack.services.s3"
PERSIST_OBJECT = Target(S3, "_persist_object")

_failures: ContextVar[list[str] | None] = ContextVar("s3_write_failures", default=None)


@contextmanager
def write_failures() -> Iterator[list[str]]:
    """The S3 object writes that failed within the block, in this task or thread (and in the
    tasks it starts, which copy its context)."""
    failures: list[str] = []
    token = _failures.set(failures)
    try:
        yield failures
    finally:
        _failures.reset(token)


def _write_object(s3: Any, bucket: str, key: str, obj: Any) -> None:
    path = s3._object_disk_path(bucket, key)
    if path is None:
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if isinstance(obj, dict):
        # A record rebuilt from a version entry may carry no body: the data file stands.
        data = obj.get("body")
        if data is not None:
            s3._atomic_write(path, data)
        meta = {**s3._object_meta_from_record(obj), **s3._key_history_meta(bucket, key), "key": key}
        s3._atomic_write(path + ".meta.json", json.dumps(meta), text=True)
        # MiniStack reads the body from disk from now on.
        obj["body"] = None
    else:
        s3._atomic_write(path, obj)
        s3._atomic_write(path + ".meta.json", json.dumps({"key": key}), text=True)
    s3._remove_key_files(s3._other_key_disk_path(os.path.join(s3.DATA_DIR, s3.get_account_id(), bucket), key, path))


def _known_object_writes(originals: Originals) -> dict[Target, Any]:
    def persist_object(bucket: str, key: str, obj: Any) -> None:
        try:
            _write_object(importlib.import_module(S3), bucket, key, obj)
        except Exception as error:
            logger.error("could not write S3 object %s/%s: %s", bucket, key, reason(error))
            failures = _failures.get()
            if failures is not None:
                failures.append(f"S3 object {bucket}/{key} not written: {reason(error)}")

    return {PERSIST_OBJECT: persist_object}


OBJECT_WRITES_KNOWN = Patch(
    name="s3-object-writes-known",
    summary="An S3 object whose file could not be written fails its request (503) instead of answering 200",
    targets={PERSIST_OBJECT: "cb32b6ae8706bef8031f052863bdc95aaa4cb5f6f5e4cac35e50a5f283974c71"},
    build=_known_object_writes,
)
