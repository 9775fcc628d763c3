"""The fixes offered upstream (emulator/ministack/upstream/*.diff) still apply to the installed MiniStack."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

UPSTREAM = Path(__file__).parents[3] / "emulator" / "ministack" / "upstream"
DIFFS = sorted(UPSTREAM.glob("*.diff"))


def test_each_general_fix_is_offered_as_a_diff():
    assert [diff.stem for diff in DIFFS] == [
        "lambda-invocation-end-mark",
        "sqs-delete-message-batch-in-one-pass",
        "sqs-receive-without-full-scans",
    ]


@pytest.mark.parametrize("diff", DIFFS, ids=[diff.stem for diff in DIFFS])
def test_the_diff_applies_cleanly_to_the_installed_ministack(diff):
    assert shutil.which("patch"), "GNU patch checks the diffs"
    spec = importlib.util.find_spec("ministack")
    assert spec is not None and spec.origin is not None
    site_packages = Path(spec.origin).parents[1]
    checked = subprocess.run(
        ["patch", "--dry-run", "--batch", "--forward", "--fuzz=0", "-p1", "-d", str(site_packages), "-i", str(diff)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # No offset or fuzz: the hunks match where they were cut.
    assert all(line.startswith("checking file ") for line in checked.stdout.splitlines()), checked.stdout
