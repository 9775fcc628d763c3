"""What `make status` reports as wrong with a running embedded backend."""

import json
import os
import time
from pathlib import Path

import pytest

from emulator.lifecycle import Paths, health_problems
from emulator.settings import EmulatorSettings


@pytest.fixture
def running(tmp_path):
    """A backend whose API "runs" (this test process) and whose data plane is pid 0 until set."""
    settings = EmulatorSettings(state_dir=str(tmp_path))
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


def test_a_data_plane_reporting_no_problems_is_fine(running):
    settings, paths = running
    paths.pid_file("dataplane").write_text(str(os.getpid()))
    paths.status_file("dataplane").write_text(json.dumps({"at": time.time(), "problems": []}))
    assert health_problems(settings) == []
