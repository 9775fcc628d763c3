"""The record transformations give the same results on the Lambda Python runtimes (3.12, 3.13)
as here. The pure core needs nothing but the standard library, so it runs on a bare interpreter."""

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import base64, json, gzip
from handlers.core.ingest_rules import IngestRules, message_items
from handlers.core.history_lines import history_line, encode_history_line
from device_data.archive import RemovalsWithoutIdentity
from handlers.core.archive_objects import batch_object
from handlers.core.attribute_values import dumps
record = {"eventID": "e1", "eventName": "REMOVE", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
          "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
          "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/2026-01-01T00:00:00.000",
          "dynamodb": {"ApproximateCreationDateTime": 1800000000.0, "SequenceNumber": "100", "SizeBytes": 10, "StreamViewType": "NEW_AND_OLD_IMAGES",
                       "Keys": {"deviceID": {"S": "d"}, "createdAt": {"N": "1"}},
                       "OldImage": {"deviceID": {"S": "d"}, "createdAt": {"N": "1"}, "expiredAt": {"N": "5"}, "ns": {"NS": ["2", "1.5"]}, "b": {"B": "AAE="}}}}
body = base64.b64encode(json.dumps({"things_name": "dev-1", "timestamp": 1700000000, "data": [{"t": 21.5}, {"createdAt": 1700000001, "t": 0.1}]}).encode()).decode()
items = message_items(body, IngestRules()).items
archived = batch_object([record], "expiredAt", "archive/")
print(json.dumps({"items": dumps(items), "history": encode_history_line(history_line(record, "expiredAt", RemovalsWithoutIdentity.MANUAL)).decode(),
                  "archive_key": archived.key, "archive": gzip.decompress(archived.body).decode()}))
"""


def interpreter(version: str) -> str | None:
    """A Python of that version that really starts (a pyenv shim for an unselected version does not)."""
    candidates = [
        *sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python3")),
        shutil.which(f"python{version}"),
    ]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def run(python: str) -> dict:
    result = subprocess.run(
        [python, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + SCRIPT],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_pure_core_gives_the_same_results_on_the_lambda_runtime(version):
    python = interpreter(version)
    if not python:
        pytest.skip(f"no Python {version} interpreter on this machine")
    assert run(python) == run(sys.executable)
