"""python -m emulator start|stop|status|api|dataplane"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from emulator.lifecycle import EmulatorError, start, status, stop
from emulator.settings import EmulatorSettings
from env_settings.reader import SettingError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="The embedded AWS backend (no Docker).")
    parser.add_argument(
        "command",
        choices=["start", "stop", "status", "api", "dataplane"],
        help="start/stop/status manage both processes; api and dataplane run one in the foreground",
    )
    args = parser.parse_args(argv)
    try:
        settings = EmulatorSettings.from_env()
    except SettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "start":
            start(settings)
        elif args.command == "stop":
            stop(settings)
        elif args.command == "status":
            report = status(settings)
            print(json.dumps(report, indent=2))
            return 0 if report["answers"] else 1
        elif args.command == "api":
            from emulator.api_server import serve

            serve(settings)
        else:
            from emulator.dataplane import run

            run(settings)
    except EmulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
