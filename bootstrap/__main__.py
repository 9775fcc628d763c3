"""python -m bootstrap deploy|teardown|outputs|status|up|down|clean|logs [--target local|aws]

The stack's settings are read by bootstrap.config; `up` also reads:

| variable  | default | meaning                                                             |
|-----------|---------|---------------------------------------------------------------------|
| BACKEND   | auto    | `auto`, `embedded` or `localstack` (--backend)                      |
| SIM_RATE  | 5       | readings/s of the background simulator, 0: none (--simulator-rate)  |
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError

from bootstrap.clients import client_factory
from bootstrap.config import DeployTarget, StackConfig
from bootstrap.deploy import UNCHANGED, Deployer
from bootstrap.local_stack import Backend, StackError, backend_problems, clean, down, simulator_pid, up
from bootstrap.outputs import outputs, outputs_path, stage_counts, write_outputs
from bootstrap.package import PackagingError
from bootstrap.stack import declare
from emulator.lifecycle import EmulatorError
from env_settings.reader import SettingError, number, one_of

COMMANDS = ["deploy", "teardown", "outputs", "status", "up", "down", "clean", "logs"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap", description="Deploy and run the IoT pipeline.")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "--target",
        type=DeployTarget,
        choices=list(DeployTarget),
        default=DeployTarget.LOCAL,
        help="local (default): only loopback or the compose service; aws: a real account, on purpose",
    )
    parser.add_argument(
        "--backend", type=Backend, choices=list(Backend), help="up: auto, embedded or localstack (default: BACKEND)"
    )
    parser.add_argument(
        "--simulator-rate",
        type=float,
        help="up: messages/s the background simulator sends, 0: no simulator (default: SIM_RATE)",
    )
    parser.add_argument("--since", type=int, default=300, help="logs: seconds of history to show first")
    args = parser.parse_args(argv)
    try:
        config = StackConfig.from_env(args.target)
        if args.command == "outputs":
            path = outputs_path(config.state_dir)
            if not path.exists():
                raise StackError(f"no outputs yet ({path}): deploy first (make up)")
            print(path.read_text(), end="")
        elif args.command == "up":
            started = time.monotonic()
            requested = args.backend or one_of(os.environ, "BACKEND", Backend.AUTO)
            rate = args.simulator_rate if args.simulator_rate is not None else number(os.environ, "SIM_RATE", 5)
            backend = up(config, requested, rate, lambda: _deploy(config))
            _print_welcome(config, backend, rate, time.monotonic() - started)
        elif args.command == "down":
            down(config)
        elif args.command == "clean":
            clean(config)
        elif args.command == "deploy":
            _deploy(config)
        else:
            client = client_factory(config)
            stack = declare(config, client("sts").get_caller_identity()["Account"])
            deployer = Deployer(client, progress=print)
            if args.command == "teardown":
                removed = deployer.teardown(stack)
                outputs_path(config.state_dir).unlink(missing_ok=True)
                print(f"removed {len(removed)} resources" if removed else "nothing to remove")
            elif args.command == "status":
                report = stage_counts(outputs(stack, deployer.queue_url), client)
                report["simulator_running"] = bool(simulator_pid(outputs_path(config.state_dir).parent))
                report["backend_problems"] = backend_problems(config)
                print(json.dumps(report, indent=2))
            else:
                _follow_logs(
                    client("logs"), [f"/aws/lambda/{function.name}" for function in stack.functions], args.since
                )
    except (SettingError, PackagingError, StackError, EmulatorError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError, TimeoutError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _deploy(config: StackConfig) -> None:
    client = client_factory(config)
    stack = declare(config, client("sts").get_caller_identity()["Account"])
    deployer = Deployer(client, progress=print)
    where = config.endpoint or f"AWS account {stack.account_id} in {config.region}"
    print(f"deploying {config.env} to {where}")
    changes = deployer.deploy(stack)
    path = write_outputs(outputs(stack, deployer.queue_url), config.state_dir)
    changed = [change for change in changes if change.action != UNCHANGED]
    print(f"{len(changed)} changes, {len(changes) - len(changed)} resources unchanged" if changed else "no changes")
    print(f"outputs: {path}")


def _print_welcome(config: StackConfig, backend: str, rate: float, seconds: float) -> None:
    values = json.loads(outputs_path(config.state_dir).read_text())
    simulator = f"sending {rate:g} readings/s to {values['queue_url']}" if rate > 0 else "not started (SIM_RATE=0)"
    print(f"""
The pipeline is up ({backend} backend, {seconds:.1f} s) on {values["endpoint"]}
  simulator   {simulator}
  table       {values["table"]}
  history     s3://{values["history_bucket"]}/{values["history_prefix"]}
  archive     s3://{values["archive_bucket"]}/{values["archive_prefix"]}

Next:
  make status                       what each stage holds now
  make logs                         follow the three functions' logs
  make simulate ARGS="--rate 200 --duration 30 --bad-ratio 0.05"
  awslocal dynamodb scan --table-name {values["table"]} --max-items 3
  make down                         stop everything (data is kept; make clean wipes it)""")


def _follow_logs(logs, groups: list[str], since_seconds: int) -> None:
    """Like `aws logs tail --follow` (AWS CLI v2 only) for the function log groups."""
    start = int((time.time() - since_seconds) * 1000)
    seen: set[str] = set()
    while True:
        for group in groups:
            try:
                pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start)
                for page in pages:
                    for event in page.get("events", []):
                        # Not every emulator sets eventId; stream, time and text identify an event too.
                        identity = (
                            event.get("eventId")
                            or f"{event.get('logStreamName')}|{event['timestamp']}|{event['message']}"
                        )
                        if identity not in seen:
                            seen.add(identity)
                            print(f"{group.rsplit('/', 1)[1]:>28} | {event['message'].rstrip()}", flush=True)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
