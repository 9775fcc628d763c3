"""The load benchmark's own arithmetic and reports (the benchmark itself is `make bench`, not a test)."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "bench_pipeline", Path(__file__).resolve().parents[2] / "bench" / "pipeline.py"
)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_percentiles_of_latency_samples():
    figures = bench._percentiles([float(n) for n in range(1, 101)])
    assert figures == {"samples": 100, "p50": 50, "p95": 95, "p99": 99}
    assert bench._percentiles([]) == {"samples": 0}
    assert bench._percentiles([7.0]) == {"samples": 1, "p50": 7, "p95": 7, "p99": 7}


def result(sustained_second_step: bool) -> dict:
    latency = {
        "send_to_table": {"samples": 2, "p50": 40, "p95": 90, "p99": 120},
        "table_to_history": {"samples": 2, "p50": 900, "p95": 1500, "p99": 1600},
        "expired_to_archive": {"samples": 2, "p50": 1000, "p95": 1700, "p99": 2000},
    }
    step = lambda rate, sustained: {  # noqa: E731
        "offered_msgs_per_s": rate,
        "consumed_msgs_per_s": rate * 0.99,
        "readings_per_s": rate * 1.5,
        "sustained": sustained,
        "backlog_at_end": 10,
        "latency_ms": latency,
        "cpu_percent": {"api": 50.0, "dataplane": 30.0, "function_workers": 10.0, "bench_and_simulator": 5.0},
        "cpu_seconds_per_1000_readings": {
            "api": 0.85,
            "dataplane": 0.62,
            "function_workers": 0.31,
            "bench_and_simulator": 0.2,
        },
        "peak_rss_mb": {"api": 400.0},
        "calls_per_1000_readings": {"firehose.PutRecordBatch": 10.0},
    }
    return {
        "machine": "2 cores",
        "started_at": "2026-11-23T10:00:00Z",
        "emulator_start_seconds": 1.0,
        "make_up_seconds": 2.7,
        "cold_start_send_to_table_ms": 600,
        "raw_capacity": {"batch_write_item_items_per_s": 5000},
        "steps": [step(100, True), step(250, sustained_second_step)],
        "sustained_msgs_per_s": 250 if sustained_second_step else 100,
        "sustained_readings_per_s": 375.0 if sustained_second_step else 150.0,
        "backlog_drain": {
            "messages": 50000,
            "seconds": 120.0,
            "drain_msgs_per_s": 416.7,
            "short_queue_msgs_per_s": 433.3,
            "ratio": 0.96,
            "completed": True,
        },
    }


def test_the_markdown_report_has_one_row_per_step_the_headline_figures_and_the_cpu_per_reading():
    text = bench.markdown(result(sustained_second_step=False))
    assert "Sustained: **100 msg/s offered, 150 readings/s**" in text
    rows = [line for line in text.splitlines() if line.startswith(("| 100 ", "| 250 "))]
    assert len(rows) == 2 and "| no |" in rows[1] and "40/90/120" in rows[0]
    assert "| firehose.PutRecordBatch | 10.0 |" in text
    assert "| at 250 msg/s | 0.85 | 0.62 | 0.31 | 0.2 |" in text
    assert "0.96 of the short-queue rate" in text


def test_results_are_written_as_json_markdown_and_a_chart(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is installed by `make bench`, not by `make test`")
    bench.write_results(result(sustained_second_step=True), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"latest.json", "latest.md", "latest.png"}
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
