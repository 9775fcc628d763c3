"""MiniStack's saves, made known: which service's state was written at a stop and which was not.

MiniStack's save_state logs a failed write and carries on, and its save_all skips a service
whose state cannot be read, so a stop looked clean while the files on disk were old. Here
save_state writes the file as MiniStack does (same wrapper, same encoder, written aside and
renamed), and every outcome goes to a `SaveLog`: the API process reports it at shutdown, and
keeps the journal unless every save succeeded.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from emulator.ministack.registry import Originals, Patch, Target

logger = logging.getLogger("emulator.saves")

PERSISTENCE = "ministack.core.persistence"
SAVE_STATE = Target(PERSISTENCE, "save_state")
# app imported save_all by name: its own reference is the one the shutdown calls.
SAVE_ALL = Target("ministack.app", "save_all")


@dataclass
class SaveLog:
    """What the last save_all did. `refusal`, when set, is why nothing may be saved (the state in
    memory holds changes that were refused, after a journal write failed)."""

    saved: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ran: bool = False
    refusal: str | None = None


def write_state(service: str, data: Any, sync: bool) -> None:
    """Write one service's state file as MiniStack's save_state does; raises on failure."""
    write_document(service, encode_state(service, data), sync)


def encode_state(service: str, data: Any) -> bytes:
    """The contents of `service`'s state file, as MiniStack's save_state writes them."""
    persistence = importlib.import_module(PERSISTENCE)
    document = {"__ministack_format__": persistence._state_format_version(service), "payload": data}
    return encode_json(document)


def write_document(service: str, encoded: bytes, sync: bool) -> None:
    """Write a state file's contents aside, then rename them into place; raises on failure."""
    persistence = importlib.import_module(PERSISTENCE)
    os.makedirs(persistence.STATE_DIR, exist_ok=True)
    path = os.path.join(persistence.STATE_DIR, f"{service}.json")
    temporary = path + ".tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(encoded)
            if sync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    if sync:
        directory = os.open(persistence.STATE_DIR, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def encode_json(value: Any) -> bytes:
    """The JSON MiniStack's json.dump writes, by orjson: a tenth of the time for a large table
    (a stop waits for it). What orjson does not take goes to the json module, as MiniStack.
    `value` may hold orjson Fragments: JSON encoded already (the stream records)."""
    ministack_default: Callable[[Any], Any] = importlib.import_module(PERSISTENCE)._json_default

    def default(value: Any) -> Any:
        # Dict subclasses come here (OPT_PASSTHROUGH_SUBCLASS): MiniStack's scoped stores, which
        # its encoder writes in its own form, and table items, a defaultdict written as a dict.
        return dict(value) if type(value) is defaultdict else ministack_default(value)

    def json_default(value: Any) -> Any:
        return json.loads(value.contents) if type(value) is orjson.Fragment else ministack_default(value)

    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value, default=json_default).encode()


def reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def saves_known(log: SaveLog, sync: bool, live_states: dict[str, Callable[[], Any]] | None = None) -> Patch:
    """`live_states`: services whose state is read from the live objects (encoded at once)
    instead of from MiniStack's copy of them."""
    live = live_states or {}

    def build(originals: Originals) -> dict[Target, Any]:
        def save_state(service: str, data: Any) -> None:
            if not importlib.import_module(PERSISTENCE).PERSIST_STATE:
                return
            try:
                write_state(service, data, sync)
            except (OSError, TypeError, ValueError) as error:
                logger.error("could not save the %s state: %s", service, reason(error))
                log.failed[service] = reason(error)
            else:
                log.saved.append(service)

        def save_all(services: dict[str, Any]) -> None:
            log.saved, log.failed, log.ran = [], {}, True
            if log.refusal is not None:
                logger.error("nothing saved: %s", log.refusal)
                log.failed = dict.fromkeys(services, log.refusal)
                return
            for name, get_state in services.items():
                try:
                    state = live[name]() if name in live else get_state()
                except Exception as error:
                    logger.error("could not read the %s state to save it: %s", name, error)
                    log.failed[name] = f"its state could not be read: {error}"
                    continue
                # A service with nothing to save keeps its file (as MiniStack does).
                if state is not None:
                    save_state(name, state)

        return {SAVE_STATE: save_state, SAVE_ALL: save_all}

    return Patch(
        name="persistence-saves-known",
        summary="MiniStack's state saves record what was written and what failed, instead of logging and going on",
        targets={
            SAVE_STATE: "58a9551109738f64a9a7c71d4abfb560a1a17894bbee96a260ee9226af5ac3cc",
            SAVE_ALL: "ea253a04fd05447b9a3b6807a6fca0772d2783f3ce482fd68897bd13445b7c4d",
        },
        build=build,
    )
