"""python -m simulator --rate 20 --duration 60 [--via mqtt|https|sqs --devices 50 --bad-ratio 0.05 ...]

Devices publish sensor JSON to their own `<thing>/SENSOR/DAT` through IoT Core (MQTT, or HTTPS),
or it goes to the ingest queue as the IoT rule's SQS action would send it (sqs); with --report it
writes what it sent and what the pipeline should then hold, named as `make status` names it
(table items, history lines, archived items, dead-letter and IoT errors queues).

`--rate` counts messages; a message carries one reading, or several (a `data` list).
Ctrl-C stops it: the report counts what was sent until then, and it exits 130.
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

# What a shell reports for a command stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.count is None and args.duration is None:
        args.duration = 60
    if problem := argument_problem(args):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    # --duration 0: until stopped (SIGTERM), as `make up` runs it.
    total = args.count if args.count is not None else (int(args.rate * args.duration) if args.duration else None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.rate == 0:
        # SIM_RATE=0 under Compose: the service stays up, idle, so `up --wait` sees it running.
        print("rate 0: sending nothing until stopped", file=sys.stderr, flush=True)
        while True:
            signal.pause()
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
    until = f"{total} messages" if total is not None else "until stopped"
    # Stopped by Ctrl-C before sending starts, the report says that nothing was sent.
    tally = Tally(interrupted=True)
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
                progress=lambda tally, elapsed: print(progress_line(tally, elapsed), file=sys.stderr, flush=True),
                bursts=BurstSchedule(args.burst_every, args.burst_size),
                started_sending=lambda: print(
                    f"sending {args.rate:g} msg/s via {via}, {until} (Ctrl-C stops)", file=sys.stderr, flush=True
                ),
            )
    except (ClientError, BotoCoreError, MqttConnectError, SettingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    report = _report(tally, args, via)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    summary = {key: report[key] for key in ("messages_sent", "messages_not_sent", "rate_achieved", "expected")}
    print(json.dumps(summary))
    if tally.interrupted:
        print("interrupted: the report counts what was sent until then", file=sys.stderr)
        return INTERRUPTED
    return 0 if tally.failed == 0 else 1


def argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, in one line; None when nothing is."""
    if not args.rate > 0 and not (args.rate == 0 and args.duration == 0 and args.count is None):
        return f"--rate {args.rate:g}: messages/s must be more than 0 (0 only with --duration 0: idle until stopped)"
    if args.duration is not None and not args.duration >= 0:
        return f"--duration {args.duration:g}: seconds must be 0 (until stopped) or more"
    if args.count is not None and args.count < 1:
        return f"--count {args.count}: send at least 1 message"
    for option, minimum in (("devices", 1), ("mqtt_loops", 1), ("senders", 1), ("ttl", 1)):
        value = getattr(args, option)
        if value is not None and value < minimum:
            return f"--{option.replace('_', '-')} {value}: must be {minimum} or more"
    for option in ("staging_share", "bad_ratio", "backdate_ratio", "plain_json_ratio"):
        value = getattr(args, option)
        if not 0 <= value <= 1:
            return f"--{option.replace('_', '-')} {value:g}: a share must be within 0..1"
    if args.burst_every < 0 or args.burst_size < 0:
        return "--burst-every and --burst-size must be 0 (no bursts) or more"
    return None


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
    """What was sent, and what a drained pipeline should then hold, named as `make status` names
    it. A message carries one reading, or several (a `data` list); a malformed one, none."""
    fates = Counter(message.fate for message in tally.delivered)
    keys = {key for message in tally.delivered for key in message.keys}
    expired = sum(len(message.keys) for message in tally.delivered if message.expired)
    return {
        "via": str(via),
        "messages_sent": tally.total,
        "messages_not_sent": tally.failed,
        "retries": tally.retries,
        "send_errors": dict(tally.errors),
        "interrupted": tally.interrupted,
        "rate_requested": args.rate,  # messages/s
        "rate_achieved": round(tally.total / tally.elapsed, 1) if tally.elapsed else None,
        "elapsed_seconds": round(tally.elapsed, 2),
        "seed": args.seed,
        "messages_per_kind": dict(tally.sent),
        "messages_per_device": dict(tally.per_device),
        "expected": {
            # As `make status` shows them once the pipeline has drained (on a stack of its own).
            "table_items": len(keys) - expired,
            "history": {"lines": len(keys) + expired},  # an INSERT per reading, a REMOVE per expiry
            "archive": {"items": expired},
            "dead_letter_queue": {"visible": fates[MessageFate.DEAD_LETTERED]},
            "iot_errors_queue": {"visible": fates[MessageFate.RULE_ERROR]},
            "readings": {"stored": len(keys), "expired": expired},
            # stored + filtered + dead_lettered + iot_errors == messages_sent, exactly.
            "messages": {
                "stored": fates[MessageFate.STORED],
                "filtered": fates[MessageFate.FILTERED],
                "dead_lettered": fates[MessageFate.DEAD_LETTERED],
                "iot_errors": fates[MessageFate.RULE_ERROR],
            },
        },
    }


def progress_line(tally: Tally, elapsed: float) -> str:
    rate = tally.total / elapsed if elapsed else 0.0
    return (
        f"{elapsed:6.0f} s  sent {tally.total} messages ({rate:.1f} msg/s)  "
        f"retries {tally.retries}  errors {sum(tally.errors.values())}"
    )


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
    parser.add_argument("--devices", type=int, default=50, help="fleet size, 1 or more (default 50)")
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
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # Before the run starts (reading arguments and outputs): nothing was sent, nothing to report.
        sys.exit(INTERRUPTED)
