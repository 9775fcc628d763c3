"""python -m simulator --rate 20 --duration 60 [--via mqtt|https|sqs --devices 50 --bad-ratio 0.05 ...]

Devices publish sensor JSON to their own `<thing>/SENSOR/DAT` through IoT Core (MQTT, or HTTPS),
or it goes to the ingest queue as the IoT rule's SQS action would send it (sqs); with --report it
writes what it sent and what the pipeline should make of it (items, filtered, dead-lettered,
parked by the rule's error action).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from aws_calls.sessions import local_endpoint
from device_data.messages import STAGING_APP_ENV, MessageFate
from device_data.table import DEFAULT_TTL_SECONDS
from env_settings.reader import SettingError
from simulator.fleet import make_fleet
from simulator.mqtt_sender import MqttConnectError
from simulator.payloads import Plan, PlanSettings
from simulator.sender import BATCH, Tally, send_run, senders_for
from simulator.transports import Via, default_via, opened


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.count is None and args.duration is None:
        args.duration = 60
    # --duration 0: until stopped (SIGTERM), as `make up` runs it.
    total = args.count if args.count is not None else (int(args.rate * args.duration) if args.duration else None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.rate < 0:
        print(f"error: --rate {args.rate:g} is negative (0: send nothing)", file=sys.stderr)
        return 2
    if args.rate == 0:
        # SIM_RATE=0 under Compose: the service stays up, idle, so `up --wait` sees it running.
        print("rate 0: sending nothing", file=sys.stderr, flush=True)
        if total is None:
            while True:
                signal.pause()
        return 0
    deployed = _read_outputs(args.outputs)
    queue_url = args.queue_url or deployed.get("queue_url")
    via = args.via
    try:
        endpoint = local_endpoint(os.environ)
        if via is None:
            via, why = default_via(deployed)
            if why:
                print(why, file=sys.stderr)
    except SettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not queue_url and via == Via.SQS:
        print(
            "error: no queue: give --queue-url, or deploy first so .state/outputs.json exists (make up)",
            file=sys.stderr,
        )
        return 2
    rng = random.Random(args.seed)
    plan = Plan(
        make_fleet(args.devices, args.staging_share, rng),
        PlanSettings(
            ttl_seconds=args.ttl,
            bad_ratio=args.bad_ratio,
            backdate_ratio=args.backdate_ratio,
            plain_json_ratio=args.plain_json_ratio,
            staging=os.environ.get("APP_ENV") == STAGING_APP_ENV,
            through_rule=via.through_rule,
        ),
        rng,
    )

    senders = args.senders or senders_for(args.rate)
    try:
        with opened(
            via,
            endpoint=endpoint,
            queue_url=queue_url,
            iot_endpoint=args.iot_endpoint or deployed.get("iot_endpoint"),
            device_ids=[device.device_id for device in plan.devices],
            loops=args.mqtt_loops,
            seed=args.seed,
        ) as transport:
            tally = send_run(
                transport,
                plan.batches(total, BATCH),
                args.rate,
                senders,
                progress=_progress_line if sys.stderr.isatty() else None,
                bursts=BurstSchedule(args.burst_every, args.burst_size),
            )
    except (ClientError, BotoCoreError, MqttConnectError, SettingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = _report(tally, args, via)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    summary = {key: report[key] for key in ("sent", "failed_to_send", "rate_achieved", "expected")}
    print(json.dumps(summary))
    return 0 if tally.failed == 0 else 1


class BurstSchedule:
    """Every `every` seconds, `size` messages on top of the steady rate, sent at once."""

    def __init__(self, every: float, size: int):
        self.every, self.batches = every, -(-size // BATCH) if size else 0
        self.owed, self.next_at = 0, every

    def __call__(self, elapsed: float) -> int:
        if self.every > 0 and self.batches and elapsed >= self.next_at:
            self.owed += self.batches
            self.next_at += self.every
        if self.owed:
            self.owed -= 1
            return self.owed + 1
        return 0


def _report(tally: Tally, args, via: Via) -> dict:
    fates = Counter(message.fate for message in tally.delivered)
    keys = [key for message in tally.delivered for key in message.keys]
    expired = sum(len(message.keys) for message in tally.delivered if message.expired)
    return {
        "via": str(via),
        "sent": tally.total,
        "failed_to_send": tally.failed,
        "send_errors": dict(tally.errors),
        "rate_requested": args.rate,
        "rate_achieved": round(tally.total / tally.elapsed, 1) if tally.elapsed else None,
        "elapsed_seconds": round(tally.elapsed, 2),
        "seed": args.seed,
        "per_class": dict(tally.sent),
        "per_device": dict(tally.per_device),
        "expected": {
            "items": len(set(keys)),
            "live_items": len(set(keys)) - expired,
            "expired_items": expired,
            # stored + filtered + dead-lettered + IoT errors == sent, exactly.
            "stored_messages": fates[MessageFate.STORED],
            "filtered_messages": fates[MessageFate.FILTERED],
            "dead_lettered_messages": fates[MessageFate.DEAD_LETTERED],
            "iot_errors": fates[MessageFate.RULE_ERROR],
        },
    }


def _progress_line(tally: Tally, elapsed: float) -> None:
    rate = tally.total / elapsed if elapsed else 0
    errors = sum(tally.errors.values())
    print(f"\rsent {tally.total:>8}  {rate:8.1f} msg/s  errors {errors:>5}", end="", file=sys.stderr, flush=True)


def _read_outputs(path: str) -> dict:
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20, help="messages per second (default 20)")
    parser.add_argument("--count", type=int, help="send this many messages")
    parser.add_argument(
        "--duration", type=float, help="send for this many seconds (default 60 when no --count; 0: until stopped)"
    )
    parser.add_argument("--devices", type=int, default=50, help="fleet size (default 50)")
    parser.add_argument(
        "--staging-share", type=float, default=0.1, help="share of devices that are `stg` devices (default 0.1)"
    )
    parser.add_argument(
        "--bad-ratio", type=float, default=0.0, help="share of malformed messages, drawn from the catalogue"
    )
    parser.add_argument(
        "--backdate-ratio", type=float, default=0.0, help="share of readings old enough that their TTL has passed"
    )
    parser.add_argument(
        "--plain-json-ratio", type=float, default=0.2, help="sqs: share of bodies sent as plain JSON instead of base64"
    )
    parser.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="the pipeline's TTL_SECONDS, to backdate past it"
    )
    parser.add_argument("--burst-every", type=float, default=0, help="seconds between bursts (default: no bursts)")
    parser.add_argument(
        "--burst-size", type=int, default=0, help="messages in each burst, sent at once on top of --rate"
    )
    parser.add_argument("--senders", type=int, help="concurrent senders (default: enough for the rate)")
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed sends the same run")
    parser.add_argument(
        "--via",
        type=Via,
        choices=list(Via),
        help="mqtt: a connection per device; https: iot-data Publish; sqs: straight to the queue "
        "(default: mqtt where the backend has IoT Core, else sqs)",
    )
    parser.add_argument(
        "--iot-endpoint", help="mqtt: the device endpoint (default: iot_endpoint from the outputs file)"
    )
    parser.add_argument(
        "--mqtt-loops", type=int, default=4, help="mqtt: threads that share the devices' connections (default 4)"
    )
    parser.add_argument("--queue-url", help="sqs: default: queue_url from the outputs file")
    parser.add_argument("--outputs", default=os.path.join(os.environ.get("STATE_DIR", ".state"), "outputs.json"))
    parser.add_argument("--report", help="write the full JSON report here")
    return parser


if __name__ == "__main__":
    sys.exit(main())
