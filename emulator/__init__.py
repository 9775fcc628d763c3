"""The embedded backend: the AWS side of the pipeline on one machine, without Docker.

MiniStack serves the AWS APIs (chosen by measurement, see the README). This package adds
what it lacks, where the pipeline can tell the difference from AWS:
- `ministack`: everything that reaches into MiniStack, each change a patch checked against the
  pinned version: DynamoDB TTL expiry on DynamoDB's rules (`ttl_rules`), with the stream record
  AWS writes for it, Firehose buffering, stream records kept across restarts, speed fixes;
- `firehose_buffer`: Firehose BufferingHints (one S3 object per buffer, not per record);
- `esm`: Lambda event source mappings for SQS and DynamoDB Streams with AWS's semantics;
- `lifecycle`: start, stop and status of the two processes (API and data plane).
"""
