import pytest

from emulator.ministack import ttl


@pytest.fixture
def dynamodb():
    """MiniStack's DynamoDB module, emptied before and after the test."""
    module = ttl.import_dynamodb()
    module.reset()
    yield module
    module.reset()
