"""`make bench`, history part: a GROUP BY over a million history lines through the embedded Athena.

Starts an embedded backend of its own, writes LINES history lines (made by the history function's
own code from stream records of 250 devices) as Firehose objects of 10,000 lines under the hourly
layout, declares the history table and workgroup, and times `SELECT action, count(*) ... GROUP
BY` from StartQueryExecution to the last result page. Target: at most 5 s. Results in
bench/results/history-query.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aws_calls.sessions import local_clients
from bootstrap.query import query_athena
from device_data.archive import RemovalsWithoutIdentity
from device_data.history_table import history_table
from emulator.lifecycle import free_port, start, stop
from emulator.settings import EmulatorSettings
from handlers.core.history_lines import encode_history_line, history_line

LINES_PER_OBJECT = 10_000
DEVICES = 250
TARGET_SECONDS = 5.0
RESULTS = Path(__file__).resolve().parent / "results" / "history-query.json"
SQL = "SELECT action, count(*) AS changes FROM history GROUP BY action ORDER BY action"


def history_object(number: int, start_seconds: int) -> bytes:
    lines = []
    for index in range(LINES_PER_OBJECT):
        sequence = str(10**20 + number * LINES_PER_OBJECT + index)
        device = f"dev-{index % DEVICES:04d}"
        created = (start_seconds + index) * 1000
        item = {
            "deviceID": {"S": device},
            "createdAt": {"N": str(created)},
            "expiredAt": {"N": str(created // 1000 + 31_536_000)},
            "sensorID": {"S": f"{device}-sen"},
            "temperature": {"N": "21.5"},
            "topic": {"S": f"{device}/SENSOR/DAT"},
            "client_id": {"S": device},
        }
        action = ("INSERT", "MODIFY", "INSERT", "REMOVE")[index % 4]
        change = {"ApproximateCreationDateTime": start_seconds + index % 3600, "SequenceNumber": sequence}
        change["Keys"] = {"deviceID": item["deviceID"], "createdAt": item["createdAt"]}
        if action != "REMOVE":
            change["NewImage"] = item
        if action != "INSERT":
            change["OldImage"] = item
        record = {
            "eventID": sequence,
            "eventName": action,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/bench_DeviceData/stream/x",
            "dynamodb": change,
        }
        lines.append(encode_history_line(history_line(record, "expiredAt", RemovalsWithoutIdentity.MANUAL)))
    return b"".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    objects = max(1, args.lines // LINES_PER_OBJECT)
    with tempfile.TemporaryDirectory(prefix="history-bench-") as root:
        settings = EmulatorSettings(port=free_port(), state_dir=f"{root}/embedded")
        start(settings, progress=lambda _line: None)
        try:
            client = local_clients(settings.endpoint)
            table = history_table("bench", "bench-device-history", "bench_DeviceData/")
            s3, glue, athena = client("s3"), client("glue"), client("athena")
            s3.create_bucket(Bucket=table.bucket)
            glue.create_database(DatabaseInput=table.database_input())
            glue.create_table(DatabaseName=table.database, TableInput=table.table_input())
            athena.create_work_group(Name=table.workgroup, Configuration=table.workgroup_configuration())
            now = int(time.time())
            written = time.monotonic()
            for number in range(objects):
                # Ten objects an hour, over the last objects/10 hours.
                hour = now - (objects - number) // 10 * 3600
                key = f"{table.prefix}{datetime.fromtimestamp(hour, UTC):%Y/%m/%d/%H}/bench-1-{number:05d}"
                s3.put_object(Bucket=table.bucket, Key=key, Body=history_object(number, hour))
            print(
                f"wrote {objects * LINES_PER_OBJECT:,} history lines in {objects} objects "
                f"({time.monotonic() - written:.0f} s)"
            )
            timings = []
            for _run in range(3):
                started = time.monotonic()
                columns, rows = query_athena(client, SQL, table.database, table.workgroup)
                timings.append(time.monotonic() - started)
            counted = sum(int(row[1] or 0) for row in rows)
            assert counted == objects * LINES_PER_OBJECT, (columns, rows)
        finally:
            stop(settings, progress=lambda _line: None)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "lines": counted,
        "query": SQL,
        "seconds": [round(seconds, 2) for seconds in timings],
        "best_seconds": round(min(timings), 2),
        "target_seconds": TARGET_SECONDS,
        "met": min(timings) <= TARGET_SECONDS,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
