"""python -m bootstrap deploy|teardown|outputs|status|up|down|clean|logs [--target local|aws]

The stack's settings are read by bootstrap.config; `up` also reads:

| variable  | default | meaning                                                             |
|-----------|---------|---------------------------------------------------------------------|
| BACKEND   | auto    | `auto`, `embedded` or `localstack` (--backend)                      |
| SIM_RATE  | 5       | messages/s of the background simulator, 0: none (--simulator-rate)  |
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError

from bootstrap.backend_check import check_backend
from bootstrap.clients import client_factory
from bootstrap.config import DeployTarget, StackConfig
from bootstrap.deploy import UNCHANGED, Deployer, DeployError
from bootstrap.local_stack import (
    Backend,
    StackError,
    backend_problems,
    check_endpoint_is_the_emulators,
    clean,
    compose_service_running,
    down,
    recorded_backend,
    simulator_pid,
    up,
)
from bootstrap.logs import follow_logs, log_groups, parse_since
from bootstrap.outputs import outputs, outputs_path, stage_counts, write_outputs
from bootstrap.package import PackagingError
from bootstrap.stack import FunctionRole, declare
from emulator.lifecycle import EmulatorError
from emulator.settings import EmulatorSettings
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
    parser.add_argument("--since", default="5m", help="logs: how far back to start: 30s, 10m, 2h, 1d (default 5m)")
    parser.add_argument(
        "--function", type=FunctionRole, choices=list(FunctionRole), help="logs: only this function (default: all)"
    )
    args = parser.parse_args(argv)
    try:
        config = StackConfig.from_env(args.target)
        emulator = EmulatorSettings.from_env()
        if args.command == "outputs":
            path = outputs_path(config.state_dir)
            if not path.exists():
                raise StackError(f"no outputs yet ({path}): deploy first (make up)")
            print(path.read_text(), end="")
        elif args.command == "up":
            started = time.monotonic()
            requested = args.backend or one_of(os.environ, "BACKEND", Backend.AUTO)
            rate = args.simulator_rate if args.simulator_rate is not None else number(os.environ, "SIM_RATE", 5)
            backend = up(config, emulator, requested, rate, lambda: _deploy(config, emulator))
            _print_welcome(config, backend, rate, time.monotonic() - started)
        elif args.command == "down":
            down(config, emulator)
        elif args.command == "clean":
            clean(config, emulator)
        elif args.command == "deploy":
            _deploy(config, emulator)
        else:
            _check_backend(config, emulator, args.command)
            client = client_factory(config)
            stack = declare(config, client("sts").get_caller_identity()["Account"])
            deployer = Deployer(client, progress=print)
            if args.command == "teardown":
                removed = deployer.teardown(stack)
                outputs_path(config.state_dir).unlink(missing_ok=True)
                print(f"removed {len(removed)} resources" if removed else "nothing to remove")
            elif args.command == "status":
                report = {"endpoint": config.endpoint, **stage_counts(outputs(stack, deployer.queue_url), client)}
                report["simulator_running"] = (
                    compose_service_running("simulator")
                    if recorded_backend(config.state_dir) == Backend.LOCALSTACK
                    else bool(simulator_pid(outputs_path(config.state_dir).parent))
                )
                report["backend_problems"] = backend_problems(config, emulator)
                print(json.dumps(report, indent=2))
            else:
                follow_logs(
                    client("logs"),
                    log_groups(stack, args.function),
                    parse_since(args.since),
                    emit=lambda line: print(line, flush=True),
                )
    except (SettingError, PackagingError, StackError, EmulatorError, DeployError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError, TimeoutError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _check_backend(config: StackConfig, emulator: EmulatorSettings, command: str) -> None:
    """On a local target, fail fast unless the endpoint is this stack's backend (before any
    client is built, so nothing waits on the SDK's retries)."""
    if not config.endpoint:
        return
    recorded = recorded_backend(config.state_dir)
    if recorded == Backend.EMBEDDED:
        check_endpoint_is_the_emulators(config.endpoint, emulator)
    check_backend(config.endpoint, recorded, emulator, command)


def _deploy(config: StackConfig, emulator: EmulatorSettings) -> None:
    _check_backend(config, emulator, "deploy")
    client = client_factory(config)
    stack = declare(config, client("sts").get_caller_identity()["Account"])
    deployer = Deployer(client, progress=print)
    where = config.endpoint or f"AWS account {stack.account_id} in {config.region}"
    print(f"deploying {config.env} to {where}")
    changes = deployer.deploy(stack)
    path = write_outputs(outputs(stack, deployer.queue_url, deployer.iot_endpoint(stack)), config.state_dir)
    changed = [change for change in changes if change.action != UNCHANGED]
    print(f"{len(changed)} changes, {len(changes) - len(changed)} resources unchanged" if changed else "no changes")
    print(f"outputs: {path}")


def _print_welcome(config: StackConfig, backend: str, rate: float, seconds: float) -> None:
    values = json.loads(outputs_path(config.state_dir).read_text())
    device_endpoint = values.get("iot_endpoint")
    queue = values["queue_url"].rsplit("/", 1)[-1]
    target = f"devices over MQTT at {device_endpoint}" if device_endpoint else f"the queue {queue}"
    simulator = f"sending {rate:g} messages/s to {target}" if rate > 0 else "not started (SIM_RATE=0)"
    devices = (
        f"\n  devices     {device_endpoint} -> <thing>/SENSOR/DAT -> rule {values['iot_topic_rule']} -> "
        f"{values['queue_url'].rsplit('/', 1)[-1]} (failures: {values['iot_errors_queue_url'].rsplit('/', 1)[-1]})"
        if device_endpoint
        else ""
    )
    # On LocalStack, outputs.json names the endpoint as the bootstrap container saw it (localstack:4566).
    endpoint = config.endpoint or values["endpoint"]
    kept = "LocalStack Community keeps no data" if backend == Backend.LOCALSTACK else "data is kept"
    print(f"""
The pipeline is up ({backend} backend, {seconds:.1f} s) on {endpoint}{devices}
  simulator   {simulator}
  table       {values["table"]}
  history     s3://{values["history_bucket"]}/{values["history_prefix"]}
  archive     s3://{values["archive_bucket"]}/{values["archive_prefix"]}

Next:
  make status                       what each stage holds now
  make logs                         follow the three functions' logs
  make simulate ARGS="--rate 200 --duration 30 --bad-ratio 0.05"
  awslocal dynamodb scan --table-name {values["table"]} --max-items 3
  make down                         stop everything ({kept}; make clean wipes .state)""")


if __name__ == "__main__":
    sys.exit(main())
