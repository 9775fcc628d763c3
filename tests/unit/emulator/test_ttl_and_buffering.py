from emulator.firehose_buffer import FirehoseBuffers
from emulator.ttl_rules import FIVE_YEARS_SECONDS, is_expired

NOW = 1_800_000_000


def test_only_past_numbers_in_epoch_seconds_expire():
    assert is_expired({"N": str(NOW - 1)}, NOW)
    assert is_expired({"N": str(NOW)}, NOW)
    assert not is_expired({"N": str(NOW + 1)}, NOW)


def test_missing_and_non_number_ttl_values_never_expire():
    assert not is_expired(None, NOW)
    assert not is_expired({"S": str(NOW - 100)}, NOW)
    assert not is_expired({"NS": [str(NOW - 100)]}, NOW)
    assert not is_expired({"N": "not-a-number"}, NOW)


def test_values_more_than_five_years_old_are_ignored():
    assert is_expired({"N": str(NOW - FIVE_YEARS_SECONDS)}, NOW)
    assert not is_expired({"N": str(NOW - FIVE_YEARS_SECONDS - 1)}, NOW)


def test_milliseconds_read_as_a_far_future_date_and_never_expire():
    assert not is_expired({"N": str(NOW * 1000)}, NOW)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def buffers(size_mb=1, interval=60):
    clock, delivered = Clock(), []
    stream = {"name": "history"}
    destination = {"id": "d1", "config": {"BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": interval}}}
    firehose = FirehoseBuffers(lambda s, d, body, _oldest: delivered.append(body), clock)
    return firehose, clock, delivered, stream, destination


def test_records_become_one_object_when_the_interval_passes():
    firehose, clock, delivered, stream, destination = buffers()
    for n in range(100):
        firehose.add(stream, destination, [f"line {n}\n".encode()])
    clock.now = 59.9
    assert firehose.flush_due() == 0 and delivered == []
    clock.now = 60
    assert firehose.flush_due() == 1
    assert delivered[0].count(b"\n") == 100


def test_a_full_buffer_is_written_at_the_next_flush_before_the_interval():
    firehose, _clock, delivered, stream, destination = buffers(size_mb=1)
    chunk = b"x" * (512 * 1024)
    firehose.add(stream, destination, [chunk])
    assert firehose.flush_due() == 0 and delivered == []
    firehose.add(stream, destination, [chunk])
    assert delivered == []
    assert firehose.flush_due() == 1
    assert len(delivered) == 1 and len(delivered[0]) == 1024 * 1024


def test_flush_all_delivers_what_is_pending():
    firehose, _clock, delivered, stream, destination = buffers()
    firehose.add(stream, destination, [b"a\n", b"b\n"])
    assert firehose.pending_records() == 2
    firehose.flush_all()
    assert delivered == [b"a\nb\n"] and firehose.pending_records() == 0


def test_an_object_is_dated_by_the_arrival_of_its_oldest_record():
    arrivals, wall = [], Clock()
    wall.now = NOW
    firehose = FirehoseBuffers(lambda s, d, body, oldest: arrivals.append(oldest), Clock(), wall)
    stream, destination = {"name": "history"}, {"id": "d1", "config": {}}
    firehose.add(stream, destination, [b"first\n"])
    wall.now = NOW + 3000
    firehose.add(stream, destination, [b"second\n"])
    firehose.flush_all()
    assert arrivals == [NOW]
