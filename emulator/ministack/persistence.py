"""DynamoDB stream records are saved and restored with the tables.

MiniStack saves only the items, so records the history and archive functions had not yet read
at a stop were gone after the next start.
"""

from __future__ import annotations

from typing import Any

from emulator.ministack.registry import Originals, Patch, Target
from emulator.ministack.ttl import DYNAMODB, import_dynamodb

GET_STATE = Target(DYNAMODB, "get_state")
LOAD_PERSISTED_STATE = Target(DYNAMODB, "load_persisted_state")
STREAM_RECORDS_KEY = "emulator_stream_records"


def _with_stream_records(originals: Originals) -> dict[Target, Any]:
    save_tables, load_tables = originals[GET_STATE], originals[LOAD_PERSISTED_STATE]

    def get_state() -> dict[str, Any]:
        state: dict[str, Any] = save_tables()
        state[STREAM_RECORDS_KEY] = [
            [account_id, region, table_name, list(records)]
            for (account_id, region, table_name), records in import_dynamodb()._stream_records.all_items()
        ]
        return state

    def load_persisted_state(data: dict[str, Any] | None) -> Any:
        result = load_tables(data)
        for account_id, region, table_name, records in (data or {}).get(STREAM_RECORDS_KEY, []):
            import_dynamodb()._stream_records.set_scoped(account_id, region, table_name, records)
        return result

    return {GET_STATE: get_state, LOAD_PERSISTED_STATE: load_persisted_state}


STREAM_RECORDS_PERSISTED = Patch(
    name="dynamodb-stream-records-persisted",
    summary="DynamoDB stream records are saved and restored with the tables",
    targets={
        GET_STATE: "ce90690a6033950f9aaac39a8225ef7ce8e55fe1c3abc80e2df51e1098e7f9f3",
        LOAD_PERSISTED_STATE: "6f58d9dc1e6e4edf4200deb80c8883d56a99697ac2c412007742e9b4c895bf6d",
    },
    build=_with_stream_records,
)
