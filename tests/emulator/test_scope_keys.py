"""A recursive listing's keys are read once and kept while nothing changes (emulator/scope_keys.py): its
pages are exactly what SQL alone pages, and any write, from this connection or another, is seen."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from reconciler.emulator.scope_keys import ScopeKeys
from reconciler.emulator.store import Store, Tx, now_iso
from tests.emulator.rows import add_folder, item_row

NAMES = ["b", "A", "a", "ä", "straße", "STRASSE", "Z", "z", "é", "e", "10", "9", "_", "ß"]


def _items(store: Store, folder: str, names: list[str]) -> list[str]:
    rows = [item_row(folder, name) for name in names]
    with store.tx() as tx:
        tx.add_items(rows)
    return [r["uuid"] for r in rows]


def _names(tx: Tx, below: str, size: int, **options: Any) -> list[str]:
    """Every name of a recursive listing, page by page as the route pages it."""
    out: list[str] = []
    after = None
    order = options.get("order", "name")
    while True:
        page = tx.list_items(None, below=below, after=after, limit=size + 1, **options)
        shown = page.rows[:size]
        name = page.columns.index("name")
        out += [row[name] for row in shown]
        if len(page.rows) <= size:
            return out
        after = page.sort_key(shown[-1], order)


def _tree(store: Store) -> tuple[str, str, str]:
    root = add_folder(store, "root")
    a = add_folder(store, "a", root)
    b = add_folder(store, "b", a)
    rng = random.Random(7)
    for folder in (root, a, b):
        _items(store, folder, [rng.choice(NAMES) + rng.choice(NAMES) for _ in range(120)])
    return root, a, b


def test_kept_keys_page_exactly_as_sql_does(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    root, a, _ = _tree(store)
    with store.tx() as tx:
        for below in (root, a):
            for options in ({}, {"desc": True}, {"order": "createdAt"}, {"order": "createdAt", "desc": True}):
                for size in (1, 7, 1000):
                    kept = _names(tx, below, size, **options)
                    tx._scope_keys = None  # SQL alone
                    assert kept == _names(tx, below, size, **options), (below, options, size)
                    tx._scope_keys = store._scope_keys
    assert len(kept) == 240


def test_a_write_between_pages_is_seen(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    root, a, b = _tree(store)
    with store.tx() as tx:
        before = _names(tx, root, 50)
    added = _items(store, b, ["zzz-new"])
    with store.tx() as tx:
        assert _names(tx, root, 50) == sorted([*before, "zzz-new"], key=lambda n: (n.casefold(), n))
    outside = add_folder(store, "outside")
    with store.tx() as tx:
        tx.move_items(added, outside, now_iso())
    with store.tx() as tx:
        assert _names(tx, root, 50) == before

    # a commit by another connection (another process's emulator on the same file) is seen too
    other = Store(tmp_path / "s.db")
    _items(other, a, ["from-elsewhere"])
    with store.tx() as tx:
        assert "from-elsewhere" in _names(tx, root, 50)


def test_a_large_subtree_is_not_kept_and_the_budget_holds() -> None:
    store = Store(":memory:")
    root, a, b = _tree(store)
    small = ScopeKeys(max_items=250, budget=300)
    store._scope_keys = small
    with store.tx() as tx:
        assert len(_names(tx, root, 100)) == 360  # too large to keep: paged by SQL
        assert small._entries[(root, "name")] is None
        assert len(_names(tx, b, 100)) == 120
        assert len(_names(tx, a, 100)) == 240
    assert small._held <= 300
    assert list(small._entries) == [(a, "name")]  # the least recently used went first


def test_keys_read_in_a_transaction_that_rolls_back_are_forgotten(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    root, _, b = _tree(store)
    with store.tx() as tx:
        before = _names(tx, root, 50)
    try:
        with store.tx() as tx:
            tx.add_items([item_row(b, "written-then-undone")])
            assert "written-then-undone" in _names(tx, root, 50)
            raise RuntimeError("undo")
    except RuntimeError:
        pass
    with store.tx() as tx:  # total_changes did not go back: without forgetting, a page would come up short
        assert _names(tx, root, 50) == before
