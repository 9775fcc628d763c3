"""python -m bootstrap deploy|teardown|outputs|status [--target local|aws]"""
from __future__ import annotations

import argparse
import json
import sys

from botocore.exceptions import BotoCoreError, ClientError

from bootstrap.clients import client_factory
from bootstrap.config import ConfigError, StackConfig
from bootstrap.deploy import UNCHANGED, Deployer
from bootstrap.outputs import outputs, outputs_path, stage_counts, write_outputs
from bootstrap.package import PackagingError
from bootstrap.stack import declare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bootstrap", description="Deploy the IoT pipeline to an endpoint.")
    parser.add_argument("command", choices=["deploy", "teardown", "outputs", "status"])
    parser.add_argument("--target", choices=["local", "aws"], default="local",
                        help="local (default): only loopback or the compose service; aws: a real account, on purpose")
    args = parser.parse_args(argv)
    try:
        config = StackConfig.from_env(args.target)
        if args.command == "outputs":
            path = outputs_path(config.state_dir)
            if not path.exists():
                raise ConfigError(f"no outputs yet ({path}): deploy first (make up)")
            print(path.read_text(), end="")
            return 0
        client = client_factory(config)
        stack = declare(config, client("sts").get_caller_identity()["Account"])
        deployer = Deployer(client, progress=print)
        if args.command == "deploy":
            where = config.endpoint or f"AWS account {stack.account_id} in {config.region}"
            print(f"deploying {config.env} to {where}")
            changes = deployer.deploy(stack)
            path = write_outputs(outputs(stack, deployer.queue_url), config.state_dir)
            changed = [change for change in changes if change.action != UNCHANGED]
            print(f"{len(changed)} changes, {len(changes) - len(changed)} resources unchanged" if changed else "no changes")
            print(f"outputs: {path}")
        elif args.command == "teardown":
            removed = deployer.teardown(stack)
            outputs_path(config.state_dir).unlink(missing_ok=True)
            print(f"removed {len(removed)} resources" if removed else "nothing to remove")
        else:
            print(json.dumps(stage_counts(outputs(stack, deployer.queue_url), client), indent=2))
    except (ConfigError, PackagingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
