"""python -m bootstrap template|deploy|teardown|outputs|status|up|down|clean|logs [--target local|aws]

`template` writes the CloudFormation template to dist/<stack>.json; `deploy` (and `up`) deploy it,
`teardown` deletes the stack, `outputs` and `status` read the stack's Outputs (bootstrap.cloudformation).

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

from aws_calls.sessions import ClientFactory
from bootstrap.backend_check import check_backend
from bootstrap.clients import client_factory
from bootstrap.cloudformation import DeployError, StackNotDeployed, deploy_stack, stack_outputs, teardown
from bootstrap.config import DeployTarget, StackConfig
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
from bootstrap.outputs import outputs_path, stage_counts
from bootstrap.package import ROOT, PackagingError
from bootstrap.stack import FunctionRole
from bootstrap.template import stack_name, template_body
from device_data.archive import RemovalsWithoutIdentity
from emulator.lifecycle import EmulatorError
from emulator.settings import EmulatorSettings
from env_settings.reader import SettingError, number, one_of

COMMANDS = ["template", "deploy", "teardown", "outputs", "status", "up", "down", "clean", "logs"]


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
        return _run(args)
    except (SettingError, PackagingError, StackError, EmulatorError, DeployError, StackNotDeployed) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError, TimeoutError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    config = StackConfig.from_env(args.target)
    emulator = EmulatorSettings.from_env()
    if args.command == "template":
        path = ROOT / "dist" / f"{stack_name(config)}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(template_body(config))
        print(path)
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
    elif args.command == "teardown":
        _check_backend(config, emulator, args.command)
        removed = teardown(config)
        outputs_path(config.state_dir).unlink(missing_ok=True)
        print(f"deleted stack {stack_name(config)}" if removed else f"stack {stack_name(config)} is not deployed")
    else:
        _check_backend(config, emulator, args.command)
        client = client_factory(config)
        values = stack_outputs(client, config)
        if args.command == "outputs":
            print(json.dumps(values, indent=2))
        elif args.command == "status":
            return _status(config, emulator, values, client)
        else:
            follow_logs(
                client("logs"),
                log_groups(values["functions"], args.function),
                parse_since(args.since),
                emit=lambda line: print(line, flush=True),
            )
    return 0


def _status(config: StackConfig, emulator: EmulatorSettings, values: dict, client: ClientFactory) -> int:
    report = {"endpoint": config.endpoint, **stage_counts(values, client)}
    report["simulator_running"] = (
        compose_service_running("simulator")
        if recorded_backend(config.state_dir) == Backend.LOCALSTACK
        else bool(simulator_pid(outputs_path(config.state_dir).parent))
    )
    report["backend_problems"] = backend_problems(config, emulator)
    print(json.dumps(report, indent=2))
    # Below the counts, where it is seen, and in the exit status, for scripts.
    for problem in report["backend_problems"]:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if report["backend_problems"] else 0


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
    deploy_stack(config, removals_without_identity=_removals_without_identity(config))
    print(f"outputs: {outputs_path(config.state_dir)}")


def _removals_without_identity(config: StackConfig) -> RemovalsWithoutIdentity:
    """LocalStack's TTL deletes carry no userIdentity: only there do the functions infer them."""
    on_localstack = config.is_local and recorded_backend(config.state_dir) == Backend.LOCALSTACK
    return RemovalsWithoutIdentity.TTL_IF_EXPIRED if on_localstack else RemovalsWithoutIdentity.MANUAL


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
  eval "$(make -s env)"             this shell: endpoint, dummy keys, the venv's aws and awslocal
  aws dynamodb scan --table-name {values["table"]} --max-items 3
  make down                         stop everything ({kept}; make clean wipes .state)""")


if __name__ == "__main__":
    sys.exit(main())
