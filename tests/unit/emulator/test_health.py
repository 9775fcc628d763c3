"""What `make status` reports as wrong with a running embedded backend."""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from emulator.lifecycle import DURABILITY_PATH, Paths, health_problems
from emulator.settings import EmulatorSettings

HEALTHY = {"ok": True, "journal": "on", "generation": 3, "journal_bytes": 4096}


@pytest.fixture
def durability():
    """The API process's durability report, served on a port of its own; tests change it."""
    report = dict(HEALTHY)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(report).encode() if self.path == DURABILITY_PATH else b"{}"
            self.send_response(200 if self.path == DURABILITY_PATH else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], report
    server.shutdown()
    server.server_close()


@pytest.fixture
def running(tmp_path, durability):
    """A backend whose API "runs" (this test process, its report served by `durability`) and
    whose data plane is pid 0 until set."""
    port, _report = durability
    settings = EmulatorSettings(port=port, state_dir=str(tmp_path))
    paths = Paths(tmp_path)
    paths.pid_file("api").parent.mkdir(parents=True)
    paths.pid_file("api").write_text(str(os.getpid()))
    return settings, paths


def test_nothing_is_wrong_with_a_backend_that_is_not_running(tmp_path):
    assert health_problems(EmulatorSettings(state_dir=str(tmp_path))) == []


def test_a_data_plane_that_died_is_reported(running):
    settings, _ = running
    assert health_problems(settings) == [
        f"the data plane is not running: no mapping delivers anything (see {Path(settings.state_dir)}/logs/"
        "dataplane.log; make down, then make up)"
    ]


def test_a_data_plane_that_stopped_reporting_is_reported_with_its_problems(running):
    settings, paths = running
    paths.pid_file("dataplane").write_text(str(os.getpid()))
    paths.status_file("dataplane").write_text(
        json.dumps({"at": time.time() - 60, "problems": ["mapping m1: cannot write checkpoint file"]})
    )
    [silent, problem] = health_problems(settings)
    assert silent.startswith("the data plane has not reported for 60 s (a full disk?): see ")
    assert problem == "mapping m1: cannot write checkpoint file"


def test_a_data_plane_reporting_no_problems_and_durable_writes_are_fine(dataplane_fine):
    assert health_problems(dataplane_fine) == []


@pytest.fixture
def dataplane_fine(running):
    settings, paths = running
    paths.pid_file("dataplane").write_text(str(os.getpid()))
    paths.status_file("dataplane").write_text(json.dumps({"at": time.time(), "problems": []}))
    return settings


def test_writes_refused_for_a_full_disk_are_reported_first_and_loudly(dataplane_fine, durability):
    _port, report = durability
    error = "cannot reserve 64 MB for the journal in /s/journal: No space left on device"
    report.update(ok=False, error=error, since=time.time())
    [problem] = health_problems(dataplane_fine)
    assert problem.startswith("WRITES REFUSED since ")
    assert f": {error}: requests that change state get 503 until this is fixed" in problem
    assert problem.endswith(f"see {Path(dataplane_fine.state_dir)}/logs/api.log")


def test_a_failed_checkpoint_is_reported(dataplane_fine, durability):
    _port, report = durability
    report["last_checkpoint_error"] = "dynamodb: No space left on device"
    [problem] = health_problems(dataplane_fine)
    assert problem.startswith("the last checkpoint failed (dynamodb: No space left on device)")


def test_an_api_that_does_not_answer_its_durability_report_is_reported(tmp_path):
    settings = EmulatorSettings(port=1, state_dir=str(tmp_path))
    paths = Paths(tmp_path)
    paths.pid_file("api").parent.mkdir(parents=True)
    for component in ("api", "dataplane"):
        paths.pid_file(component).write_text(str(os.getpid()))
    paths.status_file("dataplane").write_text(json.dumps({"at": time.time(), "problems": []}))
    [problem] = health_problems(settings)
    assert problem.startswith("the API process did not give its durability report (")
