"""Runs first in a Python function worker, before MiniStack's own worker script (which runs
unchanged after it: see emulator.ministack.functions).

The worker answers each invocation with one JSON line on stdout. Just before that line leaves
the process, this writes INVOCATION_END on stderr, after every log line of the invocation, so
the API process stops collecting the invocation's logs at the mark instead of waiting 50 ms for
lines that may never come.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

INVOCATION_END = "\x1eemulator-invocation-end"
# An invocation's answer, as the worker writes it; its start-up line has the status "ready".
_INVOCATION_ANSWERS = ('{"status": "ok"', '{"status": "error"')


class StdoutMarkingInvocationEnds:
    def __init__(self, stdout: TextIO, stderr: TextIO) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self._answer_pending = False

    def write(self, text: str) -> int:
        if text.startswith(_INVOCATION_ANSWERS):
            self._answer_pending = True
        return self._stdout.write(text)

    def flush(self) -> None:
        if self._answer_pending:
            self._answer_pending = False
            self._stderr.write(INVOCATION_END + "\n")
            self._stderr.flush()
        self._stdout.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stdout, name)


if __name__ == "__main__":
    sys.stdout = StdoutMarkingInvocationEnds(sys.stdout, sys.stderr)
