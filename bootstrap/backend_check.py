"""Before a local deploy, teardown, status or logs: is the endpoint this stack's backend?

Two stacks on one machine differ only by their port. A command sent to the wrong one would
deploy over, or tear down, someone else's resources; so the endpoint is asked what it is first:
- the embedded backend serves the identity of its state folder (emulator.identity), which must
  be this stack's;
- LocalStack answers /_localstack/health, and is accepted unless this stack runs embedded;
- nothing answering fails in well under 2 s, instead of the SDK's retries.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bootstrap.local_stack import Backend, StackError
from emulator.identity import IDENTITY_PATH, StateIdentity, read_identity
from emulator.settings import EmulatorSettings

PROBE_TIMEOUT_SECONDS = 1.0
LOCALSTACK_HEALTH_PATH = "/_localstack/health"
# MiniStack answers LocalStack's health path too; only it answers this one.
MINISTACK_HEALTH_PATH = "/_ministack/health"
_MAX_BODY_BYTES = 65536
# Probes go straight to the endpoint: a proxy from the shell would answer for it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Answerer(StrEnum):
    """What answered on an endpoint."""

    NOTHING = "nothing"
    EMBEDDED = "embedded"
    LOCALSTACK = "localstack"
    OTHER = "other"


@dataclass(frozen=True)
class Answer:
    answerer: Answerer
    # In words, for the one-line refusal: "the embedded backend of /x/.state/embedded".
    description: str
    identity: StateIdentity | None = None


def what_answers(endpoint: str) -> Answer:
    endpoint = endpoint.rstrip("/")
    try:
        status, body, server = _get(endpoint + IDENTITY_PATH)
    except (OSError, http.client.HTTPException) as error:
        return Answer(Answerer.NOTHING, _reason(error))
    document = _json_object(body) if status == 200 else None
    if document and isinstance(document.get("identity"), str) and isinstance(document.get("state_dir"), str):
        identity = StateIdentity(document["identity"], document["state_dir"])
        return Answer(Answerer.EMBEDDED, f"the embedded backend of {identity.state_dir}", identity)
    if _answers_json(endpoint + LOCALSTACK_HEALTH_PATH):
        if _answers_json(endpoint + MINISTACK_HEALTH_PATH):
            return Answer(Answerer.OTHER, "a MiniStack that is not this project's embedded backend")
        return Answer(Answerer.LOCALSTACK, "LocalStack")
    return Answer(Answerer.OTHER, f"a server that is no AWS emulator (HTTP {status}{f', {server}' if server else ''})")


def check_backend(endpoint: str, recorded: Backend | None, emulator: EmulatorSettings, command: str) -> None:
    """Refuse, in one line, unless `endpoint` is this stack's backend. `recorded` is the backend
    `make up` started from this state folder; None when it did not, and then LocalStack, or the
    embedded backend of this state folder, will do."""
    answer = what_answers(endpoint)
    if answer.answerer == Answerer.NOTHING:
        raise StackError(f"nothing answers on {endpoint} ({answer.description}): start the stack with `make up`")
    if answer.answerer == Answerer.EMBEDDED and recorded != Backend.LOCALSTACK:
        ours = read_identity(emulator.state_dir)
        if ours and answer.identity and answer.identity.identity == ours.identity:
            return
    if answer.answerer == Answerer.LOCALSTACK and recorded != Backend.EMBEDDED:
        return
    expected = (
        "this stack's LocalStack"
        if recorded == Backend.LOCALSTACK
        else f"this stack's embedded backend ({emulator.state_dir})"
    )
    raise StackError(
        f"refusing to {command}: {endpoint} is answered by {answer.description}, not by {expected}; "
        "set EMULATOR_PORT to this stack's port, or start it with `make up`"
    )


def _get(url: str) -> tuple[int, bytes, str]:
    """(status, body, Server header); raises OSError when nothing answers."""
    try:
        with _OPENER.open(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            return response.status, response.read(_MAX_BODY_BYTES), response.headers.get("Server", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(_MAX_BODY_BYTES), error.headers.get("Server", "")


def _answers_json(url: str) -> bool:
    try:
        status, body, _server = _get(url)
    except (OSError, http.client.HTTPException):
        return False
    return status == 200 and _json_object(body) is not None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _reason(error: Exception) -> str:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"
    return str(getattr(reason, "strerror", None) or reason)
