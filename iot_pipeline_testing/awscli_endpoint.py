"""An AWS CLI v1 plugin (loaded through the `[plugins]` section of `aws-cli.config`, which
`make env` names in AWS_CONFIG_FILE): every command goes to AWS_ENDPOINT_URL_<SERVICE> or
AWS_ENDPOINT_URL.

The CLI v1 honours those variables for most services, but for a few (SQS among them) it replaces
the endpoint with a fixed AWS host before botocore reads them (awscli.customizations.
overridesslcommonname), unless `--endpoint-url` was given. This gives it first.
"""

from __future__ import annotations

import os
from typing import Any

EVENT = "before-building-argument-table-parser"


def awscli_initialize(cli: Any) -> None:
    cli.register_first(EVENT, endpoint_from_environment)


def endpoint_from_environment(parsed_globals: Any, **_kwargs: Any) -> None:
    if parsed_globals.endpoint_url is not None:
        return
    service = str(getattr(parsed_globals, "command", "") or "")
    specific = f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"
    parsed_globals.endpoint_url = os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL") or None
