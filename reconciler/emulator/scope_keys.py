"""The sort keys of a subtree's items, read once for all the pages of a recursive listing.

A recursive listing pages through a subtree in key order. Done in SQL, every page gathers the rest of the
subtree through the per-folder index and sorts it again (or walks the organisation-wide order index past
every item outside the subtree), so a 10,000-item subtree read in ten pages costs twice what reading its
folders one by one does. Here the subtree's keys are read and sorted once, by SQLite, and each page is a
bisection into them followed by a read of that page's rows only.

The keys are kept while the database is unchanged: the version is this connection's `total_changes` (any
row it inserted, updated or deleted) and `PRAGMA data_version` (any commit by another connection), so a
write of any kind, even one that cannot move an item, starts afresh; so does a rolled-back transaction
(`Store.tx` calls `clear`), whose writes `total_changes` still counts. A subtree of more than
`SCOPE_KEYS_MAX_ITEMS` items is not kept (the order index serves it well); the cache holds at most
`SCOPE_KEYS_BUDGET` keys in all, the least recently used going first.
"""

from __future__ import annotations

import sqlite3
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

Key = tuple[Any, ...]

# A subtree larger than this is paged through the order index instead (store_reads.py); the cache holds
# this many keys in all (a name key, two strings and an int in a tuple, is about 220 bytes: 55 MB).
SCOPE_KEYS_MAX_ITEMS = 100_000
SCOPE_KEYS_BUDGET = 250_000


class ScopeKeys:
    """Sorted keys per (subtree root, order), valid for one database version."""

    def __init__(self, max_items: int = SCOPE_KEYS_MAX_ITEMS, budget: int = SCOPE_KEYS_BUDGET) -> None:
        self._max_items, self._budget = max_items, budget
        self._entries: OrderedDict[tuple[str, str], list[Key] | None] = OrderedDict()
        self._held = 0
        self._version: tuple[int, int] = (-1, -1)
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every subtree: a rolled-back transaction leaves `total_changes` as it was."""
        with self._lock:
            self._entries.clear()
            self._held, self._version = 0, (-1, -1)

    def keys(
        self, conn: sqlite3.Connection, slot: tuple[str, str], read: Callable[[int], list[Key] | None]
    ) -> list[Key] | None:
        """The keys of the subtree in `slot` (its root, the order), ascending, or None when it is too large
        to keep. On a miss `read(most)` gives them, or None for a subtree of more than `most` items."""
        version = (conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0])
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._held, self._version = 0, version
            if slot in self._entries:
                self._entries.move_to_end(slot)
                return self._entries[slot]
        found = read(self._max_items)
        with self._lock:
            if version == self._version:
                self._entries[slot] = found
                self._held += len(found or ())
                while self._held > self._budget and len(self._entries) > 1:
                    _, dropped = self._entries.popitem(last=False)
                    self._held -= len(dropped or ())
        return found


def page_of(keys: list[Key], after: Sequence[Any] | None, desc: bool, limit: int) -> list[Key]:
    """Up to `limit` keys that follow `after` (exclusive) in the listing's direction."""
    if not desc:
        start = 0 if after is None else bisect_right(keys, tuple(after))
        return keys[start : start + limit] if limit >= 0 else keys[start:]
    end = len(keys) if after is None else bisect_left(keys, tuple(after))
    start = 0 if limit < 0 else max(0, end - limit)
    return keys[start:end][::-1]
