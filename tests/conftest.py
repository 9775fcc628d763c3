import os

import pytest

# `eval "$(make -s env)"` exports the endpoint of the stack `make up` runs; every test names the
# endpoint of its own stack, and a subprocess it starts must not be sent to that one instead.
for _name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_CONFIG_FILE"]:
    del os.environ[_name]


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """Dummy credentials everywhere, so nothing a test does can reach a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
