"""How the bootstrap's small commands end: one line on stderr and an exit status, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError


def one_line_errors(work: Callable[[], int], user_errors: tuple[type[Exception], ...]) -> int:
    """`work()`'s status; a user's mistake (`user_errors`) exits 2, an AWS error 1, Ctrl-C 130."""
    try:
        return work()
    except user_errors as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
