"""Which items of a table with TTL may be due, by the second they expire in, so the TTL sweep
reads what expires instead of every item (issue 16).

An entry is a hint, never the truth: the sweep reads the item again and judges it on DynamoDB's
rules (`emulator.ttl_rules`), so an entry left behind by an item rewritten or deleted since costs a
lookup and is dropped. An entry is (partition key, sort key) in its second's list: two references
to key strings the item holds anyway, 16 bytes while the item lives, plus per second a list and its
place in the heap. Nothing here knows MiniStack: a table and its items are opaque objects,
compared by identity.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from emulator.ttl_rules import expires_at

# A table's entries past this many per item (and past REBUILD_FLOOR) are mostly rewrites left
# behind: the sweep reads the table again and starts afresh, which costs one read per item for at
# least as many writes.
ENTRIES_PER_ITEM_BEFORE_REBUILD = 2
REBUILD_FLOOR = 1024


class TableExpiries:
    """One table's items with a Number TTL, by the second they expire in."""

    __slots__ = ("_keys", "_seconds", "attribute", "entries", "items", "table")

    def __init__(self, table: Any, items: Any, attribute: str) -> None:
        # Held so that the table's id is not reused while it is indexed, and to notice a table or
        # items replaced wholesale (their contents never passed through item_written).
        self.table = table
        self.items = items
        self.attribute = attribute
        self.entries = 0
        self._seconds: list[int] = []
        self._keys: dict[int, list[Hashable]] = {}

    def describes(self, items: Any, attribute: str, item_count: int) -> bool:
        """Whether this index still stands for the table: the same items object and TTL
        attribute, and not mostly entries left behind."""
        return (
            items is self.items
            and attribute == self.attribute
            and self.entries <= max(ENTRIES_PER_ITEM_BEFORE_REBUILD * item_count, REBUILD_FLOOR)
        )

    def item_written(self, partition_key: Hashable, sort_key: Hashable, old: Any, item: Any) -> None:
        """After an item is stored over `old` (None if new)."""
        value = item.get(self.attribute)
        # Its entry, if it needs one, is there already.
        if old is not None and old.get(self.attribute) == value:
            return
        seconds = expires_at(value)
        if seconds is not None:
            self._add(math.floor(seconds), partition_key, sort_key)

    def still_pending(
        self, partition_key: Hashable, sort_key: Hashable, seconds: float | None, due_at: float, second: int | None
    ) -> None:
        """Keep an item read by the sweep and not deleted, which `expires_at` `seconds`, if it may
        expire after `due_at`: read in a full pass (`second` None), or from the entry of `second`
        when its expiry is still in that second (another second's entry stands for it otherwise).
        An expiry at or before `due_at` that did not expire is more than five years old: it never
        will."""
        if seconds is not None and seconds > due_at:
            kept = math.floor(seconds)
            if second is None or kept == second:
                self._add(kept, partition_key, sort_key)

    def pop_due(self, due_at: float) -> Iterator[tuple[Hashable, Hashable, int]]:
        """(partition key, sort key, second) of every entry whose second began at or before
        `due_at`, taken out of the index at once; entries added meanwhile wait for the next call."""
        due: list[tuple[int, list[Hashable]]] = []
        while self._seconds and self._seconds[0] <= due_at:
            second = heapq.heappop(self._seconds)
            keys = self._keys.pop(second)
            self.entries -= len(keys) // 2
            due.append((second, keys))
        for second, keys in due:
            for at in range(0, len(keys), 2):
                yield keys[at], keys[at + 1], second

    def _add(self, second: int, partition_key: Hashable, sort_key: Hashable) -> None:
        keys = self._keys.get(second)
        if keys is None:
            keys = self._keys[second] = []
            heapq.heappush(self._seconds, second)
        keys.append(partition_key)
        keys.append(sort_key)
        self.entries += 1


class ExpiryIndex:
    """Every indexed table's TableExpiries. A table is indexed by the sweep that first reads all of
    it; from then on every item written to it is added as it is written."""

    def __init__(self) -> None:
        self._tables: dict[int, TableExpiries] = {}
        self._swept_until = -math.inf

    def of(self, table: Any) -> TableExpiries | None:
        return self._tables.get(id(table))

    def index(self, table: Any, items: Any, attribute: str) -> TableExpiries:
        """A new, empty index of `table`, in place of any it had: fill it by reading every item."""
        expiries = self._tables[id(table)] = TableExpiries(table, items, attribute)
        return expiries

    def forget(self, table: Any) -> None:
        self._tables.pop(id(table), None)

    def keep_only(self, tables: Iterable[Any]) -> None:
        """Forget every table but these (the tables the sweep found with TTL enabled)."""
        kept = {id(table) for table in tables}
        for table_id in [table_id for table_id in self._tables if table_id not in kept]:
            del self._tables[table_id]

    def sweeping_at(self, due_at: float) -> None:
        """Before a sweep deleting what expired by `due_at`. When that is earlier than a sweep's
        before (a clock set back), entries already dropped as more than five years old may be
        due again: every table is read again."""
        if due_at < self._swept_until:
            self._tables.clear()
        self._swept_until = due_at
