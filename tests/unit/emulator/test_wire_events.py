"""The events built from the JSON wire form the data plane now reads are, byte for byte, those the
boto3 path built: GetRecords and ReceiveMessage answers as MiniStack gives them (in process, every
attribute type), and the events that boto3's parse of the same answers gave (branch leanclient,
before its conversions back to JSON were removed)."""

import json

from emulator.esm.sqs_delivery import lambda_sqs_record
from emulator.esm.stream_events import lambda_stream_record

STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/wire/stream/2026-11-23T00:00:00.000"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"

# An INSERT with one attribute of every type, and a TTL removal (userIdentity) without SizeBytes.
GET_RECORDS_ANSWER = r"""
{
    "Records": [
        {
            "eventID": "e1",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1795458570,
                "Keys": {
                    "pk": {
                        "S": "a"
                    }
                },
                "SequenceNumber": "100",
                "SizeBytes": 56,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                "NewImage": {
                    "pk": {
                        "S": "a"
                    },
                    "n": {
                        "N": "-0.5"
                    },
                    "b": {
                        "B": "AAEC/w=="
                    },
                    "t": {
                        "BOOL": true
                    },
                    "z": {
                        "NULL": true
                    },
                    "ss": {
                        "SS": [
                            "x",
                            "y"
                        ]
                    },
                    "ns": {
                        "NS": [
                            "1",
                            "2.5"
                        ]
                    },
                    "bs": {
                        "BS": [
                            "AA==",
                            "/w=="
                        ]
                    },
                    "l": {
                        "L": [
                            {
                                "S": "e"
                            },
                            {
                                "N": "3"
                            },
                            {
                                "B": "AQ=="
                            }
                        ]
                    },
                    "m": {
                        "M": {
                            "k": {
                                "B": "Ag=="
                            },
                            "v": {
                                "N": "7"
                            }
                        }
                    }
                }
            }
        },
        {
            "eventID": "e2",
            "eventName": "REMOVE",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1795458571,
                "Keys": {
                    "pk": {
                        "S": "a"
                    }
                },
                "SequenceNumber": "200",
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                "OldImage": {
                    "pk": {
                        "S": "a"
                    },
                    "b": {
                        "B": "AAEC/w=="
                    },
                    "bs": {
                        "BS": [
                            "AA=="
                        ]
                    }
                }
            },
            "userIdentity": {
                "Type": "Service",
                "PrincipalId": "dynamodb.amazonaws.com"
            }
        }
    ],
    "NextShardIterator": "it-2"
}
"""

# A message with String, Number and Binary attributes, and one without attributes.
RECEIVE_MESSAGE_ANSWER = r"""
{
    "Messages": [
        {
            "MessageId": "m1",
            "ReceiptHandle": "r1",
            "MD5OfBody": "42b7b4f2921788ea14dac5566e6f06d0",
            "Body": "{\"a\": 1}",
            "Attributes": {
                "SenderId": "000000000000",
                "SentTimestamp": "1795458586460",
                "ApproximateReceiveCount": "1",
                "ApproximateFirstReceiveTimestamp": "1795458586460"
            },
            "MessageAttributes": {
                "s": {
                    "DataType": "String",
                    "StringValue": "hé"
                },
                "n": {
                    "DataType": "Number",
                    "StringValue": "12.5"
                },
                "b": {
                    "DataType": "Binary",
                    "BinaryValue": "AAEC/w=="
                }
            },
            "MD5OfMessageAttributes": "c4d72138e1051465c3dc4a089c60b638"
        },
        {
            "MessageId": "m2",
            "ReceiptHandle": "r2",
            "MD5OfBody": "ac7938d40cfc2307e2bf325d28e7884e",
            "Body": "plain",
            "Attributes": {
                "SenderId": "000000000000",
                "SentTimestamp": "1795458586460",
                "ApproximateReceiveCount": "1",
                "ApproximateFirstReceiveTimestamp": "1795458586460"
            }
        }
    ]
}
"""

BOTO3_PATH_STREAM_EVENTS = r"""
[
    {
        "eventID": "e1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795458570.0,
            "Keys": {
                "pk": {
                    "S": "a"
                }
            },
            "NewImage": {
                "pk": {
                    "S": "a"
                },
                "n": {
                    "N": "-0.5"
                },
                "b": {
                    "B": "AAEC/w=="
                },
                "t": {
                    "BOOL": true
                },
                "z": {
                    "NULL": true
                },
                "ss": {
                    "SS": [
                        "x",
                        "y"
                    ]
                },
                "ns": {
                    "NS": [
                        "1",
                        "2.5"
                    ]
                },
                "bs": {
                    "BS": [
                        "AA==",
                        "/w=="
                    ]
                },
                "l": {
                    "L": [
                        {
                            "S": "e"
                        },
                        {
                            "N": "3"
                        },
                        {
                            "B": "AQ=="
                        }
                    ]
                },
                "m": {
                    "M": {
                        "k": {
                            "B": "Ag=="
                        },
                        "v": {
                            "N": "7"
                        }
                    }
                }
            },
            "SequenceNumber": "100",
            "SizeBytes": 56,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/wire/stream/2026-11-23T00:00:00.000"
    },
    {
        "eventID": "e2",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795458571.0,
            "Keys": {
                "pk": {
                    "S": "a"
                }
            },
            "OldImage": {
                "pk": {
                    "S": "a"
                },
                "b": {
                    "B": "AAEC/w=="
                },
                "bs": {
                    "BS": [
                        "AA=="
                    ]
                }
            },
            "SequenceNumber": "200",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "SizeBytes": 14
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/wire/stream/2026-11-23T00:00:00.000",
        "userIdentity": {
            "type": "Service",
            "principalId": "dynamodb.amazonaws.com"
        }
    }
]
"""

BOTO3_PATH_SQS_EVENTS = r"""
[
    {
        "messageId": "m1",
        "receiptHandle": "r1",
        "body": "{\"a\": 1}",
        "attributes": {
            "SenderId": "000000000000",
            "SentTimestamp": "1795458586460",
            "ApproximateReceiveCount": "1",
            "ApproximateFirstReceiveTimestamp": "1795458586460"
        },
        "messageAttributes": {
            "s": {
                "stringValue": "h\u00e9",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String"
            },
            "n": {
                "stringValue": "12.5",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Number"
            },
            "b": {
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
                "binaryValue": "AAEC/w=="
            }
        },
        "md5OfMessageAttributes": "c4d72138e1051465c3dc4a089c60b638",
        "md5OfBody": "42b7b4f2921788ea14dac5566e6f06d0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1"
    },
    {
        "messageId": "m2",
        "receiptHandle": "r2",
        "body": "plain",
        "attributes": {
            "SenderId": "000000000000",
            "SentTimestamp": "1795458586460",
            "ApproximateReceiveCount": "1",
            "ApproximateFirstReceiveTimestamp": "1795458586460"
        },
        "messageAttributes": {},
        "md5OfMessageAttributes": null,
        "md5OfBody": "ac7938d40cfc2307e2bf325d28e7884e",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1"
    }
]
"""


def test_stream_events_from_the_wire_are_those_the_boto3_path_built():
    records = json.loads(GET_RECORDS_ANSWER)["Records"]
    events = [lambda_stream_record(record, STREAM, "us-east-1") for record in records]
    assert json.dumps(events, indent=4) == BOTO3_PATH_STREAM_EVENTS.strip()


def test_the_creation_time_is_epoch_seconds_as_a_float_and_binary_stays_base64():
    [insert, removal] = [
        lambda_stream_record(r, STREAM, "us-east-1") for r in json.loads(GET_RECORDS_ANSWER)["Records"]
    ]
    assert insert["dynamodb"]["ApproximateCreationDateTime"] == 1795458570.0
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], float)
    assert insert["dynamodb"]["NewImage"]["b"] == {"B": "AAEC/w=="}
    assert removal["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_sqs_records_from_the_wire_are_those_the_boto3_path_built():
    messages = json.loads(RECEIVE_MESSAGE_ANSWER)["Messages"]
    records = [lambda_sqs_record(message, QUEUE, "us-east-1") for message in messages]
    assert json.dumps(records, indent=4) == BOTO3_PATH_SQS_EVENTS.strip()
