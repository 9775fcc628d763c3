"""Python function workers mark the end of each invocation, so collecting its log lines stops at
the mark instead of waiting 50 ms for lines that may never come: that wait was three quarters of
every quiet invocation, and the pipeline's main cost.

MiniStack's worker script runs unchanged, after our `worker_prelude` (a file of this package);
the fix is offered upstream as a diff in `upstream/`.
"""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

from emulator.ministack.registry import Originals, Patch, Target
from emulator.ministack.worker_prelude import INVOCATION_END

RUNTIME = "ministack.core.lambda_runtime"
PYTHON_WORKER_SCRIPT = Target(RUNTIME, "_PYTHON_WORKER_SCRIPT")
DRAIN_LOGS = Target(RUNTIME, "Worker._drain_stderr_bounded")
WORKER_PRELUDE = Path(__file__).with_name("worker_prelude.py")
# How long to wait for an invocation's end mark once its result is in (the worker writes the
# mark before the result, so it is normally already in the pipe).
INVOCATION_END_WAIT_SECONDS = 2.0


def _mark_invocation_ends(originals: Originals) -> dict[Target, Any]:
    drain_with_timing = originals[DRAIN_LOGS]

    def drain_to_mark(worker: Any, *args: Any, **kwargs: Any) -> str:
        if not str(worker.config.get("Runtime", "python3.12")).startswith("python"):
            logs: str = drain_with_timing(worker, *args, **kwargs)
            return logs
        lines = []
        deadline = time.monotonic() + INVOCATION_END_WAIT_SECONDS
        while True:
            try:
                line = worker._stderr_queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line == INVOCATION_END:
                break
            lines.append(line)
        return "\n".join(lines)

    return {
        PYTHON_WORKER_SCRIPT: WORKER_PRELUDE.read_text() + originals[PYTHON_WORKER_SCRIPT],
        DRAIN_LOGS: drain_to_mark,
    }


INVOCATION_END_MARK = Patch(
    name="lambda-invocation-end-mark",
    summary="Python function workers mark the end of each invocation; its logs are collected up to the mark",
    targets={
        PYTHON_WORKER_SCRIPT: "368800addf4dc998ee6491e17deca9781150a67dd6cca91ac71973e9e3f54aa2",
        DRAIN_LOGS: "3fd7cc742872e604e4937310429a4021719467dd7d2993734c4331c01e4427ab",
    },
    build=_mark_invocation_ends,
)
