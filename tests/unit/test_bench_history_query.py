"""The history-query benchmark's objects are what the history function writes (it broke once when
history_line gained a parameter, and only `make bench` noticed)."""

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "bench_history_query", Path(__file__).resolve().parents[2] / "bench" / "history_query.py"
)
history_query = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = history_query
spec.loader.exec_module(history_query)


def test_an_object_holds_one_history_line_per_change_in_the_four_actions():
    lines = [json.loads(line) for line in history_query.history_object(0, 1_700_000_000).splitlines()]
    assert len(lines) == history_query.LINES_PER_OBJECT
    assert Counter(line["action"] for line in lines) == {"INSERT": 5000, "MODIFY": 2500, "REMOVE": 2500}
    assert all(line["keys"]["deviceID"].startswith("dev-") for line in lines)
