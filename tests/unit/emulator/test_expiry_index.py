"""The expiry index's pure parts: what it keeps, what it gives back as due, when it stops describing a table."""

import math

from emulator.expiry_index import REBUILD_FLOOR, ExpiryIndex, TableExpiries

NOW = 1_800_000_000


def expiries(attribute="ttl"):
    return TableExpiries(object(), {}, attribute)


def item(ttl_value=None):
    return {"id": {"S": "k"}} if ttl_value is None else {"id": {"S": "k"}, "ttl": ttl_value}


def test_only_items_with_a_number_ttl_are_indexed():
    index = expiries()
    index.item_written("a", "_", None, item({"N": str(NOW + 1)}))
    for never in (None, {"S": str(NOW)}, {"NS": [str(NOW)]}, {"N": "NaN"}, {"N": "Infinity"}, {"N": "x"}):
        index.item_written("b", "_", None, item(never))
    assert index.entries == 1
    assert list(index.pop_due(NOW + 1)) == [("a", "_", NOW + 1)]


def test_a_rewrite_with_the_same_ttl_adds_no_entry_and_a_changed_one_does():
    index = expiries()
    index.item_written("a", "_", None, item({"N": str(NOW)}))
    index.item_written("a", "_", item({"N": str(NOW)}), item({"N": str(NOW)}))
    assert index.entries == 1
    index.item_written("a", "_", item({"N": str(NOW)}), item({"N": str(NOW + 5)}))
    assert index.entries == 2


def test_only_entries_whose_second_has_begun_are_due_in_second_order_and_taken_out():
    index = expiries()
    for key, at in (("late", NOW + 10.5), ("first", NOW - 3.2), ("now", NOW + 0.9), ("second", NOW - 1)):
        index.item_written(key, "_", None, item({"N": repr(at)}))
    assert [key for key, _sort, _second in index.pop_due(NOW)] == ["first", "second", "now"]
    assert index.entries == 1 and list(index.pop_due(NOW)) == []
    assert [key for key, _sort, second in index.pop_due(NOW + 11)] == ["late"]


def test_entries_added_while_due_ones_are_read_wait_for_the_next_pop():
    index = expiries()
    index.item_written("a", "_", None, item({"N": str(NOW)}))
    due = index.pop_due(NOW)
    assert next(due) == ("a", "_", NOW)
    index.item_written("b", "_", None, item({"N": str(NOW)}))
    assert list(due) == []
    assert list(index.pop_due(NOW)) == [("b", "_", NOW)]


def test_an_item_read_and_not_deleted_is_kept_only_while_its_entry_stands_for_a_later_expiry():
    index = expiries()
    # Read in a full pass: kept when later than due, else it is more than five years old.
    index.still_pending("later", "_", NOW + 0.5, NOW, None)
    index.still_pending("ancient", "_", 1.0, NOW, None)
    index.still_pending("string", "_", None, NOW, None)
    # Read from an entry: kept in the same second; an entry of another second is left behind.
    index.still_pending("same-second", "_", NOW + 0.7, NOW, NOW)
    index.still_pending("rewritten", "_", NOW + 60.0, NOW, NOW)
    assert sorted(key for key, _sort, _second in index.pop_due(NOW + 1)) == ["later", "same-second"]


def test_an_index_stops_describing_its_table_when_items_or_attribute_change_or_it_is_mostly_leftovers():
    items = {}
    index = TableExpiries(object(), items, "ttl")
    assert index.describes(items, "ttl", item_count=0)
    assert not index.describes({}, "ttl", item_count=0)
    assert not index.describes(items, "other", item_count=0)
    for n in range(REBUILD_FLOOR + 1):
        index.item_written(n, "_", None, item({"N": str(NOW + n)}))
    assert index.describes(items, "ttl", item_count=REBUILD_FLOOR)
    assert not index.describes(items, "ttl", item_count=10)


def test_tables_are_told_apart_by_identity_and_forgotten_when_no_longer_swept():
    index = ExpiryIndex()
    table, other = {"name": "t"}, {"name": "t"}
    indexed = index.index(table, {}, "ttl")
    assert index.of(table) is indexed and index.of(other) is None
    index.index(other, {}, "ttl")
    index.keep_only([other])
    assert index.of(table) is None and index.of(other) is not None
    index.forget(other)
    assert index.of(other) is None


def test_a_sweep_earlier_than_the_last_reads_every_table_again():
    index = ExpiryIndex()
    table = {}
    index.sweeping_at(NOW)
    index.index(table, {}, "ttl")
    index.sweeping_at(NOW + 1)
    assert index.of(table) is not None
    index.sweeping_at(NOW - math.pi)
    assert index.of(table) is None
