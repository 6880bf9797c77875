"""The hot reads: item and folder listings, subtrees, ancestors, and datasets read with their items.

Each is a fixed number of statements whatever the data size: listings filter, order and limit in SQL, a page
after the first starts from the previous page's last sort key (keyset paging, so page 200 costs what page 1
does), subtrees come from one recursive CTE, and data rows are read joined with their items.

Item listings pick an index by the size of the scope. One folder is read in the order of a per-folder index
(`items_by_name`, `items_by_created`: `parent` first); a subtree of fewer than `_DENSE_SCOPE_ITEMS` items is
gathered through that index and sorted (at most that many index entries per page); a larger subtree, or the
whole organisation, walks the organisation-wide order index (`items_name_order`, `items_created_order`) and
keeps the rows of the subtree, so a page reads about pageSize x (all items / subtree items) index entries and
never sorts. An unfiltered recursive listing, the kind a plan pages through, instead reads its subtree's
sorted keys once and slices them page by page while the database is unchanged (`scope_keys.py`). Only the
page's own rows are then read from the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from operator import itemgetter
from typing import Any

from reconciler.emulator.scope_keys import ScopeKeys, page_of
from reconciler.emulator.store_sql import ITEM_COLUMNS, Row, json_list, load_json

# Below this many items a multi-folder scope is gathered through the per-folder index and sorted.
_DENSE_SCOPE_ITEMS = 8000
# `scope`: a folder and every folder below it (UNION, not UNION ALL: a cycle could not loop forever).
_SCOPE_CTE = (
    "WITH RECURSIVE scope(uuid) AS (SELECT ? UNION "
    "SELECT folders.uuid FROM folders JOIN scope ON folders.parent = scope.uuid) "
)
_IN_SCOPE = "parent IN (SELECT uuid FROM scope)"
_LINKED = "EXISTS (SELECT 1 FROM data_rows WHERE data_rows.item = items.uuid)"
_DATA_UNITS = "(SELECT count(*) FROM data_rows WHERE data_rows.item = items.uuid) AS data_units"
_ITEM_KEYS = {"name": ("name_fold", "name", "seq"), "createdAt": ("created_at", "seq")}
_FOLDER_KEYS = {"name": ("casefold(name)", "name", "seq"), "createdAt": ("created_at", "seq")}
_ORDER_INDEX = {"name": "items_name_order", "createdAt": "items_created_order"}
_FOLDER_INDEX = {"name": "items_by_name", "createdAt": "items_by_created"}
DATA_ROW_COLUMNS = ("data_hash", "dataset", "item", "created_at", "last_edited_at")
DATA_ROW_ITEM_COLUMNS = ("uuid", "name", "item_type", "url", "storage_location", "media")


def folder_sort_key(folder: Row, order: str) -> list[Any]:
    """The values `list_folders(after=...)` takes (SQL `casefold` is Python's, see store_sql.py)."""
    if order == "name":
        return [folder["name"].casefold(), folder["name"], folder["seq"]]
    return [folder["created_at"], folder["seq"]]


def _keyset(keys: Sequence[str], desc: bool, after: Sequence[Any] | None) -> tuple[str, str, list[Any]]:
    """(ORDER BY terms, the WHERE term that starts after `after` or "", its arguments)."""
    direction = "DESC" if desc else "ASC"
    order_by = ", ".join(f"{k} {direction}" for k in keys)
    if after is None:
        return order_by, "", []
    bound = f"({', '.join(keys)}) {'<' if desc else '>'} ({', '.join('?' for _ in keys)})"
    return order_by, bound, list(after)


class ItemPage:
    """A page of items as SQLite returns them: plain tuples and their column names (a listing of 1,000
    items is rendered straight from these, without a dict per row in between)."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns, self.rows = columns, rows

    def sort_key(self, row: tuple[Any, ...], order: str) -> list[Any]:
        """What `list_items(after=...)` takes: the row's key in `order`."""
        return [row[self.columns.index(k)] for k in _ITEM_KEYS[order]]


class Reads:
    """Mixed into `store.Tx`; `_conn` is its connection."""

    _conn: sqlite3.Connection
    _scope_keys: ScopeKeys | None = None

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Rows as dicts (built from plain tuples: cheaper), `media` decoded; `client_metadata` stays JSON
        text. Every tuple has one value per column, so `zip` needs no strictness check."""
        cursor = self._conn.cursor()
        cursor.row_factory = None
        cursor.execute(sql, tuple(args))
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=False)) for values in cursor.fetchall()]
        if "media" in names:
            for row in rows:
                row["media"] = load_json(row["media"])
        return rows

    # -- subtrees --------------------------------------------------------------------------------
    def subtree_uuids(self, root: str | None) -> list[str]:
        """Every folder below `root` (None: every folder), excluding `root`, in creation order."""
        if root is None:
            return [str(r[0]) for r in self._conn.execute("SELECT uuid FROM folders ORDER BY seq")]
        rows = self._conn.execute(
            _SCOPE_CTE + "SELECT uuid FROM folders WHERE uuid IN (SELECT uuid FROM scope) AND uuid != ? "
            "ORDER BY seq",
            (root, root),
        )
        return [str(r[0]) for r in rows]

    def ancestors(self, folder_uuids: Sequence[str]) -> dict[str, list[Row]]:
        """Folder UUID -> its ancestors (uuid, parent, name, synced_dataset_hash), nearest first."""
        found: dict[str, list[Row]] = {u: [] for u in folder_uuids}
        if not folder_uuids:
            return found
        rows = self._conn.execute(
            "WITH RECURSIVE chain(start, uuid, depth) AS ("
            " SELECT uuid, parent, 1 FROM folders WHERE uuid IN (SELECT value FROM json_each(?))"
            " AND parent IS NOT NULL"
            " UNION ALL SELECT chain.start, folders.parent, chain.depth + 1 FROM chain"
            " JOIN folders ON folders.uuid = chain.uuid"
            " WHERE folders.parent IS NOT NULL AND chain.depth < 10000)"
            " SELECT chain.start, folders.uuid, folders.parent, folders.name, folders.synced_dataset_hash"
            " FROM chain JOIN folders ON folders.uuid = chain.uuid ORDER BY chain.start, chain.depth",
            (json_list(folder_uuids),),
        )
        for start, uuid, parent, name, synced in rows:
            found[start].append({"uuid": uuid, "parent": parent, "name": name, "synced_dataset_hash": synced})
        return found

    # -- listings --------------------------------------------------------------------------------
    def list_items(
        self,
        folder_uuids: list[str] | None,
        *,
        below: str | None = None,
        search: str | None = None,
        item_types: list[str] | None = None,
        in_dataset: bool | None = None,
        order: str = "name",
        desc: bool = False,
        after: Sequence[Any] | None = None,
        offset: int = 0,
        limit: int = -1,
        with_metadata: bool = True,
    ) -> ItemPage:
        """Filtered, ordered, limited rows, each with its `data_units` count, in one statement.

        Scope: `below` (that folder and its whole subtree), else `folder_uuids` (None = every folder).
        Names sort case-insensitively (Python's casefold), ties by the exact name, then creation order;
        `after` is the sort key of the row the page starts after. The rows have no `url_key`, and without
        `with_metadata` no `client_metadata` (it is not even read).
        """
        keys = _ITEM_KEYS[order]
        unfiltered = not (search or item_types or in_dataset is not None or offset)
        held = None
        if below is not None and unfiltered and self._scope_keys is not None:
            held = self._scope_keys.keys(self._conn, (below, order), partial(self._keys, below, order))
        if held is not None:
            # the subtree's keys, kept between pages (scope_keys.py): the page is a slice of them
            cte, inner = "", "SELECT value AS seq FROM json_each(?)"
            args: list[Any] = [json_list([key[-1] for key in page_of(held, after, desc, limit)])]
        else:
            cte, inner, args = self._page_query(
                order, folder_uuids, below, search, item_types, in_dataset, desc, after
            )
            args += [limit, offset]
        skipped = {"url_key"} if with_metadata else {"url_key", "client_metadata"}
        columns = ", ".join(f"items.{c}" for c in ITEM_COLUMNS if c not in skipped)
        sql = (
            f"{cte}SELECT {columns}, {_DATA_UNITS} FROM ({inner}) AS page JOIN items ON items.seq = page.seq"
        )
        cursor = self._conn.cursor()
        cursor.row_factory = None
        cursor.execute(sql, args)
        page = ItemPage([d[0] for d in cursor.description], cursor.fetchall())
        page.rows.sort(key=itemgetter(*(page.columns.index(k) for k in keys)), reverse=desc)
        return page

    def _count_up_to(self, cte: str, scope: str, args: Sequence[Any], most: int) -> int:
        """How many items `scope` holds, counted in the per-folder index no further than `most`."""
        sql = (
            f"{cte}SELECT count(*) FROM (SELECT 1 FROM items INDEXED BY items_by_name WHERE {scope} LIMIT ?)"
        )
        return int(self._conn.execute(sql, (*args, most)).fetchone()[0])

    def _keys(self, below: str, order: str, most: int) -> list[tuple[Any, ...]] | None:
        """A subtree's sort keys in order, or None when it holds more than `most` items (counted first, so
        a large subtree is never read and sorted only to be refused): what `ScopeKeys` keeps."""
        if self._count_up_to(_SCOPE_CTE, _IN_SCOPE, [below], most + 1) > most:
            return None
        terms = ", ".join(_ITEM_KEYS[order])
        sql = (
            f"{_SCOPE_CTE}SELECT {terms} FROM items INDEXED BY {_FOLDER_INDEX[order]} WHERE {_IN_SCOPE} "
            f"ORDER BY {terms}"
        )
        return [tuple(row) for row in self._conn.execute(sql, (below,)).fetchall()]

    def _page_query(
        self,
        order: str,
        folder_uuids: list[str] | None,
        below: str | None,
        search: str | None,
        item_types: list[str] | None,
        in_dataset: bool | None,
        desc: bool,
        after: Sequence[Any] | None,
    ) -> tuple[str, str, list[Any]]:
        """(CTE, the statement that finds a page's `seq`s in an index, its arguments before LIMIT and
        OFFSET), for `list_items`."""
        keys = _ITEM_KEYS[order]
        cte, scope_args, scope = "", [], ""
        if below is not None:
            cte, scope_args, scope = _SCOPE_CTE, [below], _IN_SCOPE
        elif folder_uuids is not None and len(folder_uuids) == 1:
            scope, scope_args = "parent = ?", [folder_uuids[0]]
        elif folder_uuids is not None:
            scope, scope_args = "parent IN (SELECT value FROM json_each(?))", [json_list(folder_uuids)]
        if folder_uuids is None and below is None:
            index = _ORDER_INDEX[order]
        elif below is None and folder_uuids is not None and len(folder_uuids) == 1:
            index = _FOLDER_INDEX[order]
        else:
            dense = self._count_up_to(cte, scope, scope_args, _DENSE_SCOPE_ITEMS) >= _DENSE_SCOPE_ITEMS
            index = _ORDER_INDEX[order] if dense else _FOLDER_INDEX[order]
        where, args = ([scope], list(scope_args)) if scope else ([], [])
        if search:
            where.append("instr(name_fold, ?) > 0")
            args.append(search.casefold())
        if item_types:
            where.append("item_type IN (SELECT value FROM json_each(?))")
            args.append(json_list(item_types))
        if in_dataset is not None:
            where.append(_LINKED if in_dataset else f"NOT {_LINKED}")
        order_by, bound, bound_args = _keyset(keys, desc, after)
        if bound:
            where.append(bound)
            args.extend(bound_args)
        # Find the page in the index alone, then read the rows of that page only. They are put back in
        # order here rather than by SQL, which would sort the whole wide rows (Python's str order is
        # SQLite's BINARY order: code points, as UTF-8 bytes compare).
        inner = f"SELECT seq FROM items INDEXED BY {index}"
        if where:
            inner += " WHERE " + " AND ".join(where)
        inner += f" ORDER BY {order_by} LIMIT ? OFFSET ?"
        return cte, inner, args

    def list_folders(
        self,
        *,
        parent: str | None = None,
        below: str | None = None,
        everything: bool = False,
        search: str | None = None,
        synced: bool | None = None,
        order: str = "name",
        desc: bool = False,
        after: Sequence[Any] | None = None,
        limit: int = -1,
    ) -> list[Row]:
        """A page of folders: `everything`, else those `below` a folder (its subtree without it), else
        the children of `parent` (None = the root folders)."""
        keys = _FOLDER_KEYS[order]
        cte, where, args = "", [], []
        if everything:
            pass
        elif below is not None:
            cte = _SCOPE_CTE
            args += [below, below]
            where.append("uuid IN (SELECT uuid FROM scope) AND uuid != ?")
        elif parent is None:
            where.append("parent IS NULL")
        else:
            where.append("parent = ?")
            args.append(parent)
        if search:
            where.append("instr(casefold(name), ?) > 0")
            args.append(search.casefold())
        if synced is not None:
            where.append(f"synced_dataset_hash IS {'NOT ' if synced else ''}NULL")
        order_by, bound, bound_args = _keyset(keys, desc, after)
        if bound:
            where.append(bound)
            args.extend(bound_args)
        sql = f"{cte}SELECT * FROM folders"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order_by} LIMIT ?"
        return self._rows(sql, (*args, limit))

    # -- datasets --------------------------------------------------------------------------------
    def data_row_tuples(
        self, dataset_uuid: str, *, first_only: bool = False, with_metadata: bool = True
    ) -> list[tuple[Any, ...]]:
        """A dataset's data rows joined with their items, in link order, in one statement, as tuples:
        `DATA_ROW_COLUMNS`, `DATA_ROW_ITEM_COLUMNS` (`media` as stored), and the item's `client_metadata`
        (JSON text) with `with_metadata`. Rows whose item is gone are left out."""
        item_columns = DATA_ROW_ITEM_COLUMNS + (("client_metadata",) if with_metadata else ())
        sql = (
            f"SELECT {', '.join('d.' + c for c in DATA_ROW_COLUMNS)}, "
            f"{', '.join('i.' + c for c in item_columns)} FROM data_rows AS d "
            # by rowid; a row an older reconciler inserted (no item_seq) by uuid, as before
            "JOIN items AS i ON i.seq = coalesce(d.item_seq, (SELECT seq FROM items WHERE uuid = d.item)) "
            "WHERE d.dataset = ? ORDER BY d.seq"
        )
        cursor = self._conn.cursor()
        cursor.row_factory = None
        cursor.execute(sql + (" LIMIT 1" if first_only else ""), (dataset_uuid,))
        return cursor.fetchall()

    def data_rows_with_items(
        self, dataset_uuid: str, *, first_only: bool = False, with_metadata: bool = True
    ) -> list[tuple[Row, Row]]:
        """`data_row_tuples` as (data row, its item) dicts, `media` decoded (for filters, not renders)."""
        pairs = []
        width = len(DATA_ROW_COLUMNS)
        for values in self.data_row_tuples(dataset_uuid, first_only=first_only, with_metadata=with_metadata):
            row = dict(zip(DATA_ROW_COLUMNS, values[:width], strict=True))
            item = dict(
                zip(DATA_ROW_ITEM_COLUMNS, values[width : width + len(DATA_ROW_ITEM_COLUMNS)], strict=True)
            )
            item["media"] = load_json(item["media"])
            if with_metadata:
                item["client_metadata"] = values[-1]
            pairs.append((row, item))
        return pairs

    def datasets_with_location(self) -> list[tuple[Row, str | None]]:
        """Every dataset with the storage location of its first linked item (None: no items)."""
        rows = self._rows(
            "SELECT datasets.*, (SELECT items.storage_location FROM data_rows "
            "JOIN items ON items.uuid = data_rows.item WHERE data_rows.dataset = datasets.uuid "
            "ORDER BY data_rows.seq LIMIT 1) AS first_location FROM datasets ORDER BY seq"
        )
        return [(row, row.pop("first_location")) for row in rows]

    def linked_item_uuids(self, dataset_uuid: str) -> set[str]:
        rows = self._conn.execute("SELECT item FROM data_rows WHERE dataset = ?", (dataset_uuid,))
        return {str(r[0]) for r in rows}

    def data_unit_counts(self, item_uuids: Sequence[str]) -> dict[str, int]:
        """Item UUID -> number of data rows using it (items without any are left out)."""
        rows = self._conn.execute(
            "SELECT item, count(*) FROM data_rows WHERE item IN (SELECT value FROM json_each(?)) "
            "GROUP BY item",
            (json_list(item_uuids),),
        )
        return {str(item): int(count) for item, count in rows}

    def items_by_uuid(self, item_uuids: Sequence[str]) -> dict[str, Row]:
        rows = self._rows(
            "SELECT * FROM items WHERE uuid IN (SELECT value FROM json_each(?))", (json_list(item_uuids),)
        )
        return {row["uuid"]: row for row in rows}

    def folders_by_uuid(self, folder_uuids: Sequence[str]) -> dict[str, Row]:
        rows = self._rows(
            "SELECT * FROM folders WHERE uuid IN (SELECT value FROM json_each(?))",
            (json_list(folder_uuids),),
        )
        return {row["uuid"]: row for row in rows}

    def data_rows_by_hash(self, data_hashes: Sequence[str]) -> dict[str, Row]:
        rows = self._rows(
            "SELECT * FROM data_rows WHERE data_hash IN (SELECT value FROM json_each(?))",
            (json_list(data_hashes),),
        )
        return {row["data_hash"]: row for row in rows}
