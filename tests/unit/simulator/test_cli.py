"""python -m simulator as a user runs it: arguments checked in one line, progress while it runs,
Ctrl-C reported, and a report named as `make status` names what the pipeline holds."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from simulator import sender as sender_module
from simulator.__main__ import main
from simulator.sender import Tally, send_run

# `python -m simulator` as a terminal starts it. A test run started in the background by a script
# has SIGINT ignored, and an ignored signal stays ignored in its children: Ctrl-C would never reach it.
AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('simulator', run_name='__main__', alter_sys=True)"
)


def run_simulator(*args, env=None):
    return subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--rate", "0", "--count", "10"], "--rate 0: messages/s must be more than 0"),
        (["--rate", "0", "--duration", "5"], "--rate 0: messages/s must be more than 0"),
        (["--rate", "-5"], "--rate -5: messages/s must be more than 0"),
        (["--duration", "-1"], "--duration -1: seconds must be 0 (until stopped) or more"),
        (["--count", "0"], "--count 0: send at least 1 message"),
        (["--devices", "0"], "--devices 0: must be 1 or more"),
        (["--bad-ratio", "2"], "--bad-ratio 2: a share must be within 0..1"),
        (["--backdate-ratio", "-0.1"], "--backdate-ratio -0.1: a share must be within 0..1"),
        (["--staging-share", "1.5"], "--staging-share 1.5: a share must be within 0..1"),
    ],
)
def test_a_wrong_argument_is_one_line_and_exit_2_before_anything_is_sent(arguments, said, capsys):
    assert main(["--via", "sqs", "--queue-url", "http://127.0.0.1:9/q", *arguments]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {said}" + err[len(f"error: {said}") :] and err.count("\n") == 1


def test_rate_zero_until_stopped_idles_instead_of_dividing_by_zero_and_stops_on_sigterm():
    simulator = run_simulator("--rate", "0", "--duration", "0")
    assert simulator.stderr.readline().strip() == "rate 0: sending nothing until stopped"
    assert simulator.poll() is None
    simulator.terminate()
    assert simulator.wait(timeout=30) == 0


class FakeSqs(BaseHTTPRequestHandler):
    """SendMessageBatch as SQS answers it (JSON protocol), every entry accepted."""

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(
            {
                "Successful": [
                    {
                        "Id": entry["Id"],
                        "MessageId": f"m-{entry['Id']}",
                        "MD5OfMessageBody": hashlib.md5(entry["MessageBody"].encode()).hexdigest(),
                    }
                    for entry in request["Entries"]
                ],
                "Failed": [],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def fake_sqs():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSqs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_ctrl_c_writes_the_report_of_what_was_sent_and_exits_130_without_a_traceback(fake_sqs, tmp_path):
    report = tmp_path / "report.json"
    simulator = run_simulator(
        *("--via", "sqs", "--queue-url", f"{fake_sqs}/000000000000/q", "--rate", "200", "--duration", "0"),
        *("--report", str(report)),
        env={"AWS_ENDPOINT_URL": fake_sqs, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
    )
    assert simulator.stderr.readline().startswith("sending 200 msg/s via sqs, until stopped")
    simulator.send_signal(signal.SIGINT)
    out, err = simulator.communicate(timeout=30)
    assert simulator.returncode == 130
    assert "Traceback" not in err and "interrupted: the report counts what was sent until then" in err
    written = json.loads(report.read_text())
    assert written["interrupted"] is True and written["messages_not_sent"] == 0
    assert json.loads(out)["messages_sent"] == written["messages_sent"]


class Recording:
    retries = 3

    def __init__(self):
        self.sent = []

    def send(self, messages):
        self.sent += messages
        return []


def batches_then_ctrl_c(count):
    for index in range(count):
        yield [f"message-{index}"]
    raise KeyboardInterrupt


def test_progress_is_reported_every_few_seconds_and_at_the_end_with_retries(monkeypatch):
    monkeypatch.setattr(sender_module, "PROGRESS_EVERY_SECONDS", 0.05)
    monkeypatch.setattr(Tally, "record", lambda self, messages, failures: self.sent.update(["x"] * len(messages)))
    seen = []
    tally = send_run(Recording(), iter([["a"]] * 30), rate=200, senders=1, progress=lambda t, _e: seen.append(t.total))
    assert len(seen) >= 3 and seen[-1] == 30
    assert tally.retries == 3 and not tally.interrupted


def test_ctrl_c_between_batches_returns_what_was_sent_marked_interrupted(monkeypatch):
    monkeypatch.setattr(Tally, "record", lambda self, messages, failures: self.sent.update(["x"] * len(messages)))
    transport = Recording()
    tally = send_run(transport, batches_then_ctrl_c(5), rate=100000, senders=1)
    assert tally.interrupted and tally.total == len(transport.sent) <= 5


def test_the_report_names_counts_as_make_status_does_and_balances(tmp_path, fake_sqs, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", fake_sqs)
    report_path = tmp_path / "report.json"
    arguments = ["--via", "sqs", "--queue-url", f"{fake_sqs}/000000000000/q", "--count", "200", "--rate", "5000"]
    assert main([*arguments, "--bad-ratio", "0.2", "--backdate-ratio", "0.2", "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    expected = report["expected"]
    assert set(expected) >= {"table_items", "history", "archive", "dead_letter_queue", "iot_errors_queue"}
    assert sum(expected["messages"].values()) == report["messages_sent"] == 200
    readings = expected["readings"]
    assert expected["table_items"] == readings["stored"] - readings["expired"]
    assert expected["history"]["lines"] == readings["stored"] + readings["expired"]
    assert expected["archive"]["items"] == readings["expired"] > 0
    assert expected["dead_letter_queue"]["visible"] == expected["messages"]["dead_lettered"] > 0
    # A message may carry several readings (a `data` list): more readings than stored messages.
    assert readings["stored"] > expected["messages"]["stored"]
