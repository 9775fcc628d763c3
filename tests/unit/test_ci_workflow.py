"""The CI workflow users copy is valid for GitHub Actions and runs what the README says."""

import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "ci.yml"


def test_the_workflow_is_valid_against_githubs_workflow_schema():
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_job_runs_make_test_and_one_requires_the_localstack_end_to_end_test():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    embedded_steps = [step.get("run", "") for step in jobs["embedded"]["steps"]]
    assert "make test" in embedded_steps
    localstack_runs = [step for step in jobs["localstack"]["steps"] if "test_localstack.py" in step.get("run", "")]
    assert localstack_runs and localstack_runs[0]["env"] == {"BACKEND": "localstack", "REQUIRE_LOCALSTACK": "1"}
