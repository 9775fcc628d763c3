"""DynamoDB's own wording where MiniStack's differs: a missing stream, and a transaction's failed condition."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from emulator.ministack.registry import Originals, Patch, Target

DYNAMODB = "ministack.services.dynamodb"
STREAMS = "ministack.services.dynamodb_streams"
DESCRIBE_STREAM = Target(STREAMS, "_describe_stream")
GET_SHARD_ITERATOR = Target(STREAMS, "_get_shard_iterator")
TRANSACT_CANCEL_RESPONSE = Target(DYNAMODB, "_transact_cancel_response")
MINISTACK_STREAM_NOT_FOUND = "Stream not found: "
# AWS's CancellationReasons message for a failed condition ends with a full stop (DynamoDB Local, AWS's build)
CONDITION_FAILED_REASON = "The conditional request failed."


def stream_not_found(arn: str) -> str:
    return f"Requested resource not found: Stream: {arn} not found"


def _reworded_body(response: Any, reword: Callable[[dict[str, Any]], bool]) -> Any:
    status, headers, body = response
    if status == 200:
        return response
    try:
        payload = json.loads(body)
    except ValueError:
        return response
    return (status, headers, json.dumps(payload)) if reword(payload) else response


def _reworded(originals: Originals) -> dict[Target, Any]:
    def missing_stream(payload: dict[str, Any]) -> bool:
        message = payload.get("message") or payload.get("Message") or ""
        if not message.startswith(MINISTACK_STREAM_NOT_FOUND):
            return False
        payload.pop("Message", None)
        payload["message"] = stream_not_found(message.removeprefix(MINISTACK_STREAM_NOT_FOUND))
        return True

    def condition_reasons(payload: dict[str, Any]) -> bool:
        reasons = [r for r in payload.get("CancellationReasons") or [] if r.get("Code") == "ConditionalCheckFailed"]
        for reason in reasons:
            reason["Message"] = CONDITION_FAILED_REASON
        return bool(reasons)

    def streams_call(target: Target) -> Callable[[Any], Any]:
        return lambda data: _reworded_body(originals[target](data), missing_stream)

    return {
        DESCRIBE_STREAM: streams_call(DESCRIBE_STREAM),
        GET_SHARD_ITERATOR: streams_call(GET_SHARD_ITERATOR),
        TRANSACT_CANCEL_RESPONSE: lambda *args: _reworded_body(
            originals[TRANSACT_CANCEL_RESPONSE](*args), condition_reasons
        ),
    }


AWS_WORDING = Patch(
    name="dynamodb-aws-wording",
    summary="A missing stream and a transaction's failed condition are worded as AWS words them",
    targets={
        DESCRIBE_STREAM: "8971045db3134ac91c65d4100e2c748717ee62ffb1c72f34ccb9edf4867f45d3",
        GET_SHARD_ITERATOR: "cd697f737ba220fbae45bc86a5df52f8300880c0eb61b3c21639efeb738367be",
        TRANSACT_CANCEL_RESPONSE: "33871b44c4b80386c77f20c72da2e1c1cd6d53ffb2545e424b1e6b07e32ef942",
    },
    build=_reworded,
)
