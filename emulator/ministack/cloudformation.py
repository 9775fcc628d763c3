"""CloudFormation's resources as AWS provisions them, where the pipeline's template depends on it.

MiniStack 1.5.33 provisions each resource type through the handlers in its
`_RESOURCE_HANDLERS` table; four of them differed from AWS in what the stack relies on:
- AWS::DynamoDB::Table ignored `TimeToLiveSpecification` and `PointInTimeRecoverySpecification`
  (TTL stayed DISABLED, so nothing ever expired), took over a table of the same name that
  already existed (AWS fails the resource: "... already exists"), and a deleted table's TTL and
  backup settings stayed behind for the next table of that name;
- AWS::KinesisFirehose::DeliveryStream kept `BufferingHints` given through a Number parameter as
  strings (a Ref yields a string; AWS converts it to the property's integer type);
- AWS::Lambda::Function with `Code.S3Bucket/S3Key` naming no object was created without code;
  AWS fails the resource with Lambda's "Error occurred while GetObject. S3 Error Code: NoSuchKey";
- AWS::Lambda::EventSourceMapping took any value (the API's checks, `mapping_validation`, were
  not on this path) and kept numbers given through a parameter as strings: a mapping AWS refuses
  now fails the resource with Lambda's message, and its numbers are integers.
Each handler is wrapped: the original does its work, the wrapper adds what AWS does.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from emulator.ministack import mapping_validation
from emulator.ministack.registry import Originals, Patch, Target

PROVISIONERS = "ministack.services.cloudformation.provisioners"
HANDLERS = "_RESOURCE_HANDLERS"
TABLE = "AWS::DynamoDB::Table"
DELIVERY_STREAM = "AWS::KinesisFirehose::DeliveryStream"
FUNCTION = "AWS::Lambda::Function"
MAPPING = "AWS::Lambda::EventSourceMapping"
TABLE_HANDLERS = Target(PROVISIONERS, HANDLERS, TABLE)
DELIVERY_STREAM_HANDLERS = Target(PROVISIONERS, HANDLERS, DELIVERY_STREAM)
FUNCTION_HANDLERS = Target(PROVISIONERS, HANDLERS, FUNCTION)
MAPPING_HANDLERS = Target(PROVISIONERS, HANDLERS, MAPPING)
# The mapping properties the Lambda API types as integers.
MAPPING_NUMBERS = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "ParallelizationFactor",
)
# The service functions the wrappers call, as DynamoDB's and Lambda's APIs do.
UPDATE_TTL = Target("ministack.services.dynamodb", "_update_ttl")
UPDATE_BACKUPS = Target("ministack.services.dynamodb", "_update_continuous_backups")
FETCH_CODE = Target("ministack.services.lambda_svc", "_fetch_code_from_s3")

Handlers = Mapping[str, Any]
Props = dict[str, Any]


def _dynamodb() -> Any:
    return importlib.import_module("ministack.services.dynamodb")


def _call(service_function: Callable[[Props], tuple[int, Any, Any]], data: Props, what: str) -> None:
    status, _headers, body = service_function(data)
    if status >= 400:
        raise ValueError(f"{what} failed: {body!r}")


def _apply_table_settings(name: str, old: Props, new: Props) -> None:
    """TTL and point-in-time recovery as CloudFormation applies them: through UpdateTimeToLive
    and UpdateContinuousBackups, when the property differs from what the stack had."""
    dynamodb = _dynamodb()
    old_ttl, new_ttl = old.get("TimeToLiveSpecification"), new.get("TimeToLiveSpecification")
    if old_ttl != new_ttl:
        if new_ttl and new_ttl.get("Enabled"):
            spec = {"AttributeName": new_ttl.get("AttributeName", ""), "Enabled": True}
        elif old_ttl and old_ttl.get("Enabled"):
            spec = {"AttributeName": old_ttl.get("AttributeName", ""), "Enabled": False}
        else:
            spec = None
        if spec:
            _call(dynamodb._update_ttl, {"TableName": name, "TimeToLiveSpecification": spec}, "UpdateTimeToLive")
    old_pitr = bool((old.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"))
    new_pitr = bool((new.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"))
    if old_pitr != new_pitr or (new_pitr and not old):
        _call(
            dynamodb._update_continuous_backups,
            {"TableName": name, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": new_pitr}},
            "UpdateContinuousBackups",
        )


def _table_handlers(original: Handlers) -> Handlers:
    def create(logical_id: str, props: Props, stack_name: str) -> tuple[str, dict[str, Any]]:
        name = props.get("TableName")
        if name and name in _dynamodb()._tables:
            raise ValueError(f"Resource of type '{TABLE}' with identifier '{name}' already exists.")
        physical_id, attributes = original["create"](logical_id, props, stack_name)
        _apply_table_settings(physical_id, {}, props)
        return physical_id, attributes

    def update(
        physical_id: str, old_props: Props, new_props: Props, stack_name: str, logical_id: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        new_id, attributes = original["update"](physical_id, old_props, new_props, stack_name, logical_id)
        # A replaced table is a new one: it gets every setting, as on create.
        _apply_table_settings(new_id, old_props if new_id == physical_id else {}, new_props)
        return new_id, attributes

    def delete(physical_id: str, props: Props) -> None:
        original["delete"](physical_id, props)
        dynamodb = _dynamodb()
        dynamodb._ttl_settings.pop(physical_id, None)
        dynamodb._pitr_settings.pop(physical_id, None)

    return {**original, "create": create, "update": update, "delete": delete}


def _whole_buffering_hints(props: Props) -> Props:
    """BufferingHints with the integers AWS's schema gives them, whatever the template passed."""
    converted = dict(props)
    for destination in ("ExtendedS3DestinationConfiguration", "S3DestinationConfiguration"):
        config = converted.get(destination)
        if isinstance(config, dict) and isinstance(config.get("BufferingHints"), dict):
            hints = {key: int(value) for key, value in config["BufferingHints"].items()}
            converted[destination] = {**config, "BufferingHints": hints}
    return converted


def _delivery_stream_handlers(original: Handlers) -> Handlers:
    def create(logical_id: str, props: Props, stack_name: str) -> tuple[str, dict[str, Any]]:
        result: tuple[str, dict[str, Any]] = original["create"](logical_id, _whole_buffering_hints(props), stack_name)
        return result

    def update(physical_id: str, old_props: Props, new_props: Props, stack_name: str) -> tuple[str, dict[str, Any]]:
        result: tuple[str, dict[str, Any]] = original["update"](
            physical_id, _whole_buffering_hints(old_props), _whole_buffering_hints(new_props), stack_name
        )
        return result

    return {**original, "create": create, "update": update}


def _lambda_refused(message: str) -> str:
    """Lambda's refusal as CloudFormation reports it in the resource's event (request ids left out)."""
    return (
        f'Resource handler returned message: "{message} (Service: Lambda, Status Code: 400)" '
        "(HandlerErrorCode: InvalidRequest)"
    )


def _check_code_exists(props: Props) -> None:
    code = props.get("Code") or {}
    if not (code.get("S3Bucket") and code.get("S3Key")):
        return
    fetched = importlib.import_module("ministack.services.lambda_svc")._fetch_code_from_s3(
        code["S3Bucket"], code["S3Key"], version_id=code.get("S3ObjectVersion")
    )
    if fetched is None:
        raise ValueError(
            _lambda_refused(
                "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does "
                "not exist."
            )
        )


def _function_handlers(original: Handlers) -> Handlers:
    def create(logical_id: str, props: Props, stack_name: str) -> tuple[str, dict[str, Any]]:
        _check_code_exists(props)
        result: tuple[str, dict[str, Any]] = original["create"](logical_id, props, stack_name)
        return result

    def update(*args: Any) -> tuple[str, dict[str, Any]]:
        _physical_id, old_props, new_props, *_rest = args
        if old_props.get("Code") != new_props.get("Code"):
            _check_code_exists(new_props)
        result: tuple[str, dict[str, Any]] = original["update"](*args)
        return result

    return {**original, "create": create, "update": update}


def _whole_mapping_numbers(props: Props) -> Props:
    return {key: int(value) if key in MAPPING_NUMBERS and value is not None else value for key, value in props.items()}


def _check_mapping(request: Props, source_arn: str, function_ref: str, *, creating: bool) -> None:
    refused = mapping_validation.stored_refusal(request, source_arn, function_ref, creating=creating)
    if refused is not None:
        raise ValueError(_lambda_refused(refused.message))


def _mapping_handlers(original: Handlers) -> Handlers:
    def create(logical_id: str, props: Props, stack_name: str) -> tuple[str, dict[str, Any]]:
        props = _whole_mapping_numbers(props)
        _check_mapping(props, str(props.get("EventSourceArn", "")), str(props.get("FunctionName", "")), creating=True)
        result: tuple[str, dict[str, Any]] = original["create"](logical_id, props, stack_name)
        return result

    def update(physical_id: str, old_props: Props, new_props: Props, stack_name: str) -> tuple[str, dict[str, Any]]:
        old_props, new_props = _whole_mapping_numbers(old_props), _whole_mapping_numbers(new_props)
        stored = importlib.import_module("ministack.services.lambda_svc")._esms.get(physical_id)
        # A changed source or starting position replaces the mapping: checked as a new one.
        replaced = stored is None or any(
            old_props.get(key) != new_props.get(key) for key in ("EventSourceArn", "StartingPosition")
        )
        request = new_props if replaced else {**stored, **new_props}
        source_arn = str(request.get("EventSourceArn", ""))
        _check_mapping(request, source_arn, str(new_props.get("FunctionName", "")), creating=replaced)
        result: tuple[str, dict[str, Any]] = original["update"](physical_id, old_props, new_props, stack_name)
        return result

    return {**original, "create": create, "update": update}


def _build(originals: Originals) -> dict[Target, Any]:
    return {
        TABLE_HANDLERS: _table_handlers(originals[TABLE_HANDLERS]),
        DELIVERY_STREAM_HANDLERS: _delivery_stream_handlers(originals[DELIVERY_STREAM_HANDLERS]),
        FUNCTION_HANDLERS: _function_handlers(originals[FUNCTION_HANDLERS]),
        MAPPING_HANDLERS: _mapping_handlers(originals[MAPPING_HANDLERS]),
    }


RESOURCES_AS_ON_AWS = Patch(
    name="cloudformation-resources-as-on-aws",
    summary=(
        "CloudFormation applies a table's TTL and point-in-time recovery and refuses an existing table, "
        "gives Firehose integer BufferingHints, fails a function whose S3 code is missing, and checks "
        "event source mappings as the Lambda API does"
    ),
    targets={
        TABLE_HANDLERS: "c96a02376fcd6dc4777ae2910b1b868d4511e127a3246a1b1adb41f3320e0ecb",
        DELIVERY_STREAM_HANDLERS: "015647497bfe7c28b7fa15523d3de3ed00c647a80f2c36fa70c05e11fcb33303",
        FUNCTION_HANDLERS: "66137fe160f41b3dd1dddc6dd17a4698f2b1f19ec38f58bba71e4834fe004118",
        MAPPING_HANDLERS: "e2c07efdd441ea97235f5abee373878324a87a0e7951b652832928850940a872",
    },
    build=_build,
    relies_on={
        UPDATE_TTL: "e8243a4fbbb8997d50df7a01ceccf9841238b74356b22756a0c1cd71c8dc1056",
        UPDATE_BACKUPS: "4d306deca0a21e5241ce834a4e7e5b81e9b7a86f3f63167b8dfbdda8f14f64ed",
        FETCH_CODE: "e05246c20b3215cf455c143898fe5e07130563f52b4bffddb8c7ad55a29d8011",
    },
)
