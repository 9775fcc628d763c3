"""DynamoDB Streams (REMOVE events) -> S3 archive, for items deleted by TTL only.

Errors raise, so the event source mapping retries the batch: the seed design returned
{"statusCode": 500}, which Lambda counts as success, and lost the records.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from device_data.archive import ArchiveLayout
from device_data.table import HASH_KEY, RANGE_KEY
from handlers.aws import client
from handlers.core.archive_objects import ArchiveObject, batch_object, per_item_objects
from handlers.core.stream_records import StreamRecord, is_ttl_removal
from handlers.settings import ArchiveSettings

logger = Logger(service="archive")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    archive(event["Records"], ArchiveSettings.from_env())
    return {"batchItemFailures": []}


def archive(records: list[StreamRecord], settings: ArchiveSettings) -> list[ArchiveObject]:
    removals = [
        record
        for record in records
        if is_ttl_removal(record, settings.ttl_attribute, settings.removals_without_identity)
    ]
    if not removals:
        return []
    if settings.layout == ArchiveLayout.BATCH:
        objects = [batch_object(removals, settings.ttl_attribute, settings.prefix)]
    else:
        objects = per_item_objects(removals, settings.ttl_attribute, settings.prefix, (HASH_KEY, RANGE_KEY))
    s3 = client("s3")
    for archived in objects:
        s3.put_object(
            Bucket=settings.bucket,
            Key=archived.key,
            Body=archived.body,
            ContentType=archived.content_type,
            StorageClass=settings.storage_class,
            Metadata={"item-count": str(archived.item_count)},
        )
    return objects
