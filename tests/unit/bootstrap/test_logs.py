"""make logs: one line per event with time, function, level and message; filters by function
and start time; REPORT lines without a memory figure the runtime could not measure."""

import json

import pytest

from bootstrap.config import StackConfig
from bootstrap.logs import follow_logs, format_event, log_groups, parse_since
from bootstrap.stack import FunctionRole, declare
from env_settings.reader import SettingError

T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z, in ms


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("45", 45)])
def test_since_takes_seconds_minutes_hours_or_days(text, seconds):
    assert parse_since(text) == seconds


def test_a_since_that_is_no_duration_is_a_one_line_error():
    with pytest.raises(SettingError, match="SINCE='ten minutes' is not a duration: use 30s, 10m, 2h or 1d"):
        parse_since("ten minutes")


def test_a_function_json_line_shows_its_level_message_and_details():
    line = json.dumps(
        {"level": "ERROR", "location": "x:1", "message": "message parked", "timestamp": "t", "error_code": "not_json"}
    )
    assert format_event("ingest", {"timestamp": T0, "message": line}) == (
        '2026-11-18T11:06:40.000Z  ingest   ERROR   message parked {"error_code": "not_json"}'
    )


def test_lambda_lines_carry_no_level_and_an_unmeasured_memory_is_left_out():
    report = "REPORT RequestId: r1\tDuration: 12 ms\tBilled Duration: 12 ms\tMemory Size: 256 MB\tMax Memory Used: 0 MB"
    assert format_event("history", {"timestamp": T0, "message": report}) == (
        "2026-11-18T11:06:40.000Z  history  -       REPORT RequestId: r1  Duration: 12 ms  Billed Duration: 12 ms  "
        "Memory Size: 256 MB"
    )
    measured = report.replace("Max Memory Used: 0 MB", "Max Memory Used: 71 MB")
    assert format_event("history", {"timestamp": T0, "message": measured}).endswith("Max Memory Used: 71 MB")


def test_one_function_is_chosen_by_its_role():
    stack = declare(StackConfig.from_env("local", {"STACK_ENV": "dev"}), "000000000000")
    functions = {str(function.role): function.name for function in stack.functions}
    assert log_groups(functions, FunctionRole.INGEST) == {"ingest": "/aws/lambda/dev-sensor-data-ingest"}
    assert set(log_groups(functions)) == {"ingest", "history", "archive"}


class FakeLogs:
    def __init__(self, events):
        self.events, self.asked = events, []

    def get_paginator(self, _name):
        return self

    def paginate(self, logGroupName, startTime):
        self.asked.append((logGroupName, startTime))
        return [{"events": [e for e in self.events.get(logGroupName, []) if e["timestamp"] >= startTime]}]


def test_events_of_every_function_come_in_time_order_from_the_start_time_each_once(monkeypatch):
    monkeypatch.setattr("bootstrap.logs.time.time", lambda: T0 / 1000 + 600)
    logs = FakeLogs(
        {
            "/a": [{"timestamp": T0 - 1, "message": "too old"}, {"timestamp": T0 + 20, "message": "a2"}],
            "/b": [{"timestamp": T0 + 10, "message": "b1"}],
        }
    )
    lines, polls = [], iter([True, False])
    follow_logs(logs, {"ingest": "/a", "archive": "/b"}, 600, emit=lines.append, keep_going=lambda: next(polls))
    assert [line.split()[-1] for line in lines] == ["b1", "a2"]
    assert {start for _group, start in logs.asked} == {T0}
