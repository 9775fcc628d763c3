"""DynamoDB items and stream records in less memory, for 24 hours of stream retention.

MiniStack keeps each stream record as nested dicts (about 1.1 KB) and each item's attribute
values as one dict each (9 per reading, 184 bytes apiece): 346 MB for 100,000 readings, 725 MB
after a restart, when the snapshot no longer shares a record's image with its item. Here:
- a table's stream records are a `CompactRecords` list: a record is a tuple that keeps its
  images as references to the items and what its table's records have in common in one
  shared header; every read (index, slice, iteration) gets a dict equal to MiniStack's, so
  GetRecords, DescribeStream, the snapshot and our TTL sweep see the same records as before;
- small String and Number values, and attribute names, are shared between items when an item
  is stored (MiniStack never changes a stored item in place: updates work on deep copies);
- the snapshot names the item a record's image is instead of holding a copy, and items share
  their values as the snapshot is parsed; `after_load` packs what was loaded;
- a snapshot is encoded from the live tables (`LiveState`), not from MiniStack's deep copy of
  them: a checkpoint needs the JSON's memory, not a second copy of the data, and leaves no
  copy's worth of freed memory behind in the heap; the stream records' JSON is kept from one
  checkpoint to the next (records never change once appended), so that each encodes only the
  records appended since.
"""

from __future__ import annotations

import logging
import operator
import sys
import time
import zlib
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import Any, NamedTuple, SupportsIndex, overload

import orjson

from emulator.ministack.persistence import GET_STATE, LOAD_PERSISTED_STATE, STREAM_RECORDS_KEY
from emulator.ministack.registry import Originals, Patch, Target
from emulator.ministack.saves import encode_json
from emulator.ministack.ttl import DYNAMODB, import_dynamodb

logger = logging.getLogger("emulator.compact")

SET_ITEM = Target(DYNAMODB, "_set_item")
TRIM_STREAM_RECORDS = Target(DYNAMODB, "_trim_stream_records")
SNAPSHOT_OBJECT_HOOK = Target("ministack.core.persistence", "_json_object_hook")

# Values up to this length are shared; longer ones are rarely repeated.
SHARED_VALUE_MAX_CHARS = 40
# Distinct shared values kept; past this the table starts again (a reading's values repeat
# within a fleet, so the useful set is small).
SHARED_VALUES_MAX = 100_000
# An attribute whose values are mostly new after this many (a timestamp, a key) is not shared:
# a table entry per value would cost more than it saves.
SHARING_TRIAL = 1000

# MiniStack's record fields, in its order (_build_change_record); a record is packed only when it has them so.
_RECORD_KEYS = ("eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN")
_CHANGE_KEYS_ORDER = (
    "ApproximateCreationDateTime",
    "Keys",
    "SequenceNumber",
    "SizeBytes",
    "StreamViewType",
    "OldImage",
    "NewImage",
)
_CHANGE_KEYS = frozenset(_CHANGE_KEYS_ORDER)
# The sort key MiniStack files an item under when its table has none.
NO_SORT_KEY = "__no_sort__"
# In the snapshot, a record's NewImage that is the item stored under its keys: loaded once, as the item.
ITEM_REFERENCE = "@item"
_ATTRIBUTE_TYPES = frozenset(("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"))
_EVENT_VERSION = "1.1"
_EVENT_SOURCE = "aws:dynamodb"

_SHARED_KINDS = frozenset(("S", "N"))
_shared_values: dict[tuple[str, str], dict[str, str]] = {}
# Per attribute name on trial: [values looked up, values found shared].
_trials: dict[str, list[int]] = {}
_not_shared: set[str] = set()


def share_values(item: dict[str, Any]) -> None:
    """Replace `item`'s small String and Number values, and its attribute names, by shared objects."""
    if len(_shared_values) > SHARED_VALUES_MAX:
        _shared_values.clear()
    pairs = []
    changed = False
    for name, value in item.items():
        shared = value
        if type(value) is dict and len(value) == 1 and name not in _not_shared:
            ((kind, text),) = value.items()
            if kind in _SHARED_KINDS and type(text) is str and len(text) <= SHARED_VALUE_MAX_CHARS:
                shared = _shared_values.get((kind, text))
                if shared is None:
                    shared = _shared_values[(kind, text)] = {sys.intern(kind): sys.intern(text)}
                    _on_trial(name, found=False)
                else:
                    _on_trial(name, found=True)
        own_name = sys.intern(name) if type(name) is str else name
        changed = changed or shared is not value or own_name is not name
        pairs.append((own_name, shared))
    if changed:
        # The same dict: MiniStack goes on to put this object in the stream record.
        item.clear()
        item.update(pairs)


def _on_trial(name: str, found: bool) -> None:
    trial = _trials.get(name)
    if trial is None:
        if len(_trials) > SHARED_VALUES_MAX:
            return
        trial = _trials[name] = [0, 0]
    elif trial[0] >= SHARING_TRIAL:
        return
    trial[0] += 1
    trial[1] += found
    if trial[0] == SHARING_TRIAL and trial[1] * 2 < SHARING_TRIAL:
        _not_shared.add(name)


# MiniStack's name for the DynamoDB state (its file, dynamodb.json).
DYNAMODB_STATE = "dynamodb"
# Records encoded together by `LiveState`: their dicts are freed chunk by chunk; a chunk is kept
# encoded between checkpoints.
RECORDS_PER_CHUNK = 2000
# The JSON kept between checkpoints is compressed (zlib's fastest level): with where each record's
# item is, about 65 bytes per record instead of 520 (6.5 MB per 100,000 readings beside a budget
# of 150 MB); decompressing it takes a checkpoint about 0.08 s per 100,000 records.
CHUNK_COMPRESSION_LEVEL = 1
# MiniStack's get_state: the module's stores saved beside the tables, by state key.
_SAVED_STORES = {
    "tags": "_tags",
    "ttl_settings": "_ttl_settings",
    "pitr_settings": "_pitr_settings",
    "kinesis_destinations": "_kinesis_destinations",
    "contributor_insights": "_contributor_insights",
    "backups": "_backups",
    "resource_policies": "_resource_policies",
    "exports": "_exports",
    "imports": "_imports",
}

# A record: (eventID, eventName, ApproximateCreationDateTime, SequenceNumber, OldImage, NewImage,
# header, extra fields, SizeBytes), the header (eventSourceARN, awsRegion, StreamViewType, key
# names) shared by a table's records. The Keys are rebuilt from the image they were taken from.
Packed = tuple[Any, str, Any, Any, Any, Any, tuple[str, str, str, tuple[str, ...]], Any, int]
_headers: dict[tuple[str, str, str, tuple[str, ...]], tuple[str, str, str, tuple[str, ...]]] = {}
# Records of one second share their ApproximateCreationDateTime.
_last_created: list[Any] = [None]


class CompactRecords(list[Any]):
    """A table's stream records, packed; reads unpack them to MiniStack's dicts. A record that
    does not have MiniStack's usual shape is kept as it is."""

    __slots__ = ()

    def __init__(self, records: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(pack(record) for record in records)

    def append(self, record: Any) -> None:
        super().append(pack(record))

    def extend(self, records: Iterable[Any]) -> None:
        super().extend(pack(record) for record in records)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        if isinstance(index, slice):
            return [unpack(packed) for packed in super().__getitem__(index)]
        return unpack(super().__getitem__(index))

    def __iter__(self) -> Iterator[Any]:
        return (unpack(packed) for packed in super().__iter__())

    def created_at(self, index: int) -> Any:
        """A record's ApproximateCreationDateTime, without unpacking it."""
        packed = super().__getitem__(index)
        return packed[2] if type(packed) is tuple else (packed.get("dynamodb") or {}).get("ApproximateCreationDateTime")

    def sequence_number(self, index: int) -> str:
        packed = super().__getitem__(index)
        return str(packed[3] if type(packed) is tuple else packed["dynamodb"]["SequenceNumber"])


# Where a packed record keeps its images.
PACKED_OLD, PACKED_NEW = 4, 5


def stored_record(records: Any, index: int) -> Any:
    """The record at `index` as the list holds it: a packed tuple in CompactRecords, else a dict."""
    return list.__getitem__(records, index) if type(records) is CompactRecords else records[index]


def journal_fields(packed: Packed) -> list[Any]:
    """A packed record without its images, as JSON values (the journal's entry)."""
    event_id, name, created, sequence, _old, _new, header, extra, size_bytes = packed
    return [event_id, name, created, sequence, header, extra, size_bytes]


def from_journal_fields(fields: list[Any], old: Any, new: Any) -> Packed:
    """The packed record `journal_fields` came from, with its images."""
    # Entries journaled before records carried their size have six fields: their SizeBytes was 0.
    event_id, name, created, sequence, (arn, region, view, key_names), extra, *size_bytes = fields
    header = _shared_header((arn, region, view, tuple(key_names)))
    size = size_bytes[0] if size_bytes else 0
    return (event_id, sys.intern(name), _shared_created(created), sequence, old, new, header, extra, size)


def sequence_number(record: Any) -> str:
    """A record's SequenceNumber, packed or not."""
    return str(record[3] if type(record) is tuple else record["dynamodb"]["SequenceNumber"])


def pack(record: Any) -> Any:
    if type(record) is not dict or tuple(record)[: len(_RECORD_KEYS)] != _RECORD_KEYS:
        return record
    change = record["dynamodb"]
    if (
        record["eventVersion"] != _EVENT_VERSION
        or record["eventSource"] != _EVENT_SOURCE
        or type(change) is not dict
        or not _CHANGE_KEYS.issuperset(change)
        or type(change.get("SizeBytes")) is not int
        or "Keys" not in change
        or list(change) != [name for name in _CHANGE_KEYS_ORDER if name in change]
    ):
        return record
    old, new = change.get("OldImage"), change.get("NewImage")
    keys = change["Keys"]
    image = new if new is not None else old
    # MiniStack takes the Keys from the item written; without that image they are kept as they are.
    if image is None or any(image.get(name) is not value for name, value in keys.items()):
        return record
    header = (record["eventSourceARN"], record["awsRegion"], change["StreamViewType"], tuple(keys))
    extra = {name: record[name] for name in list(record)[len(_RECORD_KEYS) :]} or None
    return (
        record["eventID"],
        sys.intern(record["eventName"]),
        _shared_created(change["ApproximateCreationDateTime"]),
        change["SequenceNumber"],
        old,
        new,
        _shared_header(header),
        extra,
        change["SizeBytes"],
    )


def _shared_header(header: tuple[str, str, str, tuple[str, ...]]) -> tuple[str, str, str, tuple[str, ...]]:
    shared = _headers.get(header)
    if shared is None:
        if len(_headers) > SHARED_VALUES_MAX:
            _headers.clear()
        shared = _headers[header] = header
    return shared


def _shared_created(created: Any) -> Any:
    if created == _last_created[0] and type(created) is type(_last_created[0]):
        return _last_created[0]
    _last_created[0] = created
    return created


def unpack(packed: Any) -> Any:
    if type(packed) is not tuple:
        return packed
    event_id, name, created, sequence, old, new, (arn, region, view, key_names), extra, size_bytes = packed
    image = new if new is not None else old
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": {key: image[key] for key in key_names},
        "SequenceNumber": sequence,
        "SizeBytes": size_bytes,
        "StreamViewType": view,
    }
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    record = {
        "eventID": event_id,
        "eventName": name,
        "eventVersion": _EVENT_VERSION,
        "eventSource": _EVENT_SOURCE,
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": arn,
    }
    if extra:
        record.update(extra)
    return record


def _compact(originals: Originals) -> dict[Target, Any]:
    set_item, trim = originals[SET_ITEM], originals[TRIM_STREAM_RECORDS]

    def set_shared_item(table: dict[str, Any], partition_key: Any, sort_key: Any, item: dict[str, Any]) -> Any:
        share_values(item)
        return set_item(table, partition_key, sort_key, item)

    def trim_compact_records(table_name: str, *, account_id: str | None = None, region: str | None = None) -> None:
        # Called right after every append (and from the read paths): the list a table's first
        # record was appended to becomes compact here.
        dynamodb = import_dynamodb()
        scoped = account_id is not None and region is not None
        records = (
            dynamodb._stream_records.get_scoped(account_id, region, table_name)
            if scoped
            else dynamodb._stream_records.get(table_name)
        )
        if not records:
            return
        if type(records) is not CompactRecords:
            records = CompactRecords(records)
            if scoped:
                dynamodb._stream_records.set_scoped(account_id, region, table_name, records)
            else:
                dynamodb._stream_records[table_name] = records
        created = records.created_at(0)
        # MiniStack's trim unpacks the oldest record to find it young: skip that when it is.
        if created and created < time.time() - dynamodb._STREAM_RETENTION_SECONDS:
            trim(table_name, account_id=account_id, region=region)

    get_state, load_persisted_state, object_hook = (
        originals[GET_STATE],
        originals[LOAD_PERSISTED_STATE],
        originals[SNAPSHOT_OBJECT_HOOK],
    )

    def get_state_with_item_references() -> dict[str, Any]:
        state: dict[str, Any] = get_state()
        dynamodb = import_dynamodb()
        for account_id, region, table_name, records in state.get(STREAM_RECORDS_KEY, []):
            table = dynamodb._tables.get_scoped(account_id, region, table_name)
            records[:] = [_for_snapshot(record, table)[0] for record in records]
        return state

    def load_item_references(data: dict[str, Any] | None) -> Any:
        tables = (data or {}).get("tables")
        for account_id, region, table_name, records in (data or {}).get(STREAM_RECORDS_KEY, []):
            table = tables.get_scoped(account_id, region, table_name) if tables is not None else None
            for index, record in enumerate(records):
                if type(record) is tuple and type(record[PACKED_NEW]) is _ItemAt:
                    item = _item_under(table, record[PACKED_NEW]) if table is not None else None
                    records[index] = (*record[:PACKED_NEW], item, *record[PACKED_NEW + 1 :])
                    if item is None:
                        logger.warning(
                            "a stream record of %s lost its NewImage: its item is not in the snapshot", table_name
                        )
        return load_persisted_state(data)

    def object_hook_sharing_values(obj: dict[str, Any]) -> Any:
        # Done as the snapshot is parsed, so that what an item or a record no longer needs is
        # freed at once and its memory reused for the next, instead of leaving holes in the heap.
        obj = object_hook(obj)
        if type(obj) is not dict or not obj:
            return obj
        if tuple(obj)[: len(_RECORD_KEYS)] == _RECORD_KEYS:
            return _pack_loaded(obj)
        if all(
            type(value) is dict and len(value) == 1 and next(iter(value)) in _ATTRIBUTE_TYPES for value in obj.values()
        ):
            share_values(obj)
        return obj

    return {
        SET_ITEM: set_shared_item,
        TRIM_STREAM_RECORDS: trim_compact_records,
        GET_STATE: get_state_with_item_references,
        LOAD_PERSISTED_STATE: load_item_references,
        SNAPSHOT_OBJECT_HOOK: object_hook_sharing_values,
    }


# A partition no item is in (never filled): what a cached chunk's check looks a sort key up in.
_NO_ITEMS: dict[Any, Any] = {}


def _for_snapshot(record: Any, table: dict[str, Any] | None) -> tuple[Any, tuple[Any, Any] | None]:
    """`record` as the snapshot writes it, and when it is written as ITEM_REFERENCE (its NewImage
    is the very item stored), the partition and sort key that item is stored under."""
    change: Any = record.get("dynamodb") if type(record) is dict else None
    if type(change) is not dict or table is None:
        return record, None
    new = change.get("NewImage")
    keys = _stored_under(table, change.get("Keys")) if new is not None else None
    if keys is not None and _item_under(table, keys) is new:
        return {**record, "dynamodb": {**change, "NewImage": ITEM_REFERENCE}}, keys
    return record, None


class _Chunk(NamedTuple):
    """Records encoded together: `length` of them, from the stored object `first` to `last`, their
    JSON compressed; and of those written as ITEM_REFERENCE, the item each is and where it was
    found (one column each: a checkpoint checks them all, in C)."""

    first: Any
    last: Any
    length: int
    compressed: bytes
    partition_keys: tuple[Any, ...]
    sort_keys: tuple[Any, ...]
    items: tuple[dict[str, Any], ...]

    def is_at(self, records: Any, index: int) -> bool:
        # Records are only appended and trimmed from the front: the same ends, the same records.
        end = index + self.length
        return (
            end <= len(records)
            and stored_record(records, index) is self.first
            and stored_record(records, end - 1) is self.last
        )

    def references_hold(self, table: dict[str, Any] | None) -> bool:
        """Whether every item a record was written as is still the one stored under its keys
        (MiniStack stores a new dict on every write, so a replaced or deleted item fails this,
        and a record written with its full image never becomes its item's again)."""
        if not self.items:
            return True
        if table is None:
            return False
        partitions = map(table["items"].get, self.partition_keys, repeat(_NO_ITEMS))
        return all(map(operator.is_, map(dict.get, partitions, self.sort_keys), self.items))

    def fragment(self) -> orjson.Fragment:
        return orjson.Fragment(zlib.decompress(self.compressed))


def _encoded_chunk(records: Any, first: int, end: int, table: dict[str, Any] | None) -> _Chunk:
    """Records `first` to `end` as the snapshot writes them, some records joined by commas (the
    chunk's dicts are freed before the next chunk is built)."""
    written: list[Any] = []
    # Columns, not a tuple per record: a tuple each, alive through the chunk, set off full garbage
    # collections during the checkpoint (0.5 s instead of 0.15 s at 100,000 records).
    partition_keys: list[Any] = []
    sort_keys: list[Any] = []
    items: list[dict[str, Any]] = []
    for index in range(first, end):
        record = unpack(stored_record(records, index))
        snapshot_record, stored_under = _for_snapshot(record, table)
        written.append(snapshot_record)
        if stored_under is not None:
            partition_keys.append(stored_under[0])
            sort_keys.append(stored_under[1])
            items.append(record["dynamodb"]["NewImage"])
    return _Chunk(
        stored_record(records, first),
        stored_record(records, end - 1),
        end - first,
        zlib.compress(encode_json(written)[1:-1], CHUNK_COMPRESSION_LEVEL),
        tuple(partition_keys),
        tuple(sort_keys),
        tuple(items),
    )


def _encoded_chunks(records: Any, first: int, end: int, table: dict[str, Any] | None) -> list[_Chunk]:
    return [
        _encoded_chunk(records, at, min(at + RECORDS_PER_CHUNK, end), table)
        for at in range(first, end, RECORDS_PER_CHUNK)
    ]


class _EncodedStream:
    """One table's stream records (one list) as the last snapshot wrote them, chunk by chunk."""

    def __init__(self, records: Any) -> None:
        self.records = records
        self.chunks: list[_Chunk] = []

    def update(self, table: dict[str, Any] | None) -> list[orjson.Fragment]:
        """The records' chunks now: cached ones kept where they still hold, the rest encoded."""
        records, cached = self.records, self.chunks
        at, kept = self._first_whole_chunk()
        chunks = _encoded_chunks(records, 0, at, table)
        for chunk in kept:
            # The last chunk, when it was short, goes into new chunks with the records appended since.
            grown = chunk is cached[-1] and chunk.length < RECORDS_PER_CHUNK and at + chunk.length < len(records)
            if grown or not chunk.is_at(records, at):
                break
            chunks.append(
                chunk if chunk.references_hold(table) else _encoded_chunk(records, at, at + chunk.length, table)
            )
            at += chunk.length
        chunks += _encoded_chunks(records, at, len(records), table)
        self.chunks = chunks
        return [chunk.fragment() for chunk in chunks]

    def _first_whole_chunk(self) -> tuple[int, list[_Chunk]]:
        """Where the first cached chunk still in the records starts, and the cached chunks from
        it on; a trim from the front leaves at most a part of a chunk before it."""
        records = self.records
        starts = {id(chunk.first): position for position, chunk in enumerate(self.chunks)}
        for index in range(len(records) if starts else 0):
            position = starts.get(id(stored_record(records, index)))
            if position is not None:
                return index, self.chunks[position:]
        return len(records), []


class LiveState:
    """Reads the DynamoDB state a snapshot holds from the live tables (`read`), and keeps each
    table's encoded stream records from one read to the next: records never change once
    appended, so a checkpoint encodes only the records appended since the last one (and those
    written as their item when that item has been replaced or deleted since)."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, str, str], _EncodedStream] = {}

    def read(self) -> dict[str, Any]:
        """The DynamoDB state get_state gives the snapshot (with its item references), made of
        the live tables and stores instead of deep copies, the stream records already encoded.
        Only for encoding at once, on the event loop, before any request changes what it holds.
        Follows MiniStack's get_state, whose source the patch's hash pins."""
        dynamodb = import_dynamodb()
        tables = type(dynamodb._tables)()
        for (account_id, region, table_name), table in dynamodb._tables.all_items():
            view = {name: value for name, value in table.items() if name != dynamodb._INDEX_MEMBERS}
            tables.set_scoped(account_id, region, table_name, view)
        state = {"tables": tables, **{key: getattr(dynamodb, store) for key, store in _SAVED_STORES.items()}}
        streams = {}
        for scope, records in dynamodb._stream_records.all_items():
            cached = self._streams.get(scope)
            # Another list (a reset, a table deleted and made again, a replay): nothing in it was encoded.
            streams[scope] = cached if cached is not None and cached.records is records else _EncodedStream(records)
        # Only the streams there are now are kept: a reset or a dropped stream frees its chunks here.
        self._streams = streams
        state[STREAM_RECORDS_KEY] = [
            [*scope, encoded.update(dynamodb._tables.get_scoped(*scope))] for scope, encoded in streams.items()
        ]
        return state


class _ItemAt(tuple[str, str]):
    """A loaded record's NewImage while the snapshot is read: the item stored under these keys."""

    __slots__ = ()


def _pack_loaded(record: dict[str, Any]) -> Any:
    """A record read from the snapshot, packed; a NewImage that names its item is left as an
    _ItemAt until the tables are there to find it in."""
    change = record["dynamodb"]
    if type(change) is not dict or change.get("NewImage") != ITEM_REFERENCE or type(change.get("Keys")) is not dict:
        return pack(record)
    # MiniStack writes the partition key first, then the sort key.
    texts = [next(iter(value.values())) for value in change["Keys"].values() if type(value) is dict and value]
    change["NewImage"] = {}
    packed = pack({**record, "dynamodb": {**change, "Keys": {}}})
    if type(packed) is not tuple or len(texts) != len(change["Keys"]):
        return record
    header = _shared_header((*packed[PACKED_NEW + 1][:3], tuple(change["Keys"])))
    reference = _ItemAt((texts[0], texts[1] if len(texts) > 1 else NO_SORT_KEY))
    return (*packed[:PACKED_NEW], reference, header, *packed[PACKED_NEW + 2 :])


def _item_under(table: dict[str, Any], keys: tuple[Any, Any]) -> Any:
    partition_key, sort_key = keys
    return table["items"].get(partition_key, {}).get(sort_key)


def _stored_under(table: dict[str, Any], keys: Any) -> tuple[Any, Any] | None:
    """The partition and sort key `table` files the item with a record's Keys under, or None."""
    if type(keys) is not dict:
        return None
    dynamodb = import_dynamodb()
    partition_key = dynamodb._extract_key_val(keys.get(table["pk_name"]))
    sort_key = dynamodb._extract_key_val(keys.get(table["sk_name"])) if table["sk_name"] else NO_SORT_KEY
    return partition_key, sort_key


def _item_at(table: dict[str, Any], keys: Any) -> Any:
    """The item `table` holds under `keys` (a record's Keys), or None."""
    stored_under = _stored_under(table, keys)
    return _item_under(table, stored_under) if stored_under is not None else None


COMPACT_ITEMS_AND_STREAMS = Patch(
    name="dynamodb-compact-items-and-streams",
    summary="DynamoDB stream records are packed tuples sharing the items' dicts; small attribute values are shared",
    targets={
        GET_STATE: "c7ea7a59fd1f8ac0c1c15f0d1562facd7d6626a712afb404473f5f2fa0737f5d",
        LOAD_PERSISTED_STATE: "dd830f6db17404b93750717e9120231ae952a6060cd45c6a65dd7f81bb74bd21",
        SNAPSHOT_OBJECT_HOOK: "645fe967614700ecccc24938f4f7436b8cb1c9224d9371d0715807f524977f2b",
        SET_ITEM: "4e78ad492132cdbad7bd356b0fe962214d886415b39f88bdfc05d56263d99ba9",
        TRIM_STREAM_RECORDS: "43f62f181df024ec1f5b59cc997d94adcd32abdb05305283d9e7cc2aa1b781ec",
    },
    build=_compact,
)


def after_load() -> None:
    """Share what loading the snapshot (and replaying the journal) separated: each item's small
    values, and each record's image with its item when they are equal; then pack the records."""
    dynamodb = import_dynamodb()
    for _scope, table in dynamodb._tables.all_items():
        sort_name = table.get("sk_name")
        for partition_key, partition in table["items"].items():
            for item in partition.values():
                share_values(item)
            if sort_name:
                # The snapshot's sort key strings were parsed apart from the items' own values.
                table["items"][partition_key] = {
                    _own_text(item.get(sort_name), sort_key): item for sort_key, item in partition.items()
                }
    for (account_id, region, table_name), records in list(dynamodb._stream_records.all_items()):
        if type(records) is not CompactRecords:
            packed(account_id, region, table_name, records)


def packed(account_id: str, region: str, table_name: str, records: list[Any]) -> CompactRecords:
    """The table's loaded records as a CompactRecords list, in its place: images shared with the
    items they are equal to, values shared."""
    dynamodb = import_dynamodb()
    table = dynamodb._tables.get_scoped(account_id, region, table_name)
    compact = CompactRecords(_relinked(record, table) for record in records)
    dynamodb._stream_records.set_scoped(account_id, region, table_name, compact)
    return compact


def _own_text(value: Any, text: str) -> str:
    """`text` as the item's own string, when the item's value is that text."""
    if type(value) is dict and len(value) == 1:
        (own,) = value.values()
        if own == text:
            return str(own)
    return text


def _relinked(record: Any, table: dict[str, Any] | None) -> Any:
    if type(record) is not dict:
        return record
    change = record.get("dynamodb")
    if type(change) is not dict:
        return record
    for image_name in ("OldImage", "NewImage"):
        image = change.get(image_name)
        if type(image) is dict:
            share_values(image)
    new, keys = change.get("NewImage"), change.get("Keys")
    if table is not None and type(new) is dict:
        live = _item_at(table, keys)
        if live is not None and live is not new and live == new:
            change["NewImage"] = live
    image = change.get("NewImage") if change.get("NewImage") is not None else change.get("OldImage")
    if type(keys) is dict and type(image) is dict:
        # As MiniStack builds them: the key values are the image's own.
        change["Keys"] = {name: image[name] if image.get(name) == value else value for name, value in keys.items()}
    return record
