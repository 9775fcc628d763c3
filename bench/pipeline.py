"""make bench: how fast the pipeline runs on this machine, what each reading costs in AWS calls,
and how close it gets to the emulator's own limit. Not a test: it measures and writes results.

    .venv/bin/python bench/pipeline.py [--rates 100,250,500,1000,2000] [--step-seconds 60] [--backlog 50000]
                                       [--phases raw,ladder,drain,durability,memory] [--readings 100000]
                                       [--via sqs,mqtt] [--devices 200]

First `make up` itself (`python -m bootstrap up`, no simulator, a state folder and port of its own)
is timed from the command to the pipeline ready, then stopped (with the raw, ladder or drain phase).
Then phases, each front door (--via) on a freshly started embedded stack of its own (free port,
temporary state):
1. raw (on the first front door's stack): capacity of the emulator: SendMessageBatch,
   BatchWriteItem, GetRecords and PutRecordBatch loops, each with the concurrency the pipeline uses;
2. ladder, once per front door: offered rates from the simulator's devices, straight to the ingest
   queue (sqs: SendMessageBatch, as the topic rule would send) or each device its own MQTT
   connection over WebSocket through the topic rule (mqtt; the broker and the rules engine run in
   the API process). Per step: throughput, queue backlog each second, latency percentiles per
   stage from probe readings (sent by one more device through the same front door), CPU and peak
   memory per process, and AWS calls per 1,000 readings by operation; the ladder stops at the
   first rate whose backlog grows;
3. drain (on the first front door's stack, after its ladder): the ingest mapping is paused, the
   backlog is sent, the mapping resumed;
4. durability: what the journal costs: the SendMessageBatch and BatchWriteItem loops on two
   backends of their own, EMULATOR_JOURNAL=on and off, alternated;
5. memory: API memory (RSS) per 100,000 readings stored with their stream records, written, after
   a kill -9 and the journal's replay (timed), and after a clean restart.
Then issue 16's targets, each met or not from the run's own figures.
Results: bench/results/latest.{json,md,png} (and a timestamped copy of the JSON), or --out.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aws_calls.sessions import local_clients  # noqa: E402
from bootstrap.clients import client_factory  # noqa: E402
from bootstrap.cloudformation import deploy_stack  # noqa: E402
from bootstrap.config import DeployTarget, StackConfig  # noqa: E402
from device_data.messages import MessageFate  # noqa: E402
from device_data.table import DEFAULT_TTL_SECONDS, streamed_table  # noqa: E402
from emulator.call_counter import COUNTS_PATH  # noqa: E402
from emulator.lifecycle import DURABILITY_PATH, Paths, free_port, proc_stat, process_alive, start, stop  # noqa: E402
from emulator.settings import EmulatorSettings, JournalMode  # noqa: E402
from simulator.fleet import make_fleet  # noqa: E402
from simulator.payloads import Outgoing, Plan, PlanSettings  # noqa: E402
from simulator.sender import BATCH, Transport, send_run, senders_for  # noqa: E402
from simulator.transports import Via, opened  # noqa: E402

RAW_SECONDS = 5
CLIENT_CONFIG = Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3})
PROBE_INTERVAL = 0.5
ARCHIVE_PROBE_INTERVAL = 2.0
# A probe still unseen this long after the load stopped is given up (its latency is not counted).
PROBE_PATIENCE_SECONDS = 30
PROBE_DEVICE = "probe"
MQTT_LOOPS = 4
STAGE_OPERATIONS = (
    "sqs.ReceiveMessage",
    "sqs.DeleteMessageBatch",
    "lambda.Invoke",
    "dynamodb.BatchWriteItem",
    "dynamodbstreams.GetRecords",
    "firehose.PutRecordBatch",
    "s3.PutObject",
)
# Firehose's delivery to S3 runs inside the emulator: every s3.PutObject the API serves during a
# ladder is the archive function's.
ARCHIVE_PUT = "s3.PutObject"
HISTORY_PUT = "firehose.PutRecordBatch"


PROCESS_NAMES = ("api", "dataplane", "function_workers", "bench_and_simulator")


class Phase(StrEnum):
    RAW = "raw"
    LADDER = "ladder"
    DRAIN = "drain"
    DURABILITY = "durability"
    MEMORY = "memory"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,250,500,750,1000,2000")
    parser.add_argument("--step-seconds", type=float, default=60)
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--phases", default=",".join(Phase), help=f"any of {', '.join(Phase)} (default: all)")
    parser.add_argument("--readings", type=int, default=100_000, help="readings stored by the memory phase")
    parser.add_argument(
        "--via",
        default=f"{Via.SQS},{Via.MQTT}",
        help=f"front doors for the ladder, in order: any of {', '.join(Via)} (default: {Via.SQS},{Via.MQTT})",
    )
    parser.add_argument("--devices", type=int, default=200, help="simulated devices (mqtt: a connection each)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    try:
        phases = {Phase(name) for name in args.phases.split(",")}
        vias = [Via(name) for name in args.via.split(",")]
    except ValueError as error:
        parser.error(str(error))
    result: dict = {"machine": _machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if phases & {Phase.RAW, Phase.LADDER, Phase.DRAIN}:
        result["make_up_seconds"] = make_up_seconds()
        result.update(pipeline_phases(args, phases, vias))
    if Phase.DURABILITY in phases:
        result["durability_cost"] = durability_cost()
        print(json.dumps(result["durability_cost"]), flush=True)
    if Phase.MEMORY in phases:
        result["memory"] = memory(args.readings)
        print(json.dumps(result["memory"]), flush=True)
    result["targets"] = targets(result)
    write_results(result, Path(args.out))
    return 0


def pipeline_phases(args: argparse.Namespace, phases: set[Phase], vias: list[Via]) -> dict:
    """Raw capacity and the drain on the first front door's stack; a ladder on each front door's."""
    result: dict = {}
    rates = [float(r) for r in args.rates.split(",")] if Phase.LADDER in phases else []
    for via in vias if Phase.LADDER in phases else vias[:1]:
        first = via == vias[0]
        started = time.monotonic()
        with backend(progress=print) as settings:
            if first:
                result["emulator_start_seconds"] = round(time.monotonic() - started, 2)
            bench = Bench(settings, via, args.devices)
            if first and Phase.RAW in phases:
                result["raw_capacity"] = bench.raw_capacity()
            if not phases & {Phase.LADDER, Phase.DRAIN}:
                return result
            with bench.front_door() as connect_seconds:
                ladder = bench.ladder(rates, args.step_seconds)
                result.setdefault("ladders", {})[via.value] = {"connect_seconds": connect_seconds, **ladder}
                if first and Phase.DRAIN in phases:
                    rate = short_queue_rate(ladder["steps"])
                    result["backlog_drain"] = {"via": via.value, **bench.drain(args.backlog, rate)}
                    print(json.dumps(result["backlog_drain"]), flush=True)
    return result


def make_up_seconds() -> float:
    """Seconds from `make up` (the embedded backend, the stack through CloudFormation, no simulator)
    to its return with the pipeline ready; the stack is stopped and its state removed after."""
    state = Path(tempfile.mkdtemp(prefix="bench-up-"))
    environment = {
        **os.environ,
        "EMULATOR_PORT": str(free_port()),
        "STATE_DIR": str(state),
        "SIM_RATE": "0",
        "BACKEND": "embedded",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    environment.pop("AWS_ENDPOINT_URL", None)
    command = [sys.executable, "-m", "bootstrap"]
    started = time.monotonic()
    try:
        subprocess.run([*command, "up"], env=environment, cwd=ROOT, check=True, capture_output=True)
        seconds = round(time.monotonic() - started, 2)
    finally:
        subprocess.run([*command, "down"], env=environment, cwd=ROOT, check=False, capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps({"make_up_seconds": seconds}), flush=True)
    return seconds


class Bench:
    # Set by front_door(): the devices' way in, which the ladder, its probes and the drain send through.
    transport: Transport

    def __init__(self, settings: EmulatorSettings, via: Via = Via.SQS, devices: int = 200):
        self.settings = settings
        self.via = via
        environment = {
            "AWS_ENDPOINT_URL": settings.endpoint,
            "STACK_ENV": "bench",
            "STATE_DIR": str(Path(settings.state_dir).parent),
            "HISTORY_BUFFER_SECONDS": "1",
        }
        config = StackConfig.from_env(DeployTarget.LOCAL, environment)
        self.client = client_factory(config)
        self.deployed_at = time.time()
        self.outputs = deploy_stack(config, progress=lambda _line: None).outputs
        clients = local_clients(settings.endpoint, settings.region, CLIENT_CONFIG)
        self.sqs, self.dynamodb, self.s3, self.cloudwatch = (
            clients(n) for n in ("sqs", "dynamodb", "s3", "cloudwatch")
        )
        self.rng = random.Random(42)
        self.fleet = make_fleet(devices, 0.0, self.rng)
        self.plan = Plan(self.fleet, PlanSettings(plain_json_ratio=0.2, through_rule=via.through_rule), self.rng)
        self.probe_count = 0
        self.archive_counts: dict[str, int] = {}

    @contextmanager
    def front_door(self) -> Iterator[float]:
        """The front door open for the devices and the probe device (mqtt: a connection each);
        yields the seconds it took to connect them."""
        began = time.monotonic()
        with opened(
            self.via,
            endpoint=self.settings.endpoint,
            queue_url=self.outputs["queue_url"],
            iot_endpoint=self.outputs.get("iot_endpoint"),
            device_ids=[*(device.device_id for device in self.fleet), PROBE_DEVICE],
            loops=MQTT_LOOPS,
            seed=1,
        ) as transport:
            self.transport = transport
            yield round(time.monotonic() - began, 2)

    # -- phase 1 ---------------------------------------------------------------------------------------

    def raw_capacity(self) -> dict:
        # Clients of their own: the raw loops do not share connection pools with the ladder's.
        client = local_clients(self.settings.endpoint, self.settings.region, CLIENT_CONFIG)
        streams, firehose = client("dynamodbstreams"), client("firehose")
        loops = RawLoops(self.settings, raw_item)
        send, write, dynamodb = loops.send, loops.write, loops.dynamodb

        def put_history():
            firehose.put_record_batch(
                DeliveryStreamName=self.outputs["delivery_stream"],
                Records=[{"Data": b'{"bench": true}\n'} for _ in range(100)],
            )
            return 100

        figures = {
            "send_message_batch_msgs_per_s": _loop(send, threads=4),
            "batch_write_item_items_per_s": _loop(write, threads=2),
            "put_record_batch_records_per_s": _loop(put_history, threads=1),
        }
        stream_arn = dynamodb.describe_table(TableName=RawLoops.NAME)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        read, begun = 0, time.perf_counter()
        while iterator and time.perf_counter() - begun < RAW_SECONDS:
            response = streams.get_records(ShardIterator=iterator, Limit=100)
            read += len(response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
        figures["get_records_records_per_s"] = round(read / (time.perf_counter() - begun))
        loops.delete()
        return figures

    # -- phase 2 ---------------------------------------------------------------------------------------

    def ladder(self, rates: list[float], seconds: float) -> dict:
        """Warm-up, then a step per rate until one's backlog grows; with the best sustained step."""
        ladder: dict = {
            "devices": len(self.fleet),
            "cold_start_send_to_table_ms": self.warm_up(),
            "steps": [],
        }
        for rate in rates:
            step = self.ladder_step(rate, seconds)
            ladder["steps"].append(step)
            shown = ("offered_msgs_per_s", "consumed_msgs_per_s", "readings_per_s", "sustained", "latency_ms")
            print(json.dumps({"via": self.via.value, **{k: step[k] for k in shown}}), flush=True)
            if not step["sustained"]:
                break
        sustained = [s for s in ladder["steps"] if s["sustained"]]
        ladder["sustained_msgs_per_s"] = max((s["offered_msgs_per_s"] for s in sustained), default=0)
        ladder["sustained_readings_per_s"] = max((s["readings_per_s"] for s in sustained), default=0)
        return ladder

    def warm_up(self) -> float | None:
        """The first reading after deploy pays every function's cold start; the ladder measures the
        warm pipeline, so one reading goes through (and is timed) first, and a short load follows."""
        sent = self.send_probe()
        if sent is None:
            raise RuntimeError(f"the warm-up reading could not be sent through {self.via}")
        key, sent_at = sent
        readable = _wait(
            lambda: self.dynamodb.get_item(TableName=self.outputs["table"], Key=key).get("Item"),
            timeout=60,
            interval=0.01,
        )
        cold = None if readable is None else round(1000 * (time.monotonic() - sent_at))
        self.send(rate=50, count=200)
        _wait(lambda: self.backlog() == 0, timeout=60)
        return cold

    def ladder_step(self, rate: float, seconds: float) -> dict:
        backlog_limit = max(rate * 2, 200)
        items_before, calls_before, cpu_before = self.item_count(), self.calls(), self.cpu()
        invocations_before, generation_before = self.archive_invocations(), self.journal_generation()
        samples = []
        latencies: dict[str, list[float]] = {"send_to_table": [], "table_to_history": [], "expired_to_archive": []}
        stop_probes = threading.Event()
        probes = threading.Thread(target=self.probe, args=(latencies, stop_probes), daemon=True)
        probes.start()
        sender = threading.Thread(target=self.send, args=(rate, int(rate * seconds)), daemon=True)
        begun = time.monotonic()
        sender.start()
        while sender.is_alive():
            samples.append({"t": round(time.monotonic() - begun, 1), "backlog": self.backlog()})
            sender.join(timeout=1)
        duration = time.monotonic() - begun
        # Readings, calls and CPU over one span: to the drain's end, or (not drained) to the end of sending.
        end_backlog, at_end = self.backlog(), (self.item_count(), self.calls(), self.cpu())
        # The step is sustained when what was offered is consumed: the backlog stays bounded.
        sustained = end_backlog <= backlog_limit
        # No new probes once sending ends: with the ingest batching window (1 s), a probe every 0.5 s
        # keeps the queue from ever reading empty, and the drain (the consumed rate) waits on luck.
        stop_probes.set()
        drained_at = _wait(lambda: self.backlog() == 0, timeout=60 if sustained else 5)
        drained = drained_at is not None
        items_now, calls_now, cpu_now = (self.item_count(), self.calls(), self.cpu()) if drained else at_end
        items = items_now - items_before
        calls = {op: calls_now.get(op, 0) - calls_before.get(op, 0) for op in STAGE_OPERATIONS}
        cpu_used = {name: seconds_used - cpu_before.get(name, 0) for name, seconds_used in cpu_now.items()}
        offered = int(rate * seconds)
        # Sustained: everything offered was consumed, the tail after the last send included.
        # Not sustained: what was consumed while sending.
        consumed_messages = offered if drained else offered - end_backlog
        elapsed = duration + (drained_at or 0.0)
        # The archive's PUTs and invocations are read once the probes have ended (their readings in
        # the history and the archive, or given up), when no archive invocation is under way; Lambda
        # records an invocation once the function has returned, a moment after its PUT is seen.
        probes.join(timeout=PROBE_PATIENCE_SECONDS + 30)
        invocations = _settled(self.archive_invocations) - invocations_before
        archive_puts = self.calls().get(ARCHIVE_PUT, 0) - calls_before.get(ARCHIVE_PUT, 0)
        return {
            "offered_msgs_per_s": rate,
            "seconds": round(duration, 1),
            "consumed_msgs_per_s": round(consumed_messages / max(elapsed, 1e-9), 1),
            "readings_per_s": round(items / max(elapsed, 1e-9), 1),
            "stored_readings": items,
            "sustained": sustained,
            "backlog_at_end": end_backlog,
            "backlog": samples,
            "latency_ms": {stage: _percentiles(values) for stage, values in latencies.items()},
            "cpu_percent": {name: round(100 * used / max(elapsed, 1e-9), 1) for name, used in cpu_used.items()},
            "cpu_seconds_per_1000_readings": {
                name: round(1000 * used / max(items, 1), 3) for name, used in cpu_used.items()
            },
            "peak_rss_mb": self.peak_memory(),
            "calls": calls,
            "calls_per_1000_readings": {op: round(1000 * count / max(items, 1), 2) for op, count in calls.items()},
            "archive_puts": archive_puts,
            "archive_invocations": invocations,
            "history_objects": self.history_objects(),
            # A checkpoint holds every request while the live tables are encoded: the latency spikes.
            "checkpoints": self.journal_generation() - generation_before,
        }

    def send(self, rate: float, count: int) -> None:
        send_run(self.transport, self.plan.batches(count, BATCH), rate, senders=senders_for(rate))

    def probe(self, latencies: dict, stop_probes: threading.Event) -> None:
        """Probe readings through the pipeline: send -> item in the table -> line in the history;
        and backdated probes: send -> archived (TTL sweep, stream, archive function)."""
        pending_history: dict[str, float] = {}
        seen_objects: set[str] = set()
        archived_target, archive_sent = self.archived_count(), list[float]()
        next_archive_probe = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            while not stop_probes.is_set() or pending_history or archive_sent:
                if not stop_probes.is_set():
                    pool.submit(self.table_probe, latencies, pending_history)
                    if time.monotonic() >= next_archive_probe:
                        if sent := self.send_probe(backdated=True):
                            archive_sent.append(sent[1])
                        next_archive_probe = time.monotonic() + ARCHIVE_PROBE_INTERVAL
                self.find_history_lines(pending_history, seen_objects, latencies)
                archived_now = self.archived_count() - archived_target
                while archive_sent and archived_now >= len(latencies["expired_to_archive"]) + 1:
                    latencies["expired_to_archive"].append(1000 * (time.monotonic() - archive_sent.pop(0)))
                waiting_since = [*pending_history.values(), *archive_sent]
                if stop_probes.is_set() and min(waiting_since, default=time.monotonic()) < (
                    time.monotonic() - PROBE_PATIENCE_SECONDS
                ):
                    break
                time.sleep(PROBE_INTERVAL)

    def send_probe(self, backdated: bool = False) -> tuple[dict, float] | None:
        """A probe reading, of a device id of its own, sent by the probe device through the front
        door; its key and when it was sent, or None when the front door did not take it."""
        self.probe_count += 1
        created = int(time.time() * 1000) - (DEFAULT_TTL_SECONDS + 3600) * 1000 * backdated
        device = f"probe-{'x' if backdated else 'p'}-{self.probe_count}"
        text = json.dumps({"things_name": device, "timestamp": created, "data": {"probe": 1}})
        message = Outgoing(
            text,
            PROBE_DEVICE,
            "probe",
            MessageFate.STORED,
            ((device, created),),
            expired=backdated,
            payload=text.encode(),
        )
        sent = time.monotonic()
        if self.transport.send([message]):
            return None
        return {"deviceID": {"S": device}, "createdAt": {"N": str(created)}}, sent

    def table_probe(self, latencies: dict, pending_history: dict) -> None:
        if (probe := self.send_probe()) is None:
            return
        key, sent = probe
        deadline = sent + 60
        while time.monotonic() < deadline:
            if self.dynamodb.get_item(TableName=self.outputs["table"], Key=key).get("Item"):
                now = time.monotonic()
                latencies["send_to_table"].append(1000 * (now - sent))
                pending_history[key["deviceID"]["S"]] = now
                return
            # Fine-grained while it is fast, then backing off: a probe must not load the API it measures.
            waited = time.monotonic() - sent
            time.sleep(0.01 if waited < 0.2 else 0.05 if waited < 2 else 0.25)

    def find_history_lines(self, pending: dict, seen_objects: set, latencies: dict) -> None:
        if not pending:
            return
        listed = self.s3.list_objects_v2(
            Bucket=self.outputs["history_bucket"],
            Prefix=self.outputs["history_prefix"],
            StartAfter=max(seen_objects) if seen_objects else "",
        ).get("Contents", [])
        for entry in listed:
            if entry["Key"] in seen_objects:
                continue
            seen_objects.add(entry["Key"])
            body = self.s3.get_object(Bucket=self.outputs["history_bucket"], Key=entry["Key"])["Body"].read()
            now = time.monotonic()
            for device in [d for d in pending if f'"deviceID": "{d}"'.encode() in body]:
                latencies["table_to_history"].append(1000 * (now - pending.pop(device)))

    # -- phase 3 ---------------------------------------------------------------------------------------

    def drain(self, backlog: int, short_queue_rate: float | None) -> dict:
        """The drain of exactly `backlog` messages from an empty queue, against the short-queue rate."""
        # The ladder's last step (not sustained) leaves its backlog behind: counted into the drain, it
        # made the measured backlog the ladder's, not `backlog`. It is consumed first, on this stack
        # (the same table and warm functions the short-queue rate was measured with).
        leftover = self.backlog()
        patience = leftover_patience(leftover, short_queue_rate)
        leftover_seconds = _wait(lambda: self.backlog() == 0, timeout=patience, interval=1)
        if leftover_seconds is None:
            return {
                "messages": 0,
                "short_queue_msgs_per_s": short_queue_rate,
                "ratio": None,
                "completed": False,
                "leftover_backlog": leftover,
                "not_drained_after_seconds": round(patience),
            }
        lambda_ = self.client("lambda")
        mapping = lambda_.list_event_source_mappings(FunctionName=self.outputs["functions"]["ingest"])[
            "EventSourceMappings"
        ][0]
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        status = Paths(Path(self.settings.state_dir)).status_file("dataplane")
        _wait(lambda: mapping["UUID"] not in json.loads(status.read_text()).get("running_mappings", []), timeout=30)
        self.send(rate=100_000, count=backlog)
        filled = self.backlog()
        begun = time.monotonic()
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
        drained = _wait(lambda: self.backlog() == 0, timeout=1800, interval=1)
        seconds = drained or (time.monotonic() - begun)
        rate = filled / seconds
        return {
            "messages": filled,
            "seconds": round(seconds, 1),
            "drain_msgs_per_s": round(rate, 1),
            "short_queue_msgs_per_s": short_queue_rate,
            "ratio": round(rate / short_queue_rate, 2) if short_queue_rate else None,
            "completed": bool(drained),
            "leftover_backlog": leftover,
            "leftover_drained_seconds": round(leftover_seconds, 1),
        }

    # -- observations ----------------------------------------------------------------------------------

    def backlog(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.outputs["queue_url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def item_count(self) -> int:
        return self.dynamodb.describe_table(TableName=self.outputs["table"])["Table"]["ItemCount"]

    def archived_count(self) -> int:
        """Items archived so far; each object's count is read once (archive objects never change)."""
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.outputs["archive_bucket"]):
            for entry in page.get("Contents", []):
                if entry["Key"] not in self.archive_counts:
                    head = self.s3.head_object(Bucket=self.outputs["archive_bucket"], Key=entry["Key"])
                    self.archive_counts[entry["Key"]] = int(head["Metadata"].get("item-count", 1))
        return sum(self.archive_counts.values())

    def history_objects(self) -> int:
        return sum(
            page.get("KeyCount", 0)
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.outputs["history_bucket"])
        )

    def archive_invocations(self) -> int:
        """The archive function's invocations so far: Lambda's Invocations metric in CloudWatch."""
        datapoints = self.cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Invocations",
            Dimensions=[{"Name": "FunctionName", "Value": self.outputs["functions"]["archive"]}],
            StartTime=datetime.fromtimestamp(self.deployed_at - 60, UTC),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        return round(sum(point["Sum"] for point in datapoints))

    def calls(self) -> dict:
        with urllib.request.urlopen(self.settings.endpoint + COUNTS_PATH, timeout=5) as response:
            return json.loads(response.read())

    def journal_generation(self) -> int:
        """The journal's generation: one more at each checkpoint."""
        with urllib.request.urlopen(self.settings.endpoint + DURABILITY_PATH, timeout=5) as response:
            return int(json.loads(response.read()).get("generation", 0))

    def processes(self) -> dict[str, list[int]]:
        paths = Paths(Path(self.settings.state_dir))
        api, dataplane = (int(paths.pid_file(name).read_text()) for name in ("api", "dataplane"))
        workers = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(int(p.name)) == api]
        return dict(zip(PROCESS_NAMES, ([api], [dataplane], workers, [os.getpid()]), strict=True))

    def cpu(self) -> dict[str, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        return {name: sum(_cpu_ticks(pid) for pid in pids) / ticks for name, pids in self.processes().items()}

    def peak_memory(self) -> dict[str, float]:
        return {
            name: round(max((_peak_rss_kb(pid) for pid in pids), default=0) / 1024, 1)
            for name, pids in self.processes().items()
        }


def raw_item(n: int) -> dict:
    return {"d": {"S": f"d{n % 97}"}, "c": {"N": str(n)}, "t": {"N": "21.5"}}


def reading_item(n: int) -> dict:
    """A reading as the ingest function stores it: 500 devices, a reading a second each."""
    device = f"dev-{n % 500:04d}"
    created = 1_760_000_000_000 + n * 1000
    return {
        "d": {"S": device},
        "c": {"N": str(created)},
        "expiredAt": {"N": str(created // 1000 + DEFAULT_TTL_SECONDS)},
        "sensorID": {"S": device + "-sen"},
        "topic": {"S": device + "/SENSOR/DAT"},
        "client_id": {"S": device},
        "temperature": {"N": f"{20 + (n % 1000) / 100:g}"},
        "humidity": {"N": f"{40 + (n % 300) / 10:g}"},
        "battery": {"N": f"{3.7 - (n % 500) / 1000:g}"},
    }


class RawLoops:
    """A queue and a streamed table (NEW_AND_OLD_IMAGES, as the pipeline's) to send and write to
    as fast as the emulator takes it."""

    NAME = "bench_raw"

    def __init__(self, settings: EmulatorSettings, item: Callable[[int], dict]):
        client = local_clients(settings.endpoint, settings.region, CLIENT_CONFIG)
        self.sqs, self.dynamodb = client("sqs"), client("dynamodb")
        self.item = item
        self.queue = self.sqs.create_queue(QueueName=self.NAME)["QueueUrl"]
        self.dynamodb.create_table(**streamed_table(self.NAME, "d", "c"))
        self._batches = iter(range(10**9))
        self._lock = threading.Lock()

    def send(self) -> int:
        self.sqs.send_message_batch(
            QueueUrl=self.queue, Entries=[{"Id": str(n), "MessageBody": "x" * 150} for n in range(10)]
        )
        return 10

    def write(self) -> int:
        with self._lock:
            first = next(self._batches) * 25
        requests = [{"PutRequest": {"Item": self.item(first + n)}} for n in range(25)]
        self.dynamodb.batch_write_item(RequestItems={self.NAME: requests})
        return 25

    def delete(self) -> None:
        self.dynamodb.delete_table(TableName=self.NAME)
        self.sqs.delete_queue(QueueUrl=self.queue)


@contextmanager
def backend(
    journal: JournalMode | None = None, progress: Callable[[str], None] = lambda _line: None
) -> Iterator[EmulatorSettings]:
    """An embedded backend of its own (free port, temporary state), with EMULATOR_JOURNAL=`journal`
    when one is given; stopped and its state removed on the way out."""
    state = Path(tempfile.mkdtemp(prefix=f"bench-{journal or 'stack'}-"))
    settings = EmulatorSettings(port=free_port(), state_dir=str(state / "embedded"))
    previous = os.environ.get("EMULATOR_JOURNAL")
    if journal is not None:
        os.environ["EMULATOR_JOURNAL"] = journal.value  # the API process reads it at its start
    try:
        start(settings, progress=progress)
        yield settings
    finally:
        stop(settings, progress=progress)
        if previous is None:
            os.environ.pop("EMULATOR_JOURNAL", None)
        else:
            os.environ["EMULATOR_JOURNAL"] = previous
        shutil.rmtree(state, ignore_errors=True)


DURABILITY_ROUNDS = 5


def durability_cost() -> dict:
    """Raw SendMessageBatch and BatchWriteItem (pipeline readings) with the journal on and off,
    alternated round by round so that both see the same load on the machine. Reported: the
    medians of throughput, and of the API process's CPU time per 1,000 messages or items, which
    the machine's other load disturbs much less (the API process is the bottleneck: one core)."""
    modes = (JournalMode.ON, JournalMode.OFF)
    operations = ("send_message_batch", "batch_write_item")
    rates: dict[str, dict[str, list[int]]] = {mode: {op: [] for op in operations} for mode in modes}
    cpu_ms: dict[str, dict[str, list[float]]] = {mode: {op: [] for op in operations} for mode in modes}
    with backend(JournalMode.ON) as journaled, backend(JournalMode.OFF) as plain:
        settings = {JournalMode.ON: journaled, JournalMode.OFF: plain}
        loops = {mode: RawLoops(settings[mode], reading_item) for mode in modes}
        for _round in range(DURABILITY_ROUNDS):
            for mode in modes:
                api = _api_pid(Paths(Path(settings[mode].state_dir)))
                for op, call, threads in (
                    ("send_message_batch", loops[mode].send, 4),
                    ("batch_write_item", loops[mode].write, 2),
                ):
                    ticks = _cpu_ticks(api)
                    rate = _loop(call, threads=threads)
                    seconds = (_cpu_ticks(api) - ticks) / os.sysconf("SC_CLK_TCK")
                    rates[mode][op].append(rate)
                    cpu_ms[mode][op].append(round(1000 * seconds / (rate * RAW_SECONDS / 1000), 1))

    def median(samples: dict[str, dict[str, list]]) -> dict[str, dict[str, float]]:
        return {mode: {op: statistics.median(values) for op, values in ops.items()} for mode, ops in samples.items()}

    throughput, cpu = median(rates), median(cpu_ms)
    on, off = JournalMode.ON, JournalMode.OFF
    return {
        "per_second": {"journal_on": throughput[on], "journal_off": throughput[off]},
        "api_cpu_ms_per_1000": {"journal_on": cpu[on], "journal_off": cpu[off]},
        "throughput_cost_percent": {
            op: round(100 * (1 - throughput[on][op] / throughput[off][op]), 1) for op in operations
        },
        "cpu_cost_percent": {op: round(100 * (cpu[on][op] / cpu[off][op] - 1), 1) for op in operations},
        "samples": {"per_second": rates, "api_cpu_ms_per_1000": cpu_ms},
    }


REPLAYED = re.compile(r"replayed the journal after a crash: .* in ([0-9.]+) s")


def memory(readings: int) -> dict:
    """API RSS per 100,000 readings with their stream records (24 h retention, as MiniStack keeps):
    written; after a kill -9 and the journal's replay; after a clean stop and start."""
    with backend(JournalMode.ON) as settings:
        paths = Paths(Path(settings.state_dir))
        loops = RawLoops(settings, reading_item)
        baseline = _rss_kb(_api_pid(paths))
        begun = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: loops.write(), range(readings // 25)))
        write_seconds = time.monotonic() - begun
        written = _rss_kb(_api_pid(paths))

        os.kill(_api_pid(paths), signal.SIGKILL)
        _wait(lambda: not process_alive(_api_pid(paths)), timeout=10, interval=0.05)
        begun = time.monotonic()
        start(settings, progress=lambda _line: None)
        restart_seconds = time.monotonic() - begun
        replay = REPLAYED.findall(paths.log_file("api").read_text())
        journal = paths.root / "journal"
        # The start's checkpoint compacts the replayed journal; measure once it is done.
        _wait(lambda: len(list(journal.glob("*.journal"))) == 1, timeout=300, interval=0.5)
        replayed = _settled_rss_kb(_api_pid(paths))
        items = loops.dynamodb.describe_table(TableName=RawLoops.NAME)["Table"]["ItemCount"]

        stop(settings, progress=lambda _line: None)
        start(settings, progress=lambda _line: None)
        restarted = _rss_kb(_api_pid(paths))
        readable = _stream_readable(settings)

    def per_100k(kb: int) -> float:
        return round((kb - baseline) / 1024 * 100_000 / readings, 1)

    return {
        "readings": readings,
        "items_after_replay": items,
        "write_seconds": round(write_seconds, 1),
        "api_rss_mb_per_100k_readings": {
            "written": per_100k(written),
            "after_kill_and_replay": per_100k(replayed),
            "after_clean_restart": per_100k(restarted),
        },
        "stream_readable_after_restart": readable,
        "replay_seconds": float(replay[-1]) if replay else None,
        "start_after_kill_seconds": round(restart_seconds, 1),
    }


def _stream_readable(settings: EmulatorSettings) -> bool:
    """The table's stream answers GetRecords from its oldest record (the memory figures are of a
    working backend, not of one that failed to load its state)."""
    client = local_clients(settings.endpoint, settings.region, CLIENT_CONFIG)
    streams = client("dynamodbstreams")
    arn = client("dynamodb").describe_table(TableName=RawLoops.NAME)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=10)["Records"]) == 10


def _api_pid(paths: Paths) -> int:
    return int(paths.pid_file("api").read_text())


def _settled_rss_kb(pid: int) -> int:
    """RSS once it stops moving: what a checkpoint copied and wrote is released a moment after."""
    return _settled(lambda: _rss_kb(pid), tolerance=1024, interval=1, timeout=30)


def _settled(read: Callable[[], int], tolerance: int = 0, interval: float = 0.5, timeout: float = 10) -> int:
    """A reading once two in a row, `interval` apart, differ by no more than `tolerance` (or at `timeout`)."""
    previous, current = None, read()
    deadline = time.monotonic() + timeout
    while (previous is None or abs(current - previous) > tolerance) and time.monotonic() < deadline:
        time.sleep(interval)
        previous, current = current, read()
    return current


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Target:
    """One of issue 16's targets: a figure of the run and the bound it must reach."""

    name: str
    bound: float
    at_most: bool  # the figure must be at most the bound (else at least)

    def row(self, via: str | None, measured: float | None) -> dict:
        if measured is None:
            status = Status.NOT_MEASURED
        elif (measured <= self.bound) if self.at_most else (measured >= self.bound):
            status = Status.MET
        else:
            status = Status.NOT_MET
        return {
            "target": self.name,
            "via": via,
            "measured": measured,
            "bound": f"{'<=' if self.at_most else '>='} {self.bound:g}",
            "status": status.value,
        }


class Status(StrEnum):
    """A target's verdict in the report."""

    MET = "met"
    NOT_MET = "not met"
    NOT_MEASURED = "not measured"


SUSTAINED = Target("sustained readings/s with a bounded backlog", 1000, at_most=False)
P99_AT_500 = Target("send->table p99 (ms) at 500 msg/s offered", 500, at_most=True)
P99_RATE = 500
RAW_SHARE = Target("best sustained readings/s / raw BatchWriteItem items/s", 0.5, at_most=False)
# Each reading stored is one INSERT record; the probes' TTL removals are not counted, so the
# figure is at most a little high.
HISTORY_CALLS = Target("PutRecordBatch per 100 stream records (readings stored)", 1, at_most=True)
ARCHIVE_PUTS = Target("archive PUTs per archive function invocation", 1, at_most=True)
DRAIN = Target("backlog drain rate / short-queue rate", 0.8, at_most=False)
CPU_BY_PROCESS = "CPU s per 1,000 readings by process in every step (measured: their sum at the best step)"


def targets(result: dict) -> list[dict]:
    """Issue 16's targets against the run's own figures: each per front door, but the drain (run
    once, on the first front door's stack); a target the run has no figure for is "not measured"."""
    ladders: dict[str, dict] = result.get("ladders") or {}
    vias: list[str | None] = list(ladders) or [None]
    raw = (result.get("raw_capacity") or {}).get("batch_write_item_items_per_s")
    rows = []
    for via in vias:
        steps = ladders[via].get("steps", []) if via is not None else []
        sustained = ladders[via]["sustained_readings_per_s"] if steps and via is not None else None
        rows += [
            SUSTAINED.row(via, sustained),
            P99_AT_500.row(via, _p99_at(steps, P99_RATE)),
            RAW_SHARE.row(via, round(sustained / raw, 2) if sustained is not None and raw else None),
            HISTORY_CALLS.row(via, _per(steps, lambda s: s["calls"].get(HISTORY_PUT, 0), "stored_readings", 100)),
            ARCHIVE_PUTS.row(via, _per(steps, lambda s: s["archive_puts"], "archive_invocations", 1)),
            cpu_row(via, steps),
        ]
    drain = result.get("backlog_drain") or {}
    rows.append(DRAIN.row(drain.get("via"), drain.get("ratio")))
    return rows


def short_queue_rate(steps: list[dict]) -> float | None:
    """Consumed msg/s of the ladder's best sustained step: the rate the pipeline keeps up with while
    the queue stays short (a step that is not sustained consumes from a growing queue)."""
    sustained = [step for step in steps if step["sustained"]]
    best = max(sustained, key=lambda step: step["offered_msgs_per_s"], default=None)
    return best["consumed_msgs_per_s"] if best else None


def leftover_patience(leftover: int, short_queue_rate: float | None) -> float:
    """Seconds to wait for the ladder's leftover backlog: 3 times its drain at the short-queue rate
    (at least 60 s), so a drain much slower than that is reported rather than waited out."""
    return max(60.0, 3 * leftover / short_queue_rate) if short_queue_rate else 60.0


def _p99_at(steps: list[dict], rate: float) -> float | None:
    at_rate = [step for step in steps if step["offered_msgs_per_s"] == rate]
    return at_rate[0]["latency_ms"]["send_to_table"].get("p99") if at_rate else None


def _per(steps: list[dict], count: Callable[[dict], int], denominator: str, scale: int) -> float | None:
    """`count` per `scale` of the steps' `denominator`, over the whole ladder."""
    total = sum(step.get(denominator, 0) for step in steps)
    return round(scale * sum(count(step) for step in steps) / total, 2) if total else None


def cpu_row(via: str | None, steps: list[dict]) -> dict:
    """Met when every step has the CPU seconds per 1,000 readings of every process."""
    if not steps:
        status, measured = Status.NOT_MEASURED, None
    else:
        complete = all(set(PROCESS_NAMES) <= set(step.get("cpu_seconds_per_1000_readings", {})) for step in steps)
        status = Status.MET if complete else Status.NOT_MET
        best = max(steps, key=lambda step: (step["sustained"], step["readings_per_s"]))
        measured = round(sum(best.get("cpu_seconds_per_1000_readings", {}).values()), 2)
    return {"target": CPU_BY_PROCESS, "via": via, "measured": measured, "bound": "present", "status": status.value}


def write_results(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (out / "latest.json").write_text(text + "\n")
    (out / f"{result['started_at'].replace(':', '')}.json").write_text(text + "\n")
    (out / "latest.md").write_text(markdown(result))
    if result.get("ladders"):
        chart(result, out / "latest.png")
    print(f"results: {out / 'latest.md'}")


FRONT_DOORS = {
    Via.SQS: "Straight to the ingest queue (SendMessageBatch of 10, as the topic rule's SQS action sends)",
    Via.MQTT: (
        "Each device its own MQTT connection over WebSocket, QoS 1, through the topic rule (the broker "
        "and the rules engine run in the API process); a send lasts until its PUBACK"
    ),
    Via.HTTPS: "The iot-data Publish API (QoS 1), through the topic rule",
}


def markdown(result: dict) -> str:
    lines = [f"# Pipeline benchmark, {result['started_at']}", "", f"Machine: {result['machine']}", ""]
    if result.get("targets"):
        lines += _targets_markdown(result["targets"])
    if "make_up_seconds" in result:
        lines += [
            f"`make up` to ready: {result['make_up_seconds']} s (target: 5 s). "
            f"Emulator start: {result.get('emulator_start_seconds')} s.",
            "",
        ]
    for via, ladder in (result.get("ladders") or {}).items():
        if ladder["steps"]:
            lines += _ladder_markdown(via, ladder)
    if "raw_capacity" in result:
        lines += [f"Raw emulator capacity: {result['raw_capacity']}", ""]
    if "backlog_drain" in result:
        lines += [drain_markdown(result["backlog_drain"]), ""]
    if "durability_cost" in result:
        cost = result["durability_cost"]
        throughput, cpu = cost["per_second"], cost["api_cpu_ms_per_1000"]
        lines += [
            "Journal cost (raw loops, medians of alternated rounds):",
            "",
            "| loop | per s, journal off / on | API CPU ms per 1,000, off / on | cost: throughput / CPU |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {op} | {throughput['journal_off'][op]:g} / {throughput['journal_on'][op]:g} "
            f"| {cpu['journal_off'][op]:g} / {cpu['journal_on'][op]:g} "
            f"| {cost['throughput_cost_percent'][op]:g}% / {cost['cpu_cost_percent'][op]:g}% |"
            for op in cost["cpu_cost_percent"]
        ]
        lines.append("")
    if "memory" in result:
        figures = result["memory"]
        per_100k = figures["api_rss_mb_per_100k_readings"]
        lines += [
            f"API memory per 100,000 readings with their stream records ({figures['readings']} written): "
            f"{per_100k['written']} MB written, {per_100k['after_kill_and_replay']} MB after a kill -9 and the "
            f"journal's replay ({figures['replay_seconds']} s), {per_100k['after_clean_restart']} MB after a "
            "clean restart.",
            "",
        ]
    return "\n".join(lines)


def _targets_markdown(rows: list[dict]) -> list[str]:
    lines = [
        "Issue 16's targets, from this run's figures:",
        "",
        "| target | via | measured | target | status |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        measured = "-" if row["measured"] is None else f"{row['measured']:g}"
        lines.append(f"| {row['target']} | {row['via'] or '-'} | {measured} | {row['bound']} | {row['status']} |")
    return [*lines, ""]


def drain_markdown(drain: dict) -> str:
    if drain["messages"] == 0:
        return (
            f"Backlog drain not measured: the ladder's leftover backlog of {drain['leftover_backlog']} was not "
            f"consumed within {drain['not_drained_after_seconds']} s."
        )
    leftover = drain.get("leftover_backlog")
    return (
        f"Backlog of {drain['messages']} (sent to an empty queue"
        + (
            f", after the ladder's leftover {leftover} drained in {drain['leftover_drained_seconds']} s"
            if leftover
            else ""
        )
        + f") drained in {drain['seconds']} s: {drain['drain_msgs_per_s']} msg/s, {drain['ratio']} of the "
        f"short-queue rate ({drain['short_queue_msgs_per_s']} msg/s, the best sustained step's consumed rate)."
    )


def _ladder_markdown(via: str, ladder: dict) -> list[str]:
    connected = f"{ladder['devices']} devices connected in {ladder['connect_seconds']} s. " if via == Via.MQTT else ""
    lines = [
        f"## The ladder through {via}",
        "",
        f"{FRONT_DOORS[Via(via)]}.",
        "",
        f"Sustained: **{ladder['sustained_msgs_per_s']:g} msg/s offered, "
        f"{ladder['sustained_readings_per_s']:g} readings/s** end to end with a bounded backlog.",
        "",
        f"{connected}First reading after deploy (cold functions), send to table: "
        f"{ladder['cold_start_send_to_table_ms']} ms.",
        "",
        "| offered msg/s | consumed msg/s | readings/s | sustained | backlog at end "
        "| send→table p50/p95/p99 ms | table→history p50/p99 ms | expired→archive p50/p99 ms "
        "| CPU % api / dataplane / functions / bench | checkpoints |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for step in ladder["steps"]:
        table, history, archive = (
            step["latency_ms"][k] for k in ("send_to_table", "table_to_history", "expired_to_archive")
        )
        cpu = step["cpu_percent"]
        lines.append(
            f"| {step['offered_msgs_per_s']:g} | {step['consumed_msgs_per_s']} | {step['readings_per_s']} "
            f"| {'yes' if step['sustained'] else 'no'} | {step['backlog_at_end']} "
            f"| {table.get('p50')}/{table.get('p95')}/{table.get('p99')} | {history.get('p50')}/{history.get('p99')} "
            f"| {archive.get('p50')}/{archive.get('p99')} | "
            f"{cpu.get('api')}/{cpu.get('dataplane')}/{cpu.get('function_workers')}/{cpu.get('bench_and_simulator')} "
            f"| {step.get('checkpoints', '')} |"
        )
    last = ladder["steps"][-1]
    lines += ["", "AWS calls per 1,000 readings (last step):", "", "| operation | calls |", "|---|---|"]
    lines += [f"| {op} | {count} |" for op, count in last["calls_per_1000_readings"].items()]
    lines += [
        "",
        "CPU seconds per 1,000 readings, by process:",
        "",
        "| step | api | dataplane | functions | bench |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| at {step['offered_msgs_per_s']:g} msg/s | "
        + " | ".join(str(step["cpu_seconds_per_1000_readings"][name]) for name in PROCESS_NAMES)
        + " |"
        for step in ladder["steps"]
    ]
    lines += ["", f"Peak memory (MB, last step): {last['peak_rss_mb']}", ""]
    return lines


def chart(result: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (make bench installs it)")
        return
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    highest = max(s["offered_msgs_per_s"] for ladder in result["ladders"].values() for s in ladder["steps"])
    throughput.plot([0, highest], [0, highest], "k--", label="offered")
    for via, ladder in result["ladders"].items():
        steps = ladder["steps"]
        offered = [s["offered_msgs_per_s"] for s in steps]
        throughput.plot(offered, [s["consumed_msgs_per_s"] for s in steps], "o-", label=f"{via}: consumed msg/s")
        throughput.plot(offered, [s["readings_per_s"] for s in steps], "s-", label=f"{via}: readings/s")
        for stage, style in (("send_to_table", "o-"), ("table_to_history", "s-"), ("expired_to_archive", "^-")):
            latency.plot(
                offered,
                [s["latency_ms"][stage].get("p99") or float("nan") for s in steps],
                style,
                label=f"{via}: {stage} p99",
            )
    throughput.set_xlabel("offered msg/s")
    throughput.set_title("Throughput")
    throughput.legend(fontsize=7)
    latency.set_xlabel("offered msg/s")
    latency.set_ylabel("ms")
    latency.set_yscale("log")
    latency.set_title("Latency p99")
    latency.legend(fontsize=7)
    figure.suptitle(f"IoT pipeline on the embedded backend ({result['machine']})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _loop(call, threads: int) -> int:
    deadline = time.monotonic() + RAW_SECONDS

    def worker() -> int:
        done = 0
        while time.monotonic() < deadline:
            done += call()
        return done

    begun = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: worker(), range(threads)))
    return round(total / (time.monotonic() - begun))


def _percentiles(values: list[float]) -> dict:
    if len(values) < 2:
        return {
            "samples": len(values),
            **({"p50": round(values[0]), "p95": round(values[0]), "p99": round(values[0])} if values else {}),
        }
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "samples": len(values),
        "p50": round(statistics.median(values)),
        "p95": round(cuts[94]),
        "p99": round(cuts[98]),
    }


def _wait(condition, timeout: float, interval: float = 0.2) -> float | None:
    begun = time.monotonic()
    while time.monotonic() - begun < timeout:
        if condition():
            return time.monotonic() - begun
        time.sleep(interval)
    return None


def _parent(pid: int) -> int:
    fields = proc_stat(pid)
    return int(fields[1]) if fields else -1


def _cpu_ticks(pid: int) -> int:
    fields = proc_stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def _peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _machine() -> str:
    import platform

    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.machine()}"
    return f"{os.cpu_count()} cores, {memory_gb:.0f} GiB, {system}, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
