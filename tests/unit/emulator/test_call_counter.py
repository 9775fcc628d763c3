from emulator.call_counter import operation


def test_json_protocol_calls_are_named_by_their_target():
    assert operation("POST", "/", {"x-amz-target": "DynamoDB_20120810.BatchWriteItem"}) == "dynamodb.BatchWriteItem"
    assert (
        operation("POST", "/", {"x-amz-target": "DynamoDBStreams_20120810.GetRecords"}) == "dynamodbstreams.GetRecords"
    )
    assert operation("POST", "/", {"x-amz-target": "AmazonSQS.ReceiveMessage"}) == "sqs.ReceiveMessage"
    assert operation("POST", "/", {"x-amz-target": "Firehose_20150804.PutRecordBatch"}) == "firehose.PutRecordBatch"


def test_rest_calls_are_named_by_their_path():
    assert operation("POST", "/2015-03-31/functions/dev-ingest/invocations", {}) == "lambda.Invoke"
    assert operation("PUT", "/dev-archive/archive/t/2026/01/01/x.jsonl.gz", {}) == "s3.PutObject"
    assert operation("GET", "/dev-archive", {}) == "s3.GET"
