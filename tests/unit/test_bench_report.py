"""The load benchmark's own arithmetic and reports (the benchmark itself is `make bench`, not a test)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from bootstrap.config import DeployTarget, StackConfig
from bootstrap.stack import declare
from device_data.table import streamed_table

spec = importlib.util.spec_from_file_location(
    "bench_pipeline", Path(__file__).resolve().parents[2] / "bench" / "pipeline.py"
)
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # as an import would: its dataclasses look their module up there
spec.loader.exec_module(bench)


def test_percentiles_of_latency_samples():
    figures = bench._percentiles([float(n) for n in range(1, 101)])
    assert figures == {"samples": 100, "p50": 50, "p95": 95, "p99": 99}
    assert bench._percentiles([]) == {"samples": 0}
    assert bench._percentiles([7.0]) == {"samples": 1, "p50": 7, "p95": 7, "p99": 7}


def step(rate: float, sustained: bool, p99: int = 120, history_calls: int = 9, archive_puts: int = 4) -> dict:
    """A ladder step storing 1.5 readings a message for 20 s."""
    readings = int(rate * 1.5 * 20)
    return {
        "offered_msgs_per_s": rate,
        "consumed_msgs_per_s": rate * 0.99,
        "readings_per_s": rate * 1.5,
        "stored_readings": readings,
        "sustained": sustained,
        "backlog_at_end": 10,
        "latency_ms": {
            "send_to_table": {"samples": 2, "p50": 40, "p95": 90, "p99": p99},
            "table_to_history": {"samples": 2, "p50": 900, "p95": 1500, "p99": 1600},
            "expired_to_archive": {"samples": 2, "p50": 1000, "p95": 1700, "p99": 2000},
        },
        "cpu_percent": {"api": 50.0, "dataplane": 30.0, "function_workers": 10.0, "bench_and_simulator": 5.0},
        "cpu_seconds_per_1000_readings": {
            "api": 0.85,
            "dataplane": 0.62,
            "function_workers": 0.31,
            "bench_and_simulator": 0.2,
        },
        "peak_rss_mb": {"api": 400.0},
        "calls": {"firehose.PutRecordBatch": history_calls, "s3.PutObject": archive_puts},
        "archive_puts": archive_puts,
        "calls_per_1000_readings": {"firehose.PutRecordBatch": round(1000 * history_calls / readings, 2)},
        "archive_invocations": 4,
    }


def ladder(*steps: dict) -> dict:
    sustained = [s for s in steps if s["sustained"]]
    return {
        "devices": 200,
        "connect_seconds": 0.4,
        "cold_start_send_to_table_ms": 600,
        "steps": list(steps),
        "sustained_msgs_per_s": max((s["offered_msgs_per_s"] for s in sustained), default=0),
        "sustained_readings_per_s": max((s["readings_per_s"] for s in sustained), default=0),
    }


def result(ladders: dict, raw_items_per_s: int = 5000, drain_ratio: float = 0.96) -> dict:
    return {
        "machine": "2 cores",
        "started_at": "2026-11-23T10:00:00Z",
        "emulator_start_seconds": 1.0,
        "make_up_seconds": 2.7,
        "raw_capacity": {"batch_write_item_items_per_s": raw_items_per_s},
        "ladders": ladders,
        "backlog_drain": {
            "via": "sqs",
            "messages": 50000,
            "seconds": 120.0,
            "drain_msgs_per_s": 416.7,
            "short_queue_msgs_per_s": 433.3,
            "ratio": drain_ratio,
            "completed": True,
        },
    }


def statuses(rows: list[dict]) -> dict[tuple[str, str | None], str]:
    return {(row["target"], row["via"]): row["status"] for row in rows}


def test_a_run_that_reaches_every_target_has_each_met_for_each_front_door():
    fast = ladder(step(500, True, p99=300), step(700, True, history_calls=100, archive_puts=4))
    rows = bench.targets(result({"sqs": fast, "mqtt": fast}, raw_items_per_s=1500))
    assert set(statuses(rows).values()) == {"met"}
    assert len(rows) == 2 * 6 + 1
    figures = {(row["target"], row["via"]): row["measured"] for row in rows}
    assert figures[(bench.SUSTAINED.name, "mqtt")] == 1050
    assert figures[(bench.RAW_SHARE.name, "sqs")] == 0.7
    # 109 PutRecordBatch for 15,000 + 21,000 readings; 8 archive PUTs in 8 invocations.
    assert figures[(bench.HISTORY_CALLS.name, "sqs")] == 0.3
    assert figures[(bench.ARCHIVE_PUTS.name, "sqs")] == 1
    assert figures[(bench.DRAIN.name, "sqs")] == 0.96


def test_each_missed_target_shows_not_met():
    slow = ladder(step(250, True), step(500, False, p99=8000, history_calls=300, archive_puts=9))
    del slow["steps"][1]["cpu_seconds_per_1000_readings"]["dataplane"]
    rows = statuses(bench.targets(result({"sqs": slow}, raw_items_per_s=4758, drain_ratio=0.7)))
    assert rows == {
        (bench.SUSTAINED.name, "sqs"): "not met",
        (bench.P99_AT_500.name, "sqs"): "not met",
        (bench.RAW_SHARE.name, "sqs"): "not met",
        (bench.HISTORY_CALLS.name, "sqs"): "not met",
        (bench.ARCHIVE_PUTS.name, "sqs"): "not met",
        (bench.CPU_BY_PROCESS, "sqs"): "not met",
        (bench.DRAIN.name, "sqs"): "not met",
    }


def test_a_target_the_run_has_no_figure_for_is_not_measured():
    short = ladder(step(100, True), step(250, True))
    for each in short["steps"]:
        each["archive_invocations"] = 0
    run = result({"mqtt": short})
    del run["raw_capacity"], run["backlog_drain"]
    rows = statuses(bench.targets(run))
    assert rows[(bench.P99_AT_500.name, "mqtt")] == "not measured"  # no 500 msg/s step
    assert rows[(bench.RAW_SHARE.name, "mqtt")] == "not measured"
    assert rows[(bench.ARCHIVE_PUTS.name, "mqtt")] == "not measured"
    assert rows[(bench.DRAIN.name, None)] == "not measured"
    assert rows[(bench.SUSTAINED.name, "mqtt")] == "not met"
    durability_only = statuses(bench.targets({"machine": "2 cores", "started_at": "now"}))
    assert set(durability_only.values()) == {"not measured"}


def test_the_markdown_report_has_the_targets_and_the_same_ladder_table_for_each_front_door():
    run = result({"sqs": ladder(step(100, True), step(250, False)), "mqtt": ladder(step(100, True))})
    run["targets"] = bench.targets(run)
    text = bench.markdown(run)
    assert f"| {bench.SUSTAINED.name} | sqs | 150 | >= 1000 | not met |" in text
    assert f"| {bench.DRAIN.name} | sqs | 0.96 | >= 0.8 | met |" in text
    assert "Sustained: **100 msg/s offered, 150 readings/s**" in text
    sqs, mqtt = text.split("## The ladder through sqs")[1].split("## The ladder through mqtt")
    assert len([line for line in sqs.splitlines() if line.startswith(("| 100 ", "| 250 "))]) == 2
    assert len([line for line in mqtt.splitlines() if line.startswith("| 100 ")]) == 1
    assert "| no |" in sqs and "40/90/120" in mqtt and "200 devices connected in 0.4 s" in mqtt
    assert "| firehose.PutRecordBatch | 1.2 |" in sqs
    assert "| at 250 msg/s | 0.85 | 0.62 | 0.31 | 0.2 |" in sqs
    assert "0.96 of the short-queue rate" in text


def test_the_short_queue_rate_is_the_consumed_rate_of_the_best_sustained_step_not_of_a_faster_unsustained_one():
    steps = [step(500, True), step(1000, True), step(2000, False)]
    steps[2]["consumed_msgs_per_s"] = 1200.0  # more than the 1,000 step's, from a growing queue
    assert bench.short_queue_rate(steps) == 990.0
    assert bench.short_queue_rate([step(250, False)]) is None
    assert bench.short_queue_rate([]) is None


def test_the_wait_for_the_ladders_leftover_backlog_is_three_times_its_drain_at_the_short_queue_rate():
    assert bench.leftover_patience(80_000, 1000.0) == 240.0
    assert bench.leftover_patience(36, 1000.0) == 60.0
    assert bench.leftover_patience(80_000, None) == 60.0


def test_the_drain_report_says_the_backlog_was_sent_to_an_empty_queue_or_why_it_was_not_measured():
    drained = {**result({})["backlog_drain"], "leftover_backlog": 80628, "leftover_drained_seconds": 95.2}
    text = bench.drain_markdown(drained)
    assert text.startswith(
        "Backlog of 50000 (sent to an empty queue, after the ladder's leftover 80628 drained in 95.2 s)"
    )
    assert "0.96 of the short-queue rate (433.3 msg/s, the best sustained step's consumed rate)" in text
    not_measured = {
        "messages": 0,
        "short_queue_msgs_per_s": 433.3,
        "ratio": None,
        "completed": False,
        "leftover_backlog": 80628,
        "not_drained_after_seconds": 558,
    }
    assert bench.drain_markdown(not_measured) == (
        "Backlog drain not measured: the ladder's leftover backlog of 80628 was not consumed within 558 s."
    )
    assert statuses(bench.targets({"backlog_drain": {"via": "sqs", **not_measured}}))[(bench.DRAIN.name, "sqs")] == (
        "not measured"
    )


def test_results_are_written_as_json_markdown_and_a_chart(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is installed by `make bench`, not by `make test`")
    bench.write_results(result({"sqs": ladder(step(100, True)), "mqtt": ladder(step(100, True))}), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"latest.json", "latest.md", "latest.png"}
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_benchmarks_streamed_table_has_device_datas_key_types_and_stream_under_their_own_names():
    table = streamed_table("bench_raw", "d", "c")
    assert table["KeySchema"] == [{"AttributeName": "d", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": "d", "AttributeType": "S"},
        {"AttributeName": "c", "AttributeType": "N"},
    ]
    pipeline_table = declare(StackConfig.from_env(DeployTarget.LOCAL, {}), "000000000000").table
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": pipeline_table.stream_view}
