"""The journal's record format: checksummed records in reserved space, a torn last record told
apart from corruption, reserving and writing failures reported as such."""

import errno
import logging

import pytest

from emulator.journal_file import (
    HEADER,
    JournalCorrupt,
    JournalWriteFailed,
    JournalWriter,
    NoJournalSpace,
    OsFileOps,
    ReadResult,
    generation_path,
    generations,
    read_generation,
)

RESERVE = 64 * 1024


def entry(n):
    return ["P", "arn:aws:dynamodb:us-east-1:000000000000:table/t", f"k{n}", "", {"n": {"N": str(n)}}]


def written(tmp_path, flushes, per_flush=3):
    writer = JournalWriter(tmp_path, RESERVE, sync=False)
    writer.open(1)
    for f in range(flushes):
        for n in range(per_flush):
            writer.append(entry(f * per_flush + n))
        writer.flush()
    writer.close()
    return generation_path(tmp_path, 1), writer.end


def read(path):
    result = ReadResult()
    return list(read_generation(path, result)), result


def test_records_read_back_as_written_and_the_reserved_zeros_end_them(tmp_path):
    path, end = written(tmp_path, flushes=4)
    assert path.stat().st_size >= RESERVE > end
    records, result = read(path)
    assert [[e[2] for e in entries] for entries in records] == [
        [f"k{n}" for n in range(f * 3, f * 3 + 3)] for f in range(4)
    ]
    assert result.records == 4 and result.torn_at is None


def test_a_flush_writes_all_pending_entries_as_one_record_and_nothing_when_none(tmp_path):
    writer = JournalWriter(tmp_path, RESERVE, sync=False)
    writer.open(7)
    writer.flush()
    assert writer.end == 0
    writer.append(entry(1))
    writer.append(entry(2))
    writer.flush()
    length, _checksum = HEADER.unpack(generation_path(tmp_path, 7).read_bytes()[: HEADER.size])
    assert writer.end == HEADER.size + length
    assert generations(tmp_path) == [7]


def test_a_torn_last_record_is_dropped_with_a_warning(tmp_path, caplog):
    path, end = written(tmp_path, flushes=3)
    data = bytearray(path.read_bytes())
    start_of_last = end - end // 3  # three records of the same size
    # A crash in the middle of the last write: its second half never reached the file.
    cut = start_of_last + (end - start_of_last) // 2
    data[cut:end] = bytes(end - cut)
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="emulator.journal"):
        records, result = read(path)
    assert len(records) == 2 and result.torn_at == start_of_last
    assert "cut short by a crash" in caplog.text and str(path) in caplog.text


def test_a_record_cut_by_the_end_of_the_file_is_torn_too(tmp_path):
    path, end = written(tmp_path, flushes=2)
    path.write_bytes(path.read_bytes()[: end - 10])
    records, result = read(path)
    assert len(records) == 1 and result.torn_at is not None


def test_a_damaged_record_with_records_after_it_stops_the_start_in_one_line_naming_the_file(tmp_path):
    path, _end = written(tmp_path, flushes=3)
    data = bytearray(path.read_bytes())
    data[HEADER.size + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt) as refused:
        read(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: the record at byte 0 fails its checksum") and "\n" not in message


def test_a_length_beyond_any_record_is_corruption_not_a_torn_tail(tmp_path):
    path, _end = written(tmp_path, flushes=2)
    data = bytearray(path.read_bytes())
    data[3] = 0x7F  # the first record's length, its high byte
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        read(path)


class FailingOps(OsFileOps):
    def __init__(self):
        self.allocate_error = None
        self.write_error = None

    def allocate(self, fd, offset, length):
        if self.allocate_error:
            raise OSError(self.allocate_error, "No space left on device")
        super().allocate(fd, offset, length)

    def write(self, fd, data, offset):
        if self.write_error:
            raise OSError(self.write_error, "Input/output error")
        return super().write(fd, data, offset)


def test_space_is_reserved_ahead_and_a_full_disk_shows_when_reserving(tmp_path):
    ops = FailingOps()
    writer = JournalWriter(tmp_path, RESERVE, sync=False, ops=ops)
    writer.open(1)
    ops.allocate_error = errno.ENOSPC
    writer.reserve()  # the reserve made at open still stands
    writer.append("x" * (RESERVE // 2))
    writer.flush()
    with pytest.raises(
        NoJournalSpace, match=r"cannot reserve 0\.0625 MB for the journal in .*: No space left on device"
    ):
        writer.reserve()
    ops.allocate_error = None
    writer.reserve()


def test_a_failed_write_is_reported_with_the_file_and_the_error(tmp_path):
    ops = FailingOps()
    writer = JournalWriter(tmp_path, RESERVE, sync=False, ops=ops)
    writer.open(3)
    writer.append(entry(1))
    ops.write_error = errno.EIO
    with pytest.raises(JournalWriteFailed, match=r"00000003\.journal: Input/output error"):
        writer.flush()


def test_rotation_starts_the_next_generation_with_its_first_entries_and_lists_the_older_ones(tmp_path):
    writer = JournalWriter(tmp_path, RESERVE, sync=True)
    writer.open(1)
    writer.append(entry(1))
    older = writer.rotate(lambda: [entry(2)])
    assert older == [1] and writer.generation == 2
    assert [[e[2] for e in r] for r in read(generation_path(tmp_path, 1))[0]] == [["k1"]]
    assert [[e[2] for e in r] for r in read(generation_path(tmp_path, 2))[0]] == [["k2"]]
    writer.remove(older)
    assert generations(tmp_path) == [2]
