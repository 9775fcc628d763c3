"""Stream records are saved with the tables and restored with them."""

import asyncio
import importlib
import json

from emulator.ministack import persistence, ttl
from emulator.ministack.registry import PatchRegistry


def call(dynamodb, action, **data):
    headers = {"x-amz-target": f"DynamoDB_20120810.{action}"}
    status, _headers, body = asyncio.run(dynamodb.handle_request("POST", "/", headers, json.dumps(data).encode(), {}))
    assert status == 200, body


def test_stream_records_not_yet_read_survive_ministacks_save_and_load(monkeypatch, tmp_path):
    saved = importlib.import_module("ministack.core.persistence")
    monkeypatch.setattr(saved, "PERSIST_STATE", True)
    monkeypatch.setattr(saved, "STATE_DIR", str(tmp_path))
    dynamodb = ttl.import_dynamodb()
    dynamodb.reset()
    registry = PatchRegistry()
    registry.apply(persistence.STREAM_RECORDS_PERSISTED)
    try:
        call(
            dynamodb,
            "CreateTable",
            TableName="saved",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        call(dynamodb, "PutItem", TableName="saved", Item={"id": {"S": "a"}})
        records = list(dynamodb._stream_records.get("saved"))
        saved.save_state("dynamodb", dynamodb.get_state())
        dynamodb.reset()
        dynamodb.load_persisted_state(saved.load_state("dynamodb"))
        assert dynamodb._stream_records.get("saved") == records
        assert [r["eventName"] for r in records] == ["INSERT"]
    finally:
        registry.undo()
        dynamodb.reset()
