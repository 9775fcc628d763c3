"""The pipeline's three Lambda functions.

`handlers.core` holds the record transformations as pure functions (no boto3, no I/O);
`ingest`, `history` and `archive` are thin adapters that parse the event, call the core,
do the AWS calls and report failures the way their event source understands.
"""
