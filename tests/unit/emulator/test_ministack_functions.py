"""Python function workers mark the end of each invocation; its logs are collected up to the mark."""

import importlib
import io
import queue
import sys
import zipfile
from types import SimpleNamespace

import pytest

from emulator.ministack import functions, ttl
from emulator.ministack.registry import PatchRegistry
from emulator.ministack.worker_prelude import INVOCATION_END, StdoutMarkingInvocationEnds

HANDLER = """
def handler(event, context):
    for n in range(event["lines"]):
        print(f"line {n}")
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"lines": event["lines"]}
"""


@pytest.fixture
def runtime():
    ttl.import_dynamodb()
    registry = PatchRegistry()
    registry.apply(functions.INVOCATION_END_MARK)
    yield importlib.import_module("ministack.core.lambda_runtime")
    registry.undo()


def test_the_prelude_marks_each_answer_on_stderr_before_it_leaves_but_not_the_start_up_line():
    stdout, stderr = io.StringIO(), io.StringIO()
    marking = StdoutMarkingInvocationEnds(stdout, stderr)
    marking.write('{"status": "ready", "cold": true}\n')
    marking.flush()
    assert stderr.getvalue() == ""
    stderr.write("a log line\n")
    marking.write('{"status": "ok", "result": null}\n')
    marking.flush()
    marking.write('{"status": "error", "error": "boom"}\n')
    marking.flush()
    # split, not splitlines: the mark begins with a record separator, which splitlines breaks at.
    assert stderr.getvalue().split("\n") == ["a log line", INVOCATION_END, INVOCATION_END, ""]
    assert stdout.getvalue().count("\n") == 3


def test_log_collection_stops_at_the_mark_and_leaves_later_lines(runtime):
    lines = queue.Queue()
    for line in ("one", "two", INVOCATION_END, "next invocation"):
        lines.put(line)
    worker = SimpleNamespace(config={"Runtime": "python3.12"}, _stderr_queue=lines)
    assert runtime.Worker._drain_stderr_bounded(worker) == "one\ntwo"
    assert list(lines.queue) == ["next invocation"]


def test_other_runtimes_keep_ministacks_bounded_collection(runtime):
    lines = queue.Queue()
    lines.put("console.log line")
    worker = SimpleNamespace(config={"Runtime": "nodejs20.x"}, _stderr_queue=lines)
    assert runtime.Worker._drain_stderr_bounded(worker) == "console.log line"


def test_a_python_worker_returns_each_invocations_own_log_lines(runtime):
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", HANDLER)
    config = {
        "FunctionName": "marks",
        "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:marks",
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Timeout": 10,
    }
    worker = runtime.Worker("marks", config, code.getvalue())
    try:
        answers = [worker.invoke(event, f"request-{n}") for n, event in enumerate([{"lines": 2}, {"lines": 0}])]
        failed = worker.invoke({"lines": 1, "fail": True}, "request-failing")
    finally:
        worker.kill()
    assert [(a["status"], a["result"], a["log"]) for a in answers] == [
        ("ok", {"lines": 2}, "line 0\nline 1"),
        ("ok", {"lines": 0}, ""),
    ]
    assert failed["status"] == "error" and failed["log"] == "line 0"


# A custom runtime speaking the Lambda Runtime API: it answers each event's "respond" text as its body.
CUSTOM_RUNTIME_BOOTSTRAP = """#!{python}
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as answer:
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(answer.read())
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=event["respond"].encode()))
"""


@pytest.fixture
def raw_responses():
    ttl.import_dynamodb()
    registry = PatchRegistry()
    registry.apply(functions.RAW_CUSTOM_RUNTIME_RESPONSE)
    yield importlib.import_module("ministack.services.lambda_svc")
    registry.undo()


def custom_runtime_function(name):
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("bootstrap", CUSTOM_RUNTIME_BOOTSTRAP.format(python=sys.executable))
    config = {
        "FunctionName": name,
        "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Timeout": 10,
    }
    return {"config": config, "code_zip": code.getvalue()}


def test_a_custom_runtimes_response_that_is_not_json_is_answered_as_it_is(raw_responses):
    function = custom_runtime_function("raw-answers")
    try:
        results = [
            raw_responses._execute_function_provided_warm(function, {"respond": body}, f"request-{n}")
            for n, body in enumerate(["OK, done", '"a JSON string"', '{"batchItemFailures": []}'])
        ]
    finally:
        raw_responses.invalidate_worker("raw-answers")
    not_json, json_string, json_object = results
    assert not_json["body"] == "OK, done" and not_json.get("raw_payload") is True
    assert json_string["body"] == "a JSON string" and not json_string.get("raw_payload")
    assert json_object["body"] == {"batchItemFailures": []} and not json_object.get("raw_payload")
