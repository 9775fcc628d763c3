"""How Firehose turns the records of one buffer into an S3 object, on AWS's documented rules.

- `AppendDelimiterToRecord` (Firehose API reference, "Processor"): with processing enabled, a
  newline is appended to each record, so an object holds one record per line.
- `CompressionFormat` (API reference, "ExtendedS3DestinationConfiguration"): GZIP writes a gzip
  object with the `.gz` extension; `FileExtension` overrides the extension. ZIP, Snappy and
  HADOOP_SNAPPY are not emulated: such objects are written uncompressed, and a warning says so.
- The key's time (developer guide, "Configure Amazon S3 object name format" and "Custom
  prefixes"): the approximate arrival time of the oldest record in the object, in UTC unless
  `CustomTimeZone` names another zone.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger("emulator.firehose")

APPEND_DELIMITER = "AppendDelimiterToRecord"
RECORD_DELIMITER = b"\n"


class Compression(StrEnum):
    UNCOMPRESSED = "UNCOMPRESSED"
    GZIP = "GZIP"


def appends_delimiter(config: Mapping[str, Any]) -> bool:
    """Whether the destination's processing appends a newline to each record."""
    processing = config.get("ProcessingConfiguration") or {}
    return bool(processing.get("Enabled")) and any(
        processor.get("Type") == APPEND_DELIMITER for processor in processing.get("Processors") or []
    )


def record_as_buffered(config: Mapping[str, Any], payload: bytes) -> bytes:
    return payload + RECORD_DELIMITER if appends_delimiter(config) else payload


def object_body(config: Mapping[str, Any], body: bytes) -> tuple[bytes, str]:
    """The object's bytes and its key's extension."""
    compression = config.get("CompressionFormat") or Compression.UNCOMPRESSED
    if compression == Compression.GZIP:
        body, extension = gzip.compress(body), ".gz"
    else:
        if compression != Compression.UNCOMPRESSED:
            logger.warning(
                "Firehose CompressionFormat %s is not emulated: the object is written uncompressed", compression
            )
        extension = ""
    return body, config.get("FileExtension") or extension


def key_time(config: Mapping[str, Any], oldest_arrival: float) -> time.struct_time:
    """The time a key's prefix and name are made from: the oldest record's arrival."""
    zone = config.get("CustomTimeZone")
    if zone and zone != "UTC":
        try:
            return datetime.fromtimestamp(oldest_arrival, ZoneInfo(zone)).timetuple()
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("Firehose CustomTimeZone %s is unknown here: keys use UTC", zone)
    return time.gmtime(oldest_arrival)
