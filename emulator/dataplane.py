"""The data-plane process: event source mappings, until SIGTERM (then a clean checkpointed stop)."""
from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from emulator.esm.engine import REFRESH_SECONDS, AwsClients, Engine
from emulator.lifecycle import Paths
from emulator.settings import EmulatorSettings

logger = logging.getLogger("emulator.dataplane")


def run(settings: EmulatorSettings) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    engine = Engine(AwsClients(settings.endpoint, settings.region), Path(settings.state_dir))
    ready_file = Paths(Path(settings.state_dir)).ready_file("dataplane")
    while not stop.is_set():
        try:
            engine.refresh()
        except (ClientError, BotoCoreError) as error:
            logger.warning("could not read the event source mappings: %s", error)
        if not ready_file.exists():
            ready_file.write_text("ready")
        stop.wait(REFRESH_SECONDS)
    engine.stop()
