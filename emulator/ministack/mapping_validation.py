"""CreateEventSourceMapping and UpdateEventSourceMapping refuse what AWS refuses, with AWS's error
type and text, so a stack that deploys here deploys on AWS (and on LocalStack) too.

MiniStack stored any value. The messages are AWS's where it has been recorded: LocalStack's
snapshots recorded against AWS (`tests/aws/services/lambda_/**/*.snapshot.json`: the batching
window, StartingPosition missing, not in the enum, AT_TIMESTAMP on a DynamoDB stream, the
`1 validation error detected` shape of range and enum errors) or AWS's answer as users report it
(the queue's visibility timeout, StartingPosition on SQS). Where AWS's exact text was not found
(stream-only parameters on SQS, a record age between 0 and 59) the message follows the recorded
"Unsupported DestinationConfig parameter for given event source mapping type." form.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from emulator.ministack.registry import Originals, Patch, Target

LAMBDA = "ministack.services.lambda_svc"
CREATE_ESM = Target(LAMBDA, "_create_esm")
UPDATE_ESM = Target(LAMBDA, "_update_esm")
RESOLVE_FUNCTION = Target(LAMBDA, "_resolve_existing_esm_function")
FUNCTION_CONFIG = Target(LAMBDA, "_get_func_record_for_qualifier")
QUEUE_BY_ARN = Target("ministack.services.sqs", "_queue_by_arn")
ERROR_RESPONSE = Target("ministack.core.responses", "error_response_json")

# Lambda's defaults when a request leaves them out.
DEFAULT_FUNCTION_TIMEOUT = 3
DEFAULT_QUEUE_VISIBILITY = 30
# Over this, an SQS mapping needs a batching window.
SQS_BATCH_WITHOUT_WINDOW = 10
STREAM_ONLY = (
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
)
# MaximumRecordAgeInSeconds: -1 (no limit) or at least this.
MIN_RECORD_AGE = 60


class ErrorCode(StrEnum):
    INVALID_PARAMETER = "InvalidParameterValueException"
    VALIDATION = "ValidationException"


class SourceKind(StrEnum):
    SQS = "sqs"
    DYNAMODB = "dynamodb"
    KINESIS = "kinesis"


class StartingPosition(StrEnum):
    LATEST = "LATEST"
    AT_TIMESTAMP = "AT_TIMESTAMP"
    TRIM_HORIZON = "TRIM_HORIZON"


class FunctionResponseType(StrEnum):
    REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


@dataclass(frozen=True)
class Refusal:
    code: ErrorCode
    message: str


# (request member, API field name, minimum, maximum), as in Lambda's API model.
RANGES = (
    ("BatchSize", "batchSize", 1, 10_000),
    ("MaximumBatchingWindowInSeconds", "maximumBatchingWindowInSeconds", 0, 300),
    ("MaximumRetryAttempts", "maximumRetryAttempts", -1, 10_000),
    ("MaximumRecordAgeInSeconds", "maximumRecordAgeInSeconds", -1, 604_800),
    ("ParallelizationFactor", "parallelizationFactor", 1, 10),
)


def _validation(message: str) -> Refusal:
    return Refusal(ErrorCode.VALIDATION, f"1 validation error detected: {message}")


def refusal(
    request: Mapping[str, Any],
    source_arn: str,
    *,
    creating: bool,
    function_timeout: int | None,
    queue_visibility: int | None,
) -> Refusal | None:
    """Why AWS refuses this mapping, or None. `request` is the mapping as it would be (an update's
    fields over the stored mapping); `function_timeout` and `queue_visibility` are None when the
    function or queue is not found (MiniStack's own handler reports those)."""
    kind = _source_kind(source_arn)
    if kind is None:
        return None
    if creating:
        position = request.get("StartingPosition")
        if kind == SourceKind.SQS and position is not None:
            return Refusal(ErrorCode.INVALID_PARAMETER, "StartingPosition is not valid for SQS event sources.")
        if kind != SourceKind.SQS:
            if not position:
                return Refusal(
                    ErrorCode.INVALID_PARAMETER,
                    "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
                    "Member must not be null.",
                )
            if position not in set(StartingPosition):
                return _validation(
                    f"Value '{position}' at 'startingPosition' failed to satisfy constraint: Member must satisfy "
                    f"enum value set: [{', '.join(StartingPosition)}]"
                )
            if kind == SourceKind.DYNAMODB and position == StartingPosition.AT_TIMESTAMP:
                return Refusal(ErrorCode.INVALID_PARAMETER, f"Unsupported starting position for arn type: {source_arn}")
    for member, field, low, high in RANGES:
        value = request.get(member)
        if value is None:
            continue
        if value < low:
            return _validation(
                f"Value '{value}' at '{field}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
        if value > high:
            return _validation(
                f"Value '{value}' at '{field}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )
    types = request.get("FunctionResponseTypes") or []
    if any(value not in set(FunctionResponseType) for value in types):
        return _validation(
            f"Value '[{', '.join(map(str, types))}]' at 'functionResponseTypes' failed to satisfy constraint: "
            f"Member must satisfy constraint: [Member must satisfy enum value set: "
            f"[{', '.join(FunctionResponseType)}], Member must not be null]"
        )
    if kind == SourceKind.SQS:
        for member in STREAM_ONLY:
            if request.get(member) is not None:
                return Refusal(
                    ErrorCode.INVALID_PARAMETER, f"Unsupported {member} parameter for given event source mapping type."
                )
        batch = request.get("BatchSize") or SQS_BATCH_WITHOUT_WINDOW
        if batch > SQS_BATCH_WITHOUT_WINDOW and not request.get("MaximumBatchingWindowInSeconds"):
            return Refusal(
                ErrorCode.INVALID_PARAMETER,
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
            )
        if function_timeout is not None and queue_visibility is not None and queue_visibility < function_timeout:
            return Refusal(
                ErrorCode.INVALID_PARAMETER,
                f"Queue visibility timeout: {queue_visibility} seconds is less than Function timeout: "
                f"{function_timeout} seconds",
            )
    else:
        age = request.get("MaximumRecordAgeInSeconds")
        if age is not None and -1 < age < MIN_RECORD_AGE:
            return Refusal(
                ErrorCode.INVALID_PARAMETER,
                f"Unsupported MaximumRecordAgeInSeconds parameter for given event source mapping type: {age} "
                f"(-1, or {MIN_RECORD_AGE} to 604800)",
            )
    return None


def _source_kind(source_arn: str) -> SourceKind | None:
    parts = source_arn.split(":")
    try:
        return SourceKind(parts[2]) if len(parts) > 2 else None
    except ValueError:
        return None


def _module(name: str) -> Any:
    return importlib.import_module(name)


def _function_timeout(function_ref: str) -> int | None:
    lambda_svc = _module(LAMBDA)
    name, qualifier, error = lambda_svc._resolve_existing_esm_function(function_ref)
    if error is not None:
        return None
    _record, config = lambda_svc._get_func_record_for_qualifier(name, qualifier)
    return int((config or {}).get("Timeout", DEFAULT_FUNCTION_TIMEOUT))


def _queue_visibility(source_arn: str) -> int | None:
    queue = _module("ministack.services.sqs")._queue_by_arn(source_arn)
    if queue is None:
        return None
    return int(queue.get("attributes", {}).get("VisibilityTimeout", DEFAULT_QUEUE_VISIBILITY))


def stored_refusal(request: Mapping[str, Any], source_arn: str, function_ref: str, *, creating: bool) -> Refusal | None:
    """`refusal`, with the function's timeout and the queue's visibility timeout as MiniStack holds
    them (CloudFormation's mapping handler checks through it too)."""
    sqs = _source_kind(source_arn) == SourceKind.SQS
    return refusal(
        request,
        source_arn,
        creating=creating,
        function_timeout=_function_timeout(function_ref) if sqs else None,
        queue_visibility=_queue_visibility(source_arn) if sqs else None,
    )


def _refused(request: Mapping[str, Any], source_arn: str, function_ref: str, *, creating: bool) -> Any:
    """MiniStack's error response for AWS's refusal, or None when AWS would accept it."""
    found = stored_refusal(request, source_arn, function_ref, creating=creating)
    if found is None:
        return None
    return _module("ministack.core.responses").error_response_json(found.code.value, found.message, 400)


def _validated(originals: Originals) -> dict[Target, Any]:
    create, update = originals[CREATE_ESM], originals[UPDATE_ESM]

    def create_esm(data: dict[str, Any]) -> Any:
        source_arn = str(data.get("EventSourceArn", ""))
        refused = _refused(data, source_arn, str(data.get("FunctionName", "")), creating=True)
        return refused if refused is not None else create(data)

    def update_esm(esm_id: str, data: dict[str, Any]) -> Any:
        stored = _module(LAMBDA)._esms.get(esm_id)
        if stored is not None:
            merged = {**stored, **data}
            function_ref = str(data.get("FunctionName") or stored.get("FunctionArn", ""))
            refused = _refused(merged, str(stored.get("EventSourceArn", "")), function_ref, creating=False)
            if refused is not None:
                return refused
        return update(esm_id, data)

    return {CREATE_ESM: create_esm, UPDATE_ESM: update_esm}


MAPPINGS_VALIDATED = Patch(
    name="lambda-esm-validation",
    summary="Create/UpdateEventSourceMapping refuse what AWS refuses (ranges, batching window, "
    "StartingPosition, visibility timeout under the function timeout), with AWS's errors",
    targets={
        CREATE_ESM: "d351521bb6cdd30f024e04df12e2d607b091241cc46538f91b6ce693f5e9f2be",
        UPDATE_ESM: "1b7e0409cb6593c28bb2f07d88164708766a882863f761fd7a47d2cb6f9365e1",
    },
    build=_validated,
    relies_on={
        RESOLVE_FUNCTION: "10dd4fee905574a815b64a1b6b261e1b66cad399b96272da7cc7774d7b4fdd10",
        FUNCTION_CONFIG: "a86e90478088123dc1675e52d0c9ac692f6c91cbadebd1d7eac46575f627c91c",
        QUEUE_BY_ARN: "b4981875c8186c194675ead2fe848fb6902c7a15e0f31cef586da2d4d665189e",
        ERROR_RESPONSE: "37b83f60219dea513f4cc5820dbdda1f29a04112013fd70151cc8de0c155f2ba",
    },
)
