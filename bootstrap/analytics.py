"""The history table's Glue database and table and its Athena workgroup: deployed and torn down
from the one declaration (device_data.history_table), idempotently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from aws_calls.sessions import ClientFactory
from bootstrap.deploy import CREATED, DELETED, UNCHANGED, UPDATED, Change, Deployer, _code, _normalised, _not_offered
from bootstrap.stack import Stack
from device_data.history_table import HistoryTable


def offers_analytics(stack: Stack, client: ClientFactory) -> bool:
    """Whether the endpoint serves Glue and Athena (LocalStack Community does not). On AWS any error is raised."""
    try:
        client("glue").get_databases(MaxResults=1)
        client("athena").list_work_groups(MaxResults=1)
    except ClientError as error:
        if stack.config.is_local and _not_offered(error):
            return False
        raise
    return True


def deploy_history_table(deployer: Deployer, stack: Stack) -> list[Change]:
    history, client = stack.history_table, deployer.client
    if not offers_analytics(stack, client):
        # Not a change, as for IoT: a second deploy on the same backend still says "no changes".
        deployer.progress(
            f"  skipped   Glue database {history.database} and Athena workgroup {history.workgroup}: "
            "this backend has no Glue or Athena (make query reads the history with DuckDB)"
        )
        return []
    return [
        deployer._report("Glue database", history.database, _ensure_database(client("glue"), history)),
        deployer._report("Glue table", f"{history.database}.{history.table}", _ensure_table(client("glue"), history)),
        deployer._report("Athena workgroup", history.workgroup, _ensure_workgroup(client("athena"), history)),
    ]


def _ensure_database(glue: Any, history: HistoryTable) -> str:
    try:
        glue.get_database(Name=history.database)
    except ClientError as error:
        if _code(error) != "EntityNotFoundException":
            raise
        glue.create_database(DatabaseInput=history.database_input())
        return CREATED
    return UNCHANGED


def _ensure_table(glue: Any, history: HistoryTable) -> str:
    wanted = history.table_input()
    try:
        current = glue.get_table(DatabaseName=history.database, Name=history.table)["Table"]
    except ClientError as error:
        if _code(error) != "EntityNotFoundException":
            raise
        glue.create_table(DatabaseName=history.database, TableInput=wanted)
        return CREATED
    if _same_table(current, wanted):
        return UNCHANGED
    glue.update_table(DatabaseName=history.database, TableInput=wanted)
    return UPDATED


def _same_table(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Every declared setting as declared. What Glue adds (CreateTime, and defaults such as the
    StorageDescriptor's Compressed or NumberOfBuckets) is not compared."""
    storage = current.get("StorageDescriptor") or {}
    return all(
        _normalised(current.get(key)) == _normalised(value)
        for key, value in wanted.items()
        if key != "StorageDescriptor"
    ) and all(_normalised(storage.get(key)) == _normalised(value) for key, value in wanted["StorageDescriptor"].items())


def _ensure_workgroup(athena: Any, history: HistoryTable) -> str:
    wanted = history.workgroup_configuration()
    try:
        # AWS answers a missing workgroup with InvalidRequestException; moto with no WorkGroup.
        found = athena.get_work_group(WorkGroup=history.workgroup).get("WorkGroup")
    except ClientError as error:
        if _code(error) != "InvalidRequestException":
            raise
        found = None
    if found is None:
        athena.create_work_group(Name=history.workgroup, Configuration=wanted)
        return CREATED
    current = found.get("Configuration") or {}
    if all(_normalised(current.get(key)) == _normalised(value) for key, value in wanted.items()):
        return UNCHANGED
    athena.update_work_group(
        WorkGroup=history.workgroup,
        ConfigurationUpdates={
            "ResultConfigurationUpdates": wanted["ResultConfiguration"],
            "EnforceWorkGroupConfiguration": wanted["EnforceWorkGroupConfiguration"],
            "PublishCloudWatchMetricsEnabled": wanted["PublishCloudWatchMetricsEnabled"],
        },
    )
    return UPDATED


def teardown_history_table(deployer: Deployer, stack: Stack) -> list[Change]:
    history, client = stack.history_table, deployer.client
    if not offers_analytics(stack, client):
        return []
    glue, athena = client("glue"), client("athena")
    table = f"{history.database}.{history.table}"
    # (kind, name, does it exist, delete): Athena's DeleteWorkGroup answers a missing workgroup
    # with success, so each is looked up first and only what existed is reported deleted.
    resources: tuple[tuple[str, str, Callable[[], object], Callable[[], object]], ...] = (
        (
            "Athena workgroup",
            history.workgroup,
            lambda: athena.get_work_group(WorkGroup=history.workgroup),
            lambda: athena.delete_work_group(WorkGroup=history.workgroup, RecursiveDeleteOption=True),
        ),
        (
            "Glue table",
            table,
            lambda: glue.get_table(DatabaseName=history.database, Name=history.table),
            lambda: glue.delete_table(DatabaseName=history.database, Name=history.table),
        ),
        (
            "Glue database",
            history.database,
            lambda: glue.get_database(Name=history.database),
            lambda: glue.delete_database(Name=history.database),
        ),
    )
    removed = []
    for kind, name, look_up, delete in resources:
        try:
            look_up()
        except ClientError as error:
            if _code(error) in ("EntityNotFoundException", "InvalidRequestException"):
                continue
            raise
        delete()
        removed.append(deployer._report(kind, name, DELETED))
    return removed
