"""The change history queried with Athena's SQL (the README's sample queries, through `make
query`'s code) and archived readings restored, on history and archives the pipeline wrote."""

import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bootstrap import query, restore
from bootstrap.stack import declare
from bootstrap.template import stack_name
from iot_pipeline_testing import wait_for
from tests.integration.test_pipeline import send

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
TTL_SECONDS = 31_536_000
README_DEVICE, README_DAY, README_AS_OF = "dev-0001", "2026/11/23", "2026-11-23 12:00:00"


def samples() -> dict[str, str]:
    """The README's sample queries by their title (`-- sample: <title>`)."""
    blocks = re.findall(r"```sql\n-- sample: (.+?)\n(.*?)```", README.read_text(), re.DOTALL)
    return dict(blocks)


@pytest.fixture(scope="module")
def cli_env(stack, iot_backend, monkeypatch_module):
    """The commands' settings, as `make query` and `make restore` read them, for the session stack."""
    for name, value in {
        "STACK_ENV": stack.config.env,
        "AWS_ENDPOINT_URL": stack.endpoint,
        "EMULATOR_PORT": str(iot_backend.port),
        "STATE_DIR": str(Path(iot_backend.state_dir).parent),
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch_module.setenv(name, value)
    return stack


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def run_query(capsys, sql):
    assert query.main(["--sql", sql, "--format", "json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def device_lines(stack, device):
    return [line for line in stack.history_lines() if line["keys"]["deviceID"] == device]


@pytest.fixture(scope="module")
def written(cli_env):
    """One device's history: reading A inserted then modified, reading B inserted after a moment
    `as_of`, and reading C expired at once (inserted, removed by TTL, archived)."""
    stack = cli_env
    device = f"an-{uuid.uuid4().hex[:8]}"
    now = int(time.time())
    a, b, c = now - 120, now - 60, now - TTL_SECONDS - 900
    send(stack, {"things_name": device, "timestamp": a, "data": {"temperature": 20}})
    send(stack, {"things_name": device, "timestamp": c, "data": {"temperature": 5, "labels": {"site": "A"}}})
    wait_for(lambda: len(device_lines(stack, device)) >= 3, timeout=60, message="A inserted, C inserted and removed")
    send(stack, {"things_name": device, "timestamp": a, "data": {"temperature": 21}})
    wait_for(lambda: len(device_lines(stack, device)) >= 4, timeout=60, message="A modified")
    modified_at = max(line["timestamp"] for line in device_lines(stack, device))
    # The history tells time in whole seconds: B must come in a later second than A's change.
    wait_for(lambda: time.time() >= modified_at + 1.05, message="the next second")
    as_of = datetime.fromtimestamp(modified_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    send(stack, {"things_name": device, "timestamp": b, "data": {"temperature": 22}})
    wait_for(lambda: len(device_lines(stack, device)) >= 5, timeout=60, message="B inserted")
    return stack, device, {"a": a * 1000, "b": b * 1000, "c": c * 1000}, as_of


def test_the_devices_change_history(written, capsys):
    _stack, device, created, _as_of = written
    rows = run_query(capsys, samples()["the change history of one device"].replace(README_DEVICE, device))
    changes = [(row["action"], int(row["created_at"]), row["temperature"], row["expired"]) for row in rows]
    # A and C arrive together, in either order; everything else in the order it happened.
    assert sorted(changes[:3]) == sorted(
        [
            ("INSERT", created["a"], "20", "false"),
            ("INSERT", created["c"], "5", "false"),
            ("REMOVE", created["c"], "5", "true"),
        ]
    )
    assert changes.index(("INSERT", created["c"], "5", "false")) < changes.index(("REMOVE", created["c"], "5", "true"))
    assert changes[3:] == [("MODIFY", created["a"], "21", "false"), ("INSERT", created["b"], "22", "false")]


def test_changes_per_hour_by_action_count_every_history_line(written, capsys):
    stack, _device, _created, _as_of = written

    def agree():
        rows = run_query(capsys, samples()["changes per hour by action"])
        counted: dict[tuple[str, str], int] = {}
        for line in stack.history_lines():
            hour = line["timestamp_utc"][:13]
            counted[(hour, line["action"])] = counted.get((hour, line["action"]), 0) + 1
        return {(row["hour"], row["action"]): int(row["changes"]) for row in rows} == counted

    # Other tests' items may expire meanwhile: the two counts agree once the history is still.
    wait_for(agree, timeout=30, interval=1, message="the query's counts and the history lines'")


def test_the_expired_readings_of_a_day(written, capsys):
    _stack, device, created, _as_of = written
    today = datetime.now(UTC).strftime("%Y/%m/%d")
    rows = run_query(capsys, samples()["the expired readings of a day"].replace(README_DAY, today))
    mine = [row for row in rows if row["device"] == device]
    assert [(int(row["created_at"]), int(row["expired_at"])) for row in mine] == [
        (created["c"], created["c"] // 1000 + TTL_SECONDS)
    ]


def test_each_devices_last_value_as_of_a_time(written, capsys):
    _stack, device, created, as_of = written
    sample = samples()["each device's last value as of a time, reconstructed from the history"]
    then = [row for row in run_query(capsys, sample.replace(README_AS_OF, as_of)) if row["device"] == device]
    assert [(int(row["created_at"]), row["temperature"]) for row in then] == [(created["a"], "21")]
    later = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    now = [row for row in run_query(capsys, sample.replace(README_AS_OF, later)) if row["device"] == device]
    assert [(int(row["created_at"]), row["temperature"]) for row in now] == [(created["b"], "22")]


def test_sql_errors_and_unknown_tables_are_one_line(cli_env, capsys):
    database = f"{cli_env.config.env}_device_data"
    assert query.main(["--sql", "SELECT nope FROM history"]) == 1
    assert capsys.readouterr().err == "error: COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved\n"
    assert query.main(["--sql", "SELECT * FROM missing"]) == 1
    assert capsys.readouterr().err == (
        f"error: TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.{database}.missing' does not exist\n"
    )


def test_archive_restore_round_trip(written, capsys):
    stack, device, created, _as_of = written
    dynamodb = stack.client("dynamodb")
    key = {"deviceID": {"S": device}, "createdAt": {"N": str(created["c"])}}
    span = ["--device", device, "--from", iso(created["c"] - 1000), "--to", iso(created["c"] + 1000)]

    def planned():
        assert restore.main([*span, "--dry-run"]) == 0
        out = capsys.readouterr().out
        return out if out.startswith("dry run") else None

    assert "(GLACIER, needs a restore)" in wait_for(planned, timeout=60, message="C archived")

    assert restore.main(span) == 0
    out = capsys.readouterr().out
    assert "restored 1, skipped 0 (already in the table), failed 0" in out
    assert "waiting for" in out
    item = dynamodb.get_item(TableName=stack.outputs["table"], Key=key, ConsistentRead=True)["Item"]
    expiry = int(item.pop("expiredAt")["N"])
    assert abs(expiry - (time.time() + 30 * 86400)) < 120
    (original,) = [entry["item"] for _key, _class, entry in stack.archived_items() if entry["keys"] == key]
    assert original.pop("expiredAt") == {"N": str(created["c"] // 1000 + TTL_SECONDS)}
    assert item == original and item["labels"] == {"M": {"site": {"S": "A"}}}

    assert restore.main(span) == 0
    assert "restored 0, skipped 1 (already in the table), failed 0" in capsys.readouterr().out

    nothing = ["--device", device, "--from", "2000-01-01", "--to", "2000-01-02"]
    assert restore.main(nothing) == 0
    assert capsys.readouterr().out == f"nothing archived for device {device} between 2000-01-01 and 2000-01-02\n"


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_the_history_table_is_a_part_of_the_stack_as_declared(stack):
    declared = declare(stack.config, stack.client("sts").get_caller_identity()["Account"]).history_table
    assert (stack.outputs["history_database"], stack.outputs["history_table"], stack.outputs["athena_workgroup"]) == (
        f"{stack.config.env}_device_data",
        "history",
        f"{stack.config.env}-device-history",
    )
    resources = stack.client("cloudformation").describe_stack_resources(StackName=stack_name(stack.config))
    kinds = {resource["ResourceType"] for resource in resources["StackResources"]}
    assert {"AWS::Glue::Database", "AWS::Glue::Table", "AWS::Athena::WorkGroup"} <= kinds
    table = stack.client("glue").get_table(DatabaseName=declared.database, Name=declared.table)["Table"]
    wanted = declared.table_input()
    assert table["Parameters"] == wanted["Parameters"] and table["PartitionKeys"] == wanted["PartitionKeys"]
    assert table["StorageDescriptor"]["Columns"] == wanted["StorageDescriptor"]["Columns"]
    assert table["StorageDescriptor"]["Location"] == declared.location
    workgroup = stack.client("athena").get_work_group(WorkGroup=declared.workgroup)["WorkGroup"]
    assert workgroup["Configuration"]["ResultConfiguration"] == {"OutputLocation": declared.results_location}
