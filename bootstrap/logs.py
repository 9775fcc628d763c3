"""`make logs`: the functions' CloudWatch logs as one line per event, like `aws logs tail --follow`
(an AWS CLI v2 command): time (UTC), function, level, message.

The functions log one JSON object per line (Powertools: `level`, `message`, then the details);
Lambda's own START, END and REPORT lines carry no level. A REPORT line's `Max Memory Used: 0 MB`
is a runtime that could not measure the memory, not a measurement, and is left out.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from bootstrap.stack import FunctionRole
from env_settings.reader import SettingError

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_UNMEASURED_MEMORY = re.compile(r"\s*Max Memory Used: 0 MB")
NO_LEVEL = "-"
# Keys the line shows already, and Powertools' Lambda context, which is the same on every line.
_SHOWN_OR_CONTEXT = frozenset(
    {
        "level",
        "message",
        "timestamp",
        "service",
        "location",
        "sampling_rate",
        "xray_trace_id",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
    }
)
POLL_SECONDS = 1.0


def log_groups(functions: Mapping[str, str], only: FunctionRole | None = None) -> dict[str, str]:
    """function role -> its log group, for every function or only `only`. `functions`: role ->
    function name, as the stack's outputs give them (outputs.json's "functions")."""
    return {role: f"/aws/lambda/{name}" for role, name in functions.items() if only in (None, role)}


def parse_since(text: str) -> float:
    """`30s`, `10m`, `2h`, `1d`, or plain seconds."""
    match = _SINCE.match(text)
    if not match:
        raise SettingError(f"SINCE={text!r} is not a duration: use 30s, 10m, 2h or 1d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_event(function: str, event: Mapping) -> str:
    stamp = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    level, message = NO_LEVEL, str(event["message"]).rstrip()
    try:
        document = json.loads(message)
    except ValueError:
        document = None
    if isinstance(document, dict) and "message" in document:
        level = str(document.get("level", NO_LEVEL)).upper()
        details = {key: value for key, value in document.items() if key not in _SHOWN_OR_CONTEXT}
        message = str(document["message"]) + (f" {json.dumps(details, default=str)}" if details else "")
    elif message.startswith("REPORT "):
        message = _UNMEASURED_MEMORY.sub("", message)
    return f"{stamp}  {function:<8} {level:<7} {message.replace(chr(9), '  ')}"


def follow_logs(
    logs,
    groups: Mapping[str, str],
    since_seconds: float,
    emit: Callable[[str], None] = print,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Print each function's events from `since_seconds` ago, in time order per poll, then the new
    ones as they come. `groups`: function (ingest, history, archive) -> its log group."""
    start = int((time.time() - since_seconds) * 1000)
    seen: set[str] = set()
    while True:
        fresh = []
        for function, group in groups.items():
            try:
                for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start):
                    for event in page.get("events", []):
                        # Not every emulator sets eventId; stream, time and text identify an event too.
                        identity = (
                            event.get("eventId")
                            or f"{event.get('logStreamName')}|{event['timestamp']}|{event['message']}"
                        )
                        if identity not in seen:
                            seen.add(identity)
                            fresh.append((event["timestamp"], function, event))
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
        for _stamp, function, event in sorted(fresh, key=lambda entry: entry[0]):
            emit(format_event(function, event))
        if not keep_going():
            return
        time.sleep(POLL_SECONDS)
