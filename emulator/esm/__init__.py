"""Lambda event source mappings for SQS and DynamoDB Streams, with AWS's documented semantics.

Pure decisions (filtering, batching, retry and bisect, failure records) live in `filtering`,
`stream_delivery` and `sqs_delivery`; `engine` does the I/O against the emulator's public APIs.
"""
