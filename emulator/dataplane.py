"""The data-plane process: event source mappings, until SIGTERM (then a clean checkpointed stop)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from emulator.esm.engine import REFRESH_SECONDS, AwsClients, Engine
from emulator.esm.local_api import ApiError
from emulator.lifecycle import Paths
from emulator.settings import EmulatorSettings

logger = logging.getLogger("emulator.dataplane")


def run(settings: EmulatorSettings) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    engine = Engine(
        AwsClients(settings.endpoint, settings.region), Path(settings.state_dir), settings.stream_lost_checkpoint
    )
    paths = Paths(Path(settings.state_dir))
    refreshes = 0
    status_error = ""
    while not stop.is_set():
        try:
            engine.refresh()
            refreshes += 1
        except ApiError as error:
            logger.warning("could not read the event source mappings: %s", error)
        status = {
            "refreshes": refreshes,
            "running_mappings": sorted(engine.workers),
            "problems": engine.problems.lines(),
            "at": time.time(),
        }
        try:
            _write_status(paths.status_file("dataplane"), status)
            if not paths.ready_file("dataplane").exists():
                paths.ready_file("dataplane").write_text("ready")
        except OSError as error:
            # A full disk must not stop the mappings; `make status` sees the status file go stale.
            if str(error) != status_error:
                logger.error("cannot write the status file (%s); the mappings keep running", error)
            status_error = str(error)
        else:
            status_error = ""
        stop.wait(REFRESH_SECONDS)
    engine.stop()


def _write_status(path: Path, status: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(status))
    os.replace(temporary, path)
