"""How MiniStack runs functions, where the pipeline can tell.

- Python function workers mark the end of each invocation, so collecting its log lines stops at
  the mark instead of waiting 50 ms for lines that may never come: that wait was three quarters
  of every quiet invocation, and the pipeline's main cost. MiniStack's worker script runs
  unchanged, after our `worker_prelude` (a file of this package); the fix is offered upstream as
  a diff in `upstream/`.
- A custom runtime (`provided.*`) whose response body is not JSON is answered with that body,
  as Lambda's Invoke does. MiniStack's warm environment handed it back as a JSON string
  (`OK` became `"OK"`), so an event source mapping read a response that is not JSON, which
  fails the whole batch on AWS, as a valid one that fails nothing.
"""

from __future__ import annotations

import importlib
import json
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


SERVICE = "ministack.services.lambda_svc"
RUNTIME_API_HANDLER = Target(RUNTIME, "ProvidedWorker._build_handler_class")
EXECUTE_PROVIDED_WARM = Target(SERVICE, "_execute_function_provided_warm")
INVOCATION_RESULT_PATH = Target(RUNTIME, "_INVOCATION_RESULT_RE")
RECORD_RESULT = Target(RUNTIME, "ProvidedWorker._record_result")
INVOKE_RESPONSE = Target(SERVICE, "_invoke")


class RawResponse(str):
    """A custom runtime's response body that is not JSON, decoded as MiniStack decodes it."""


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _raw_custom_runtime_responses(originals: Originals) -> dict[Target, Any]:
    build_handler_class = originals[RUNTIME_API_HANDLER]
    execute_provided_warm = originals[EXECUTE_PROVIDED_WARM]

    def build_marking_handler_class(worker: Any, generation: int, pending: Any) -> Any:
        handler_class = build_handler_class(worker, generation, pending)
        invocation_result_path = importlib.import_module(RUNTIME)._INVOCATION_RESULT_RE

        class MarkingRawResponses(handler_class):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:
                body = super()._read_body()
                match = invocation_result_path.search(self.path)
                raw = match is not None and match.group(2) == "response" and not _is_json(body)
                # The original parses this body again; a raw one must reach the invocation marked,
                # which the original's `_record_result` call cannot do. An id it refuses (a late or
                # duplicate answer) falls through to the original, which answers 400 as AWS does.
                if raw and worker._record_result(
                    generation, match.group(1), "response", RawResponse(body.decode("utf-8", errors="replace"))
                ):
                    self._respond(202)
                    return
                self._body = body
                try:
                    super().do_POST()
                finally:
                    del self._body

            def _read_body(self) -> bytes:
                if hasattr(self, "_body"):
                    return bytes(self._body)
                return bytes(super()._read_body())

        return MarkingRawResponses

    def execute_answering_raw(func: dict[str, Any], event: dict[str, Any], request_id: str) -> dict[str, Any]:
        result: dict[str, Any] = execute_provided_warm(func, event, request_id)
        if isinstance(result.get("body"), RawResponse):
            # MiniStack's own flag for a body Invoke returns as it is (its proxy executor sets it).
            result["raw_payload"] = True
        return result

    return {RUNTIME_API_HANDLER: build_marking_handler_class, EXECUTE_PROVIDED_WARM: execute_answering_raw}


RAW_CUSTOM_RUNTIME_RESPONSE = Patch(
    name="lambda-raw-custom-runtime-response",
    summary="a custom runtime's response that is not JSON is returned by Invoke as it is, not as a JSON string",
    targets={
        RUNTIME_API_HANDLER: "806d5b8e506093e3c5822e742c2df98e9b7626ac3001c470086a19d17958dbaa",
        EXECUTE_PROVIDED_WARM: "7cddef20157fd1f5d609a6489a2b46a370658861b02bd874b972daefd8b444da",
    },
    build=_raw_custom_runtime_responses,
    relies_on={
        INVOCATION_RESULT_PATH: "8bded4d01d69e9054e6e7f6a4f70931a80575088b639871a45fa732942ca7162",
        RECORD_RESULT: "686a89b15c672d55b3816db1cd1ab66b8da2601f65dc060bea482e1b35f747d7",
        # Answers a body flagged `raw_payload` with the body as it is.
        INVOKE_RESPONSE: "ab193779e5c2ea9410f53f0fe93f34fec1f1bd3ad4a83c07c8d3620fdbfa78bb",
    },
)
