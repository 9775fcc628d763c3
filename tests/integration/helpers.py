"""What only the project's own tests need beside the plugin's helpers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from iot_pipeline_testing import wait_for


def end_process(settings, signum: int = signal.SIGKILL) -> None:
    """Signal only the data plane, and wait until it is gone."""
    from emulator.lifecycle import Paths, process_alive

    pid = int(Paths(Path(settings.state_dir)).pid_file("dataplane").read_text())
    os.kill(pid, signum)
    wait_for(lambda: not process_alive(pid), interval=0.05, message=f"data plane {pid} to exit")
