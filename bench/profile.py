"""Where the embedded backend's CPU goes under the pipeline's load (issue 16, "measure, then choose").

    .venv/bin/python bench/profile.py --state-dir .state [--rate 250] [--seconds 40] [--via mqtt] [--out DIR]

Against a running stack (`make up` or `python -m bootstrap up` with its STATE_DIR), it sends
--rate msg/s through SQS (or --via mqtt: a connection per device) with the simulator for
--seconds while py-spy (installed by `make bench`) samples the API process, the data plane and
every function worker; then it waits for the queue to drain and writes, to --out (default
bench/results/profile-<UTC time>/):
- `<process>.txt`: py-spy's raw collapsed stacks, one file per process (speedscope or flame
  graphs can be made from them);
- `profile.json`: CPU seconds per process over the run, AWS calls by operation, readings stored,
  CPU seconds per 1,000 readings, API CPU ms per call, and each process's samples by owner
  (HTTP serving, event loop, our middlewares, journal, MiniStack by service, JSON, ...).
Not a test: it measures one run; the machine's load average is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device_data.table import key_definition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aws_calls.sessions import local_clients  # noqa: E402
from emulator.call_counter import COUNTS_PATH  # noqa: E402
from emulator.lifecycle import Paths  # noqa: E402

# The first pattern matching a frame, walking from the sampled leaf towards the root, owns the sample:
# so JSON encoding inside MiniStack counts as JSON, and MiniStack's handler inside our middleware as MiniStack.
OWNERS = (
    ("json encode/decode", re.compile(r"(^|[/\\])json[/\\]|orjson")),
    ("journal", re.compile(r"emulator[/\\](ministack[/\\]journal|journal_file)\.py")),
    ("http serving (the ASGI server)", re.compile(r"(^|[/\\])(hypercorn|h11|h2|wsproto|uvicorn|httptools)[/\\]")),
    ("xml", re.compile(r"(^|[/\\])xml[/\\]|saxutils")),
    ("logging", re.compile(r"(^|[/\\])logging[/\\]")),
    ("email/http parsing (stdlib)", re.compile(r"(^|[/\\])(email|http)[/\\]")),
    ("botocore (clients)", re.compile(r"(^|[/\\])(botocore|boto3|urllib3|awscrt|dateutil)[/\\]")),
    ("ministack lambda (invoke relay)", re.compile(r"^ministack[/\\](services[/\\]lambda|core[/\\]lambda)")),
    ("ministack dynamodb", re.compile(r"^ministack[/\\]services[/\\]dynamodb")),
    ("ministack sqs", re.compile(r"^ministack[/\\]services[/\\]sqs")),
    ("ministack s3", re.compile(r"^ministack[/\\]services[/\\]s3")),
    ("ministack firehose", re.compile(r"^ministack[/\\]services[/\\]firehose")),
    ("ministack other", re.compile(r"^ministack[/\\]")),
    ("our patches (emulator/ministack)", re.compile(r"^emulator[/\\]ministack[/\\]")),
    ("event source mappings (emulator/esm)", re.compile(r"^emulator[/\\]esm[/\\]")),
    (
        "our middlewares (guard, counter, durability)",
        re.compile(r"^emulator[/\\](loopback_guard|call_counter|api_server)\.py"),
    ),
    ("our AWS rules (emulator/*.py)", re.compile(r"^emulator[/\\]\w+\.py")),
    ("handlers (function code)", re.compile(r"^(handlers|aws_calls|device_data)[/\\]|_worker\.py")),
    ("asyncio event loop", re.compile(r"(^|[/\\])asyncio[/\\]")),
    ("threads, queues, selectors", re.compile(r"(^|[/\\])(threading|queue|selectors|socket|ssl|concurrent)")),
    ("uuid4", re.compile(r"(^|[/\\])uuid\.py")),
)
WAITING = "waiting (select, locks, blocking reads)"
# Judged on the sampled leaf alone, before OWNERS: a thread blocked in these waits for work (py-spy's
# idle detection misses some), and a socket send on loopback is the kernel's TCP work, charged to the sender.
WAITS = (
    r"EpollSelector\.select|select|poll|do_poll|.*\.wait|.*_wait_for_tstate_lock|.*acquire|sleep|SocketIO\.readinto"
    r"|.*readline|.*_read_response|.*_read_stderr|accept"
)
LEAVES = (
    (WAITING, re.compile(rf"^({WAITS}) \(")),
    ("socket send (kernel loopback TCP)", re.compile(r"^(_SelectorSocketTransport\.write|HTTPConnection\.send) \(")),
)
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", required=True, help="the stack's STATE_DIR (outputs.json, embedded/)")
    parser.add_argument("--rate", type=float, default=250)
    parser.add_argument("--via", choices=("sqs", "mqtt"), default="sqs", help="the devices' front door (default sqs)")
    parser.add_argument("--devices", type=int, default=200, help="simulated devices (mqtt: a connection each)")
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--rate-hz", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--nonblocking", action="store_true", help="py-spy samples without pausing the process")
    parser.add_argument("--out", default="")
    parser.add_argument("--analyse", metavar="DIR", help="only classify the raw stacks of an earlier run in DIR")
    parser.add_argument(
        "--operations",
        type=int,
        metavar="CALLS",
        default=0,
        help="only measure API CPU ms per call of each pipeline operation, CALLS calls each",
    )
    args = parser.parse_args()
    if args.analyse:
        print(json.dumps({raw.stem: owners(raw) for raw in sorted(Path(args.analyse).glob("*.txt"))}, indent=2))
        return 0
    state = Path(args.state_dir)
    if args.operations:
        print(json.dumps(operation_costs(state, args.operations), indent=2))
        return 0
    out = Path(args.out or ROOT / "bench" / "results" / f"profile-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    out.mkdir(parents=True, exist_ok=True)
    outputs = json.loads((state / "outputs.json").read_text())
    endpoint = outputs["endpoint"]
    # Function workers start at their first invocation: a short warm-up starts them before they are listed.
    _simulate(state, endpoint, rate=20, seconds=3)
    _wait_drained(outputs)
    processes = _processes(Paths(state / "embedded"))
    calls_before, cpu_before, items_before = _calls(endpoint), _cpu(processes), _item_count(outputs)
    load_before = os.getloadavg()
    py_spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "--format", "raw"]
    py_spy += ["--rate", str(args.rate_hz), "--duration", str(int(args.seconds))]
    py_spy += ["--nonblocking"] if args.nonblocking else []
    spies = [
        subprocess.Popen(
            [*py_spy, "--pid", str(pid), "--output", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in processes.items()
    ]
    began = time.monotonic()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    simulated = _simulate(state, endpoint, args.rate, args.seconds, via=args.via, devices=args.devices)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    simulator_cpu = children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
    sending_seconds = time.monotonic() - began
    for spy in spies:
        spy.wait()
    _wait_drained(outputs)
    elapsed = time.monotonic() - began
    calls = {op: n - calls_before.get(op, 0) for op, n in _calls(endpoint).items() if n - calls_before.get(op, 0)}
    cpu = {name: round(seconds - cpu_before.get(name, 0), 2) for name, seconds in _cpu(processes).items()}
    cpu["simulator"] = round(simulator_cpu, 2)
    # The simulator's count of the readings the pipeline stores (new items and overwrites alike).
    readings = json.loads(simulated.stdout.strip().splitlines()[-1])["expected"]["readings"]["stored"]
    new_items = _item_count(outputs) - items_before
    aws_calls = sum(n for op, n in calls.items() if op != "internal")
    result = {
        "rate_msgs_per_s": args.rate,
        "sending_seconds": round(sending_seconds, 1),
        "seconds_to_drained": round(elapsed, 1),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "readings": readings,
        "new_items": new_items,
        "cpu_seconds": cpu,
        "cpu_seconds_per_1000_readings": {name: round(1000 * s / max(readings, 1), 3) for name, s in cpu.items()},
        "calls": dict(sorted(calls.items(), key=lambda kv: -kv[1])),
        "calls_per_1000_readings": {op: round(1000 * n / max(readings, 1), 1) for op, n in calls.items()},
        "api_cpu_ms_per_call": round(1000 * cpu["api"] / max(aws_calls, 1), 3),
        "busy_samples_by_owner_percent": {name: owners(out / f"{name}.txt") for name in processes},
    }
    result["api_cpu_ms_per_call_by_owner"] = {
        owner: round(result["api_cpu_ms_per_call"] * share / 100, 3)
        for owner, share in result["busy_samples_by_owner_percent"]["api"].items()
    }
    (out / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def operation_costs(state: Path, calls: int) -> dict:
    """API CPU ms per call of each operation the pipeline makes, with payloads of the pipeline's
    shape, one call at a time on resources of their own (no stream or mapping reacts to them);
    plus GetQueueUrl, the floor: HTTP, middlewares and dispatch around a handler that does nothing."""
    outputs = json.loads((state / "outputs.json").read_text())
    api = _processes(Paths(state / "embedded"))["api"]
    sqs, dynamodb, streams, lambda_, firehose = (
        _client(outputs, name) for name in ("sqs", "dynamodb", "dynamodbstreams", "lambda", "firehose")
    )
    name = f"profile-{os.getpid()}"
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    dynamodb.create_table(
        TableName=name,
        **key_definition(),
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream_arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("echo.py", "def handler(event, context):\n    return {'batchItemFailures': []}\n")
    lambda_.create_function(
        FunctionName=name, Runtime="python3.11", Handler="echo.handler", Code={"ZipFile": archive.getvalue()},
        Role="arn:aws:iam::000000000000:role/profile",
    )  # fmt: skip
    body = json.dumps({"things_name": "dev-0001", "timestamp": 1_760_000_000_000, "data": {"temperature": 21.5}})
    sqs_event = json.dumps(
        {"Records": [{"messageId": str(n), "body": body, "eventSource": "aws:sqs"} for n in range(20)]}
    )
    written = iter(range(10**9))

    def items() -> list[dict]:
        return [{"PutRequest": {"Item": _reading(next(written))}} for _ in range(25)]

    def receive_and_delete() -> None:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=queue, Entries=entries)

    def send() -> None:
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": body} for n in range(10)])

    lambda_.invoke(FunctionName=name, Payload=sqs_event)  # the cold start is not an invocation's cost
    measured = {
        "sqs.GetQueueUrl (floor)": lambda: sqs.get_queue_url(QueueName=name),
        "sqs.SendMessageBatch (10)": send,
        "sqs.ReceiveMessage+DeleteMessageBatch (10)": receive_and_delete,
        "sqs.ReceiveMessage (empty)": lambda: sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10),
        "dynamodb.BatchWriteItem (25 readings)": lambda: dynamodb.batch_write_item(RequestItems={name: items()}),
        "lambda.Invoke (20 SQS records)": lambda: lambda_.invoke(FunctionName=name, Payload=sqs_event),
        "firehose.PutRecordBatch (100 lines)": lambda: firehose.put_record_batch(
            DeliveryStreamName=outputs["delivery_stream"], Records=[{"Data": body.encode() + b"\n"}] * 100
        ),
    }
    costs = {}
    for operation, call in measured.items():
        if operation.startswith("sqs.ReceiveMessage+"):
            for _ in range(calls):
                send()
        costs[operation] = _api_ms_per_call(api, call, calls)
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterators = [streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]]  # fmt: skip

    def get_records() -> None:
        iterators.append(streams.get_records(ShardIterator=iterators.pop(), Limit=100)["NextShardIterator"])

    costs["dynamodbstreams.GetRecords (100 records)"] = _api_ms_per_call(api, get_records, calls // 4)
    costs["dynamodbstreams.GetRecords (empty, at the tip)"] = _api_ms_per_call(api, get_records, calls)
    lambda_.delete_function(FunctionName=name)
    dynamodb.delete_table(TableName=name)
    sqs.delete_queue(QueueUrl=queue)
    return {"calls_each": calls, "load_average": round(os.getloadavg()[0], 2), "api_cpu_ms_per_call": costs}


def _api_ms_per_call(api: int, call: Callable[[], object], calls: int) -> float:
    before = _cpu({"api": api})["api"]
    for _ in range(calls):
        call()
    return round(1000 * (_cpu({"api": api})["api"] - before) / calls, 3)


def _reading(n: int) -> dict:
    """An item as the ingest function stores a reading."""
    device = f"dev-{n % 500:04d}"
    created = 1_760_000_000_000 + n * 1000
    return {
        "deviceID": {"S": device},
        "createdAt": {"N": str(created)},
        "expiredAt": {"N": str(created // 1000 + 86_400)},
        "sensorID": {"S": device + "-sen"},
        "topic": {"S": device + "/SENSOR/DAT"},
        "temperature": {"N": f"{20 + (n % 1000) / 100:g}"},
        "humidity": {"N": f"{40 + (n % 500) / 10:g}"},
    }


def owners(raw: Path) -> dict[str, float]:
    """Share (%) of a process's busy samples by owner (OWNERS), from py-spy's raw collapsed stacks;
    the samples of waiting threads are left out of the shares and given apart, as a count."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count = line.rpartition(" ")
        counts[_owner(stack.split(";"))] += int(count)
    waiting = counts.pop(WAITING, 0)
    total = sum(counts.values()) or 1
    shares = {owner: round(100 * n / total, 1) for owner, n in counts.most_common() if n}
    return {**shares, f"(samples: busy {sum(counts.values())} / waiting {waiting})": 0}


def _owner(frames: list[str]) -> str:
    for owner, pattern in LEAVES:
        if pattern.match(frames[-1]):
            return owner
    for frame in reversed(frames):
        match = FRAME.match(frame)
        filename = match["file"] if match else frame
        for owner, pattern in OWNERS:
            if pattern.search(filename):
                return owner
    return "other"


def _simulate(
    state: Path, endpoint: str, rate: float, seconds: float, via: str = "sqs", devices: int = 50
) -> subprocess.CompletedProcess:
    # A seed of its own: a run repeating an earlier one's keys would overwrite items instead of adding them.
    command = [sys.executable, "-m", "simulator", "--via", via, "--rate", str(rate), "--duration", str(seconds)]
    command += ["--devices", str(devices)]
    command += ["--seed", str(time.time_ns()), "--outputs", str(state / "outputs.json")]
    environment = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, env=environment)


def _processes(paths: Paths) -> dict[str, int]:
    api, dataplane = (int(paths.pid_file(name).read_text()) for name in ("api", "dataplane"))
    found = {"api": api, "dataplane": dataplane}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == api:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            function = re.search(r"ministack-lambda-(?P<name>[\w-]+?)-\w+/_worker", command)
            name = f"worker-{function['name'] if function else entry.name}"
            # A function with concurrency above one has a worker per concurrent invocation.
            found[name if name not in found else f"{name}-{entry.name}"] = int(entry.name)
    return found


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cpu(processes: dict[str, int]) -> dict[str, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for name, pid in processes.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        seconds[name] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def _calls(endpoint: str) -> dict[str, int]:
    with urllib.request.urlopen(endpoint + COUNTS_PATH, timeout=5) as response:
        return json.loads(response.read())


def _client(outputs: dict, service: str) -> Any:
    return local_clients(outputs["endpoint"], outputs["region"])(service)


def _item_count(outputs: dict) -> int:
    return _client(outputs, "dynamodb").describe_table(TableName=outputs["table"])["Table"]["ItemCount"]


def _wait_drained(outputs: dict, timeout: float = 120) -> None:
    sqs = _client(outputs, "sqs")
    deadline = time.monotonic() + timeout
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=outputs["queue_url"], AttributeNames=names)["Attributes"]
        if sum(int(attributes[name]) for name in names) == 0:
            return
        time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
