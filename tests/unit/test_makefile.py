"""What the Makefile does before any Python of the project runs: the shell it sets up, the order
of `make test`, no system package unless asked, and a virtualenv of an unsupported Python."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")


def make(*arguments, env=None):
    return subprocess.run(
        ["make", "-s", "--no-print-directory", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def exports(text):
    values = {}
    for line in text.splitlines():
        assert line.startswith("export ")
        for assignment in line.removeprefix("export ").split(" "):
            name, _, value = assignment.partition("=")
            values[name] = value.strip('"')
    return values


def test_make_env_exports_what_the_aws_cli_and_the_tools_need_for_the_port_given():
    values = exports(make("env", env={"EMULATOR_PORT": "4567"}).stdout)
    assert values["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4567" and values["EMULATOR_PORT"] == "4567"
    assert values["AWS_ACCESS_KEY_ID"] == values["AWS_SECRET_ACCESS_KEY"] == "test"
    assert values["AWS_DEFAULT_REGION"] == "us-east-1" and values["DISABLE_DEPRECATION_NOTICE"] == "1"
    assert values["PATH"] == f"{ROOT / '.venv' / 'bin'}:$PATH"
    assert "iot_pipeline_testing.awscli_endpoint" in Path(values["AWS_CONFIG_FILE"]).read_text()


def test_make_test_runs_lint_the_unit_the_differential_then_the_end_to_end_tests_and_installs_nothing_of_the_system():
    planned = make("-n", "test").stdout
    assert "apt-get" not in planned
    steps = [line for line in planned.splitlines() if "ruff format --check" in line or "pytest" in line]
    assert "ruff format --check" in steps[0]
    assert "pytest tests/unit -n 2" in steps[1]
    assert "pytest tests/differential" in steps[2]
    assert "pytest tests/integration examples --iot-stack=fresh -n 2" in steps[3]


def fake_python(path, version, supported):
    path.write_text(f'#!/bin/sh\n[ "$1" = "-V" ] && echo "Python {version}" && exit 0\nexit {0 if supported else 1}\n')
    path.chmod(0o755)
    return path


def test_a_virtualenv_of_a_too_old_python_is_rebuilt_and_a_too_old_python_is_reported_with_the_fix(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake_python(venv / "bin" / "python", "3.9.2", supported=False)
    result = make("install", f"VENV={venv}", f"PYTHON={fake_python(tmp_path / 'python3.9', '3.9.2', False)}")
    assert result.returncode == 2
    assert f"{venv} was built with Python 3.9.2, older than 3.11: rebuilding it" in result.stdout
    assert result.stderr.splitlines()[0] == (
        f"error: {tmp_path / 'python3.9'} is Python 3.9.2; the project needs Python 3.11 or newer: "
        "install it, then make install PYTHON=python3.11"
    )
    assert not venv.exists()
