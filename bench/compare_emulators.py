"""Measure the two PyPI-installable AWS emulators on this machine, the same loops against each.

    .venv/bin/python bench/compare_emulators.py            # prints a Markdown table and JSON

Starts moto's server and MiniStack on free loopback ports, runs SQS send/drain, BatchWriteItem
(1 and 4 threads) and Streams GetRecords loops, and stops them. Figures vary with the machine's
load: compare the two columns of one run, not runs of different days.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from botocore.config import Config

from aws_calls.sessions import local_clients
from device_data.table import streamed_table
from emulator.lifecycle import free_port

MESSAGES = 3000
WRITE_CALLS = 200
DRAIN_LIMIT_SECONDS = 30


def start(command: list[str], env: dict, port: int, health_path: str) -> subprocess.Popen:
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{health_path}", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command[0]} did not start")


def measure(endpoint: str) -> dict:
    client = local_clients(endpoint, config=Config(max_pool_connections=16, retries={"max_attempts": 1}))
    sqs, dynamodb, streams = (client(name) for name in ("sqs", "dynamodb", "dynamodbstreams"))
    figures = {}
    queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
    started = time.perf_counter()
    for _ in range(0, MESSAGES, 10):
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": "x" * 200} for n in range(10)])
    figures["sqs_send_msgs_per_s"] = round(MESSAGES / (time.perf_counter() - started))
    started, drained = time.perf_counter(), 0
    while drained < MESSAGES and time.perf_counter() - started < DRAIN_LIMIT_SECONDS:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )
        drained += len(messages)
    figures["sqs_drain_msgs_per_s"] = round(drained / (time.perf_counter() - started))
    dynamodb.create_table(**streamed_table("bench", "d", "c"))

    def write(call: int) -> None:
        dynamodb.batch_write_item(
            RequestItems={
                "bench": [
                    {
                        "PutRequest": {
                            "Item": {
                                "d": {"S": f"d{call % 50}"},
                                "c": {"N": str(call * 25 + n)},
                                "v": {"N": "21.5"},
                                "s": {"S": "x" * 100},
                            }
                        }
                    }
                    for n in range(25)
                ]
            }
        )

    for threads in (1, 4):
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(write, range(threads * 1000, threads * 1000 + WRITE_CALLS)))
        figures[f"batch_write_items_per_s_{threads}_threads"] = round(
            WRITE_CALLS * 25 / (time.perf_counter() - started)
        )
    stream_arn = dynamodb.describe_table(TableName="bench")["Table"]["LatestStreamArn"]
    started, read = time.perf_counter(), 0
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            read += len(response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    figures["stream_records_per_s"] = round(read / (time.perf_counter() - started))
    return figures


def main() -> int:
    bin_dir = Path(sys.executable).parent
    results = {}
    moto_port, ministack_port = free_port(), free_port()
    servers = {
        "moto": ([str(bin_dir / "moto_server"), "-p", str(moto_port)], {}, moto_port, "/moto-api/"),
        "ministack": (
            [sys.executable, "-m", "ministack"],
            {
                "GATEWAY_PORT": str(ministack_port),
                "BIND_HOST": "127.0.0.1",
                "IOT_MTLS_ENABLED": "0",
                "SFTP_ENABLED": "0",
                "LOG_LEVEL": "WARNING",
            },
            ministack_port,
            "/_ministack/health",
        ),
    }
    for name, (command, env, port, health) in servers.items():
        process = start(command, env, port, health)
        try:
            results[name] = measure(f"http://127.0.0.1:{port}")
        finally:
            process.terminate()
            process.wait(timeout=20)
    print("| figure | moto | ministack |\n|---|---|---|")
    for figure in results["moto"]:
        print(f"| {figure} | {results['moto'][figure]} | {results['ministack'][figure]} |")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
