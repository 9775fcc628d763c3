"""The event a poller sends to Invoke, and its batches cut at Lambda's 6 MB payload limit."""

import itertools
import json

from emulator.esm.invoke_payload import INVOKE_PAYLOAD_LIMIT, event_payload, payload_batches


def _record(n: int, body_bytes: int = 10) -> dict:
    return {"messageId": f"m-{n}", "body": "x" * body_bytes}


def test_the_event_is_compact_utf8_json_of_the_records():
    records = [{"body": "température 21,5 °C"}, {"n": 1}]
    payload = event_payload(records)
    assert payload == '{"Records":[{"body":"température 21,5 °C"},{"n":1}]}'.encode()
    assert json.loads(payload) == {"Records": records}


def test_what_orjson_refuses_is_still_written_as_json():
    records = [{"n": 2**70, "text": "\ud800"}]
    assert json.loads(event_payload(records)) == {"Records": records}


def test_no_records_make_no_batch():
    assert payload_batches([]) == []


def test_records_within_the_limit_are_one_batch():
    records = [_record(n) for n in range(1000)]
    assert payload_batches(records) == [records]


def test_a_batch_past_the_limit_is_cut_in_order_into_events_within_it():
    records = [_record(n, body_bytes=700_000) for n in range(20)]
    batches = payload_batches(records)
    assert [record for batch in batches for record in batch] == records
    assert len(batches) == 3, [len(batch) for batch in batches]
    assert all(len(event_payload(batch)) <= INVOKE_PAYLOAD_LIMIT for batch in batches)
    # Each cut is where one more record would have passed the limit.
    assert all(
        len(event_payload([*batch, after[0]])) > INVOKE_PAYLOAD_LIMIT for batch, after in itertools.pairwise(batches)
    )


def test_an_event_exactly_at_the_limit_is_not_cut():
    records = [_record(0), _record(1)]
    exact = len(event_payload(records))
    assert payload_batches(records, limit=exact) == [records]
    assert payload_batches(records, limit=exact - 1) == [[records[0]], [records[1]]]


def test_a_record_too_large_for_any_event_is_a_batch_of_its_own():
    small, large = _record(0), _record(1, body_bytes=500)
    assert payload_batches([small, large, small], limit=200) == [[small], [large], [small]]
