"""A function's partial batch response, read as Lambda reads it (ReportBatchItemFailures).

The conditions are AWS's ("Handling errors for an SQS event source in Lambda" and "Configuring
partial batch response with DynamoDB and Lambda", success and failure conditions), the same
for both mappings:

- a complete success: null, an empty object, an empty `batchItemFailures` list or a null one
  (and an empty JSON list, which AWS also accepts: LocalStack's AWS-validated
  `test_dynamodb_report_batch_item_success_scenarios[empty_list_success]`);
- a complete failure: a response that is not JSON, or not an object; a `batchItemFailures` that
  is not a list; an entry whose `itemIdentifier` is missing (a misnamed key), null, empty, not a
  string or not in the batch;
- otherwise the identifiers named are the failed records.

Keys beside `batchItemFailures` are ignored, as in any EventResponse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

FAILURES_KEY = "batchItemFailures"
IDENTIFIER_KEY = "itemIdentifier"


def reported_failures(payload: bytes, identifiers: Iterable[str]) -> set[str] | None:
    """The identifiers `payload` reports as failed (empty: the whole batch succeeded), or None
    when Lambda would count the whole batch as failed. `identifiers` are the batch's own
    (message ids for SQS, sequence numbers for streams)."""
    try:
        response: Any = json.loads(payload)
    except ValueError:
        return None
    if response is None or response == []:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get(FAILURES_KEY)
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    known, reported = set(identifiers), set()
    for failure in failures:
        identifier = failure.get(IDENTIFIER_KEY) if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in known:
            return None
        reported.add(identifier)
    return reported
