import json
from decimal import Decimal

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from device_data.archive import RemovalsWithoutIdentity
from handlers import history
from handlers.core.attribute_values import dumps, from_json_value, image_to_python, to_json_value
from handlers.core.history_lines import encode_history_line, history_line
from tests.unit.events import stream_record

# The seed design's published output for its sample table (Id/Age/Name, all strings).
SEED_LINES = [
    '{"action": "INSERT", "keys": {"Id": "1"}, "new_image": {"Id": "1", "Age": "20", "Name": "Suzuki"}, "old_image": null, "timestamp": 1696398445, "timestamp_utc": "2023-10-04 05:47:25"}',
    '{"action": "INSERT", "keys": {"Id": "2"}, "new_image": {"Id": "2", "Age": "20", "Name": "Tanaka"}, "old_image": null, "timestamp": 1696398463, "timestamp_utc": "2023-10-04 05:47:43"}',
    '{"action": "INSERT", "keys": {"Id": "3"}, "new_image": {"Id": "3", "Age": "30", "Name": "Sato"}, "old_image": null, "timestamp": 1696398479, "timestamp_utc": "2023-10-04 05:47:59"}',
    '{"action": "MODIFY", "keys": {"Id": "1"}, "new_image": {"Id": "1", "Age": "40", "Name": "Suzuki"}, "old_image": {"Id": "1", "Age": "20", "Name": "Suzuki"}, "timestamp": 1696472278, "timestamp_utc": "2023-10-05 02:17:58"}',
    '{"action": "REMOVE", "keys": {"Id": "3"}, "new_image": null, "old_image": {"Id": "3", "Age": "30", "Name": "Sato"}, "timestamp": 1696472283, "timestamp_utc": "2023-10-05 02:18:03"}',
]


def person(person_id, age, name):
    return {"Id": {"S": person_id}, "Age": {"S": age}, "Name": {"S": name}}


def seed_sample_records():
    return [
        stream_record("INSERT", {"Id": {"S": "1"}}, new_image=person("1", "20", "Suzuki"), created=1696398445.0),
        stream_record("INSERT", {"Id": {"S": "2"}}, new_image=person("2", "20", "Tanaka"), created=1696398463.0),
        stream_record("INSERT", {"Id": {"S": "3"}}, new_image=person("3", "30", "Sato"), created=1696398479.0),
        stream_record(
            "MODIFY",
            {"Id": {"S": "1"}},
            new_image=person("1", "40", "Suzuki"),
            old_image=person("1", "20", "Suzuki"),
            created=1696472278.0,
        ),
        stream_record("REMOVE", {"Id": {"S": "3"}}, old_image=person("3", "30", "Sato"), created=1696472283.0),
    ]


def test_seed_sample_changes_reproduce_the_published_lines_key_for_key():
    records = seed_sample_records()
    for record, published in zip(records, SEED_LINES, strict=True):
        line = encode_history_line(history_line(record, "expiredAt", RemovalsWithoutIdentity.MANUAL)).decode()
        assert line.endswith("\n")
        assert line.startswith(published[:-1] + ", "), "the seed's keys come first, in its order, byte for byte"
        added = json.loads(line)
        assert added["event_id"] == record["eventID"]
        assert added["sequence_number"] == record["dynamodb"]["SequenceNumber"]
        assert added["table"] == "sample-table"
        assert added["expired"] is False


def test_numbers_are_exact_json_numbers_not_strings():
    record = stream_record(
        "INSERT",
        {"Id": {"S": "1"}},
        new_image={
            "Id": {"S": "1"},
            "Age": {"N": "20"},
            "t": {"N": "0.1"},
            "big": {"N": "12345678901234567890123456789012345678"},
        },
    )
    text = dumps(history_line(record, "expiredAt", RemovalsWithoutIdentity.MANUAL))
    assert '"Age": 20,' in text and '"t": 0.1,' in text and '"big": 12345678901234567890123456789012345678}' in text
    assert json.loads(text, parse_float=Decimal)["new_image"]["t"] == Decimal("0.1")


def test_sets_and_binary_are_tagged_and_read_back_exactly():
    typed = {
        "ss": {"SS": ["b", "a"]},
        "ns": {"NS": ["2", "1.5"]},
        "bin": {"B": "AAEC"},
        "bs": {"BS": ["AQ==", "AA=="]},
        "nested": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}, {"SS": ["x"]}]}}},
    }
    plain = to_json_value(image_to_python(typed))
    assert plain["ss"] == {"$ss": ["a", "b"]}
    assert plain["bin"] == {"$b64": "AAEC"}
    parsed = json.loads(dumps(plain), parse_float=Decimal, parse_int=Decimal)
    assert from_json_value(parsed) == image_to_python(typed)
    assert TypeSerializer().serialize(from_json_value(parsed)["ns"]) == {"NS": ["1.5", "2"]}


def test_attribute_values_convert_as_boto3_type_deserializer_does():
    typed = {
        "s": {"S": "x"},
        "n": {"N": "-1.25E+3"},
        "bool": {"BOOL": True},
        "null": {"NULL": True},
        "m": {"M": {"a": {"L": [{"N": "1"}, {"S": "y"}]}}},
        "ss": {"SS": ["a"]},
        "ns": {"NS": ["1", "2"]},
    }
    boto3_values = {name: TypeDeserializer().deserialize(value) for name, value in typed.items()}
    assert image_to_python(typed) == boto3_values
    assert image_to_python({"b": {"B": "AAEC"}})["b"] == bytes([0, 1, 2])


def test_ttl_removal_is_marked_expired_and_a_manual_delete_is_not():
    keys = {"Id": {"S": "1"}}
    by_ttl = stream_record("REMOVE", keys, old_image=keys, ttl_removal=True)
    by_hand = stream_record("REMOVE", keys, old_image=keys)
    for without_identity in RemovalsWithoutIdentity:
        assert history_line(by_ttl, "expiredAt", without_identity)["expired"] is True
        assert history_line(by_hand, "expiredAt", without_identity)["expired"] is False


def history_objects(bucket):
    s3 = boto3.client("s3")
    lines = []
    for listed in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        lines += s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read().decode().splitlines()
    return lines


def test_handler_delivers_one_line_per_record_to_the_history_bucket(history_bucket, lambda_context):
    records = seed_sample_records()
    assert history.handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    lines = history_objects(history_bucket)
    assert [json.loads(line)["event_id"] for line in lines] == [record["eventID"] for record in records]


def test_calls_respect_firehose_limits_of_500_records_and_4_mib(history_bucket, lambda_context, inject_faults):
    def accept_all(real, **kwargs):
        return {
            "FailedPutCount": 0,
            "RequestResponses": [{"RecordId": "r"}] * len(kwargs["Records"]),
        }

    faulty = inject_faults(history, "firehose", put_record_batch=accept_all)
    many = [stream_record("INSERT", {"Id": {"S": str(n)}}, new_image={"Id": {"S": str(n)}}) for n in range(1200)]
    history.handler({"Records": many}, lambda_context)
    assert [len(call["Records"]) for call in faulty.calls["put_record_batch"]] == [500, 500, 200]

    faulty.calls.clear()
    large = [
        stream_record("INSERT", {"Id": {"S": str(n)}}, new_image={"Id": {"S": str(n)}, "blob": {"S": "x" * 300_000}})
        for n in range(30)
    ]
    history.handler({"Records": large}, lambda_context)
    sizes = [sum(len(r["Data"]) for r in call["Records"]) for call in faulty.calls["put_record_batch"]]
    assert len(sizes) == 3 and max(sizes) <= 4 * 1024 * 1024
    assert sum(len(call["Records"]) for call in faulty.calls["put_record_batch"]) == 30


def test_only_the_entries_firehose_failed_are_sent_again(history_bucket, lambda_context, inject_faults):
    def fail_two_once(real, **kwargs):
        records = kwargs["Records"]
        if len(faulty.calls["put_record_batch"]) > 1:
            return real(**kwargs)
        real(DeliveryStreamName=kwargs["DeliveryStreamName"], Records=records[2:])
        failed = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"}
        return {"FailedPutCount": 2, "RequestResponses": [failed, failed] + [{"RecordId": "ok"}] * (len(records) - 2)}

    faulty = inject_faults(history, "firehose", put_record_batch=fail_two_once)
    records = seed_sample_records()
    history.handler({"Records": records}, lambda_context)
    resent = faulty.calls["put_record_batch"][1]["Records"]
    assert [json.loads(r["Data"])["event_id"] for r in resent] == [records[0]["eventID"], records[1]["eventID"]]
    assert sorted(json.loads(line)["event_id"] for line in history_objects(history_bucket)) == sorted(
        r["eventID"] for r in records
    )


def test_lines_firehose_keeps_refusing_fail_the_invocation(history_bucket, lambda_context, inject_faults):
    def fail_first(real, **kwargs):
        records = kwargs["Records"]
        return {
            "FailedPutCount": 1,
            "RequestResponses": [{"ErrorCode": "InternalFailure"}] + [{"RecordId": "ok"}] * (len(records) - 1),
        }

    inject_faults(history, "firehose", put_record_batch=fail_first)
    with pytest.raises(history.DeliveryFailed, match="1 of 5 history lines not delivered"):
        history.handler({"Records": seed_sample_records()}, lambda_context)


def test_throttled_calls_are_retried_then_raise_when_they_never_pass(
    history_bucket, lambda_context, inject_faults, make_client_error
):
    def throttled(real, **kwargs):
        raise make_client_error("ServiceUnavailableException", status=503)

    faulty = inject_faults(history, "firehose", put_record_batch=throttled)
    with pytest.raises(history.DeliveryFailed, match="ServiceUnavailableException"):
        history.handler({"Records": seed_sample_records()}, lambda_context)
    assert len(faulty.calls["put_record_batch"]) == 6


def test_a_line_over_firehose_record_limit_fails_loudly(history_bucket, lambda_context):
    huge = stream_record(
        "INSERT", {"Id": {"S": "1"}}, new_image={"a": {"S": "x" * 400_000}}, old_image={"a": {"S": "y" * 400_000}}
    )
    huge["dynamodb"]["NewImage"]["b"] = {"S": "z" * 300_000}
    with pytest.raises(history.DeliveryFailed, match="record limit"):
        history.handler({"Records": [huge]}, lambda_context)
