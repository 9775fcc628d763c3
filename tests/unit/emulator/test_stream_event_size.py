"""A Lambda stream event's SizeBytes is DynamoDB's item size of its keys and images (GetRecords's, or computed)."""

from emulator.esm.stream_events import lambda_stream_record

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/label"


def record(size_bytes):
    change = {
        "Keys": {"pk": {"S": "a"}},
        "NewImage": {"pk": {"S": "a"}, "blob": {"B": "AAE="}, "value": {"N": "-0.5"}},
        "StreamViewType": "NEW_IMAGE",
        "SequenceNumber": "1",
    }
    if size_bytes is not None:
        change["SizeBytes"] = size_bytes
    return {"eventID": "e", "eventName": "INSERT", "dynamodb": change}


def test_the_size_getrecords_reports_is_passed_on():
    assert lambda_stream_record(record(99), ARN, "us-east-1")["dynamodb"]["SizeBytes"] == 99


def test_a_backend_reporting_no_size_gets_dynamodbs_item_size():
    # keys 3; image: pk 3, blob 4 + 2 raw bytes, value 5 + 3 (a negative number of one digit pair)
    assert lambda_stream_record(record(None), ARN, "us-east-1")["dynamodb"]["SizeBytes"] == 3 + 3 + 6 + 8
