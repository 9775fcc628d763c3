"""Firehose's rules for the S3 object a buffer becomes (emulator.firehose_objects)."""

import gzip

from emulator.firehose_objects import key_time, object_body, record_as_buffered

DELIMITED = {"ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}}


def test_the_delimiter_processor_appends_a_newline_only_when_processing_is_enabled():
    assert record_as_buffered(DELIMITED, b"{}") == b"{}\n"
    disabled = {"ProcessingConfiguration": {"Enabled": False, "Processors": [{"Type": "AppendDelimiterToRecord"}]}}
    assert record_as_buffered(disabled, b"{}") == b"{}"
    assert record_as_buffered({}, b"{}") == b"{}"


def test_gzip_compresses_the_object_and_names_it_gz():
    body, extension = object_body({"CompressionFormat": "GZIP"}, b"a\nb\n")
    assert gzip.decompress(body) == b"a\nb\n" and extension == ".gz"


def test_uncompressed_is_the_default_and_a_file_extension_overrides_the_default_one():
    assert object_body({}, b"a\n") == (b"a\n", "")
    body, extension = object_body({"CompressionFormat": "GZIP", "FileExtension": ".json.gz"}, b"a\n")
    assert extension == ".json.gz" and gzip.decompress(body) == b"a\n"


def test_the_key_time_is_the_oldest_arrival_in_utc_or_the_custom_time_zone():
    oldest = 1_800_000_000  # 2027-01-15 08:00:00 UTC
    assert key_time({}, oldest)[:4] == (2027, 1, 15, 8)
    assert key_time({"CustomTimeZone": "Asia/Tokyo"}, oldest)[:4] == (2027, 1, 15, 17)
