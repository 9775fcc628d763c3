"""The README's shell block, run as a user runs it: a plain shell (only /usr/bin:/bin on PATH, no
AWS variable), `eval "$(make -s env)"` for the test stack's port, then every command."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


def readme_block(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(f"## {heading}\n") :]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, f"no bash block under {heading}"
    return [line for line in block.group(1).splitlines() if line.strip()]


def plain_shell(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_every_command_of_the_readmes_shell_block_works_after_make_env(stack, iot_backend, tmp_path):
    lines = readme_block("Talking to the stack")
    assert lines[0].startswith('eval "$(make -s env)"')
    assert stack.outputs["table"] == "dev_DeviceData", "the README names the dev stack"
    # The ingest function has run once, so its log group exists.
    stack.wait_for_item(stack.send_reading("shell-0001", via="sqs"))
    port = str(iot_backend.port)
    # What `make up` leaves in the state folder, which the simulator reads.
    (tmp_path / "outputs.json").write_text(json.dumps(stack.outputs))
    setup = f'eval "$(make -s env EMULATOR_PORT={port} VENV={VENV})"; export STATE_DIR={tmp_path}'
    commands = [line.split("  #")[0].replace("4566", port) for line in lines[1:]]
    # Each command on its own, so a failure names its command.
    script = "\n".join(
        [setup, *(f"{command} >/dev/null || {{ echo 'FAILED: {command}'; exit 1; }}" for command in commands)]
    )
    result = plain_shell(script, ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "deprecated" not in result.stderr, "awslocal's banner is off"
