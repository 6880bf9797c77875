"""The emulator's SQLite schema, its upgrade of older state files, and how rows are encoded and decoded.

Pure definitions and helpers; `store.py` (writes, lookups) and `store_reads.py` (the hot listings) hold the
statements that use them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

Row = dict[str, Any]

DDL = """
CREATE TABLE IF NOT EXISTS integrations (
    uuid TEXT PRIMARY KEY, title TEXT NOT NULL UNIQUE, provider TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, parent TEXT, name TEXT NOT NULL,
    description TEXT NOT NULL, client_metadata TEXT NOT NULL, owner TEXT NOT NULL,
    created_at TEXT NOT NULL, last_edited_at TEXT NOT NULL, synced_dataset_hash TEXT
);
CREATE INDEX IF NOT EXISTS folders_parent ON folders(parent);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, parent TEXT NOT NULL,
    item_type TEXT NOT NULL, name TEXT NOT NULL, url TEXT, client_metadata TEXT NOT NULL,
    owner TEXT NOT NULL, created_at TEXT NOT NULL, last_edited_at TEXT NOT NULL,
    storage_location TEXT NOT NULL, integration_hash TEXT, media TEXT NOT NULL,
    url_key TEXT, name_fold TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS upload_jobs (
    uuid TEXT PRIMARY KEY, folder TEXT NOT NULL, integration TEXT, ignore_errors INTEGER NOT NULL,
    file_name TEXT, request TEXT NOT NULL, status TEXT NOT NULL, result TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    description TEXT NOT NULL, created_at TEXT NOT NULL, last_edited_at TEXT NOT NULL, backing_folder TEXT
);
CREATE TABLE IF NOT EXISTS data_rows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, data_hash TEXT NOT NULL UNIQUE, dataset TEXT NOT NULL,
    item TEXT NOT NULL, created_at TEXT NOT NULL, last_edited_at TEXT NOT NULL, item_seq INTEGER
);
CREATE INDEX IF NOT EXISTS data_rows_dataset ON data_rows(dataset);
CREATE INDEX IF NOT EXISTS data_rows_item ON data_rows(item);
CREATE TABLE IF NOT EXISTS bearer_tokens (
    token TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at TEXT NOT NULL
);
"""
# Created after `migrate`, which may first have to add the columns they cover to an older file.
# `items_parent` (older files) is covered by the folder indexes; dropped so the planner cannot pick it.
# Listing indexes end with the columns the listings filter on, so a page is found in the index alone:
# `items_by_name` / `items_by_created` for one folder or a small subtree, `items_name_order` /
# `items_created_order` for the whole organisation or a large subtree (store_reads.py).
INDEXES = """
DROP INDEX IF EXISTS items_parent;
CREATE INDEX IF NOT EXISTS items_by_url ON items(parent, url_key);
CREATE INDEX IF NOT EXISTS items_by_name ON items(parent, name_fold, name, seq);
CREATE INDEX IF NOT EXISTS items_by_created ON items(parent, created_at, seq);
CREATE INDEX IF NOT EXISTS items_name_order ON items(name_fold, name, seq, parent, item_type);
CREATE INDEX IF NOT EXISTS items_created_order ON items(created_at, seq, parent, item_type);
"""
# Every column of `items`, in table order (older files get the derived ones appended, in this order).
ITEM_COLUMNS = (
    "seq",
    "uuid",
    "parent",
    "item_type",
    "name",
    "url",
    "client_metadata",
    "owner",
    "created_at",
    "last_edited_at",
    "storage_location",
    "integration_hash",
    "media",
    "url_key",
    "name_fold",
)
# Item columns derived from others (see `item_url_key`, `derived`); added to files made before them.
_DERIVED_ITEM_COLUMNS = {"url_key": "TEXT", "name_fold": "TEXT NOT NULL DEFAULT ''"}

# Columns holding JSON documents: encoded on write. All but `client_metadata` are decoded on read;
# `client_metadata` stays JSON text (the v2 wire carries it as text; v1 decodes it when asked for).
JSON_COLUMNS = frozenset({"client_metadata", "media", "request", "result"})
DECODED_COLUMNS = frozenset({"media", "request", "result"})


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def new_uuid() -> str:
    """A random (version 4) UUID's text, at half the cost of `str(uuid.uuid4())`: one per registered item."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def load_json(text: str | bytes) -> Any:
    """`json.loads`, through orjson when it can (it refuses what only Python's parser takes: NaN...)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def decode_row(row: sqlite3.Row) -> Row:
    out = dict(row)
    for key in DECODED_COLUMNS.intersection(out):
        if out[key] is not None:
            out[key] = load_json(out[key])
    return out


def encode_value(value: Any, column: str) -> Any:
    return json.dumps(value) if column in JSON_COLUMNS and value is not None else value


def url_key(urls: Sequence[str]) -> str:
    """What `skip_duplicate_urls` compares: the URL of a file, the ordered frame URLs of a group.

    One URL is kept as is; several are a JSON array, which no single registrable URL can equal.
    """
    return urls[0] if len(urls) == 1 else json.dumps(list(urls))


def item_url_key(url: str | None, media: dict[str, Any]) -> str | None:
    frames = media.get("frames")
    urls = [f["url"] for f in frames] if frames else ([url] if url is not None else [])
    return url_key(urls) if urls else None


def derived(values: Row) -> Row:
    """An item row with its derived columns: `url_key` (duplicate index) and `name_fold` (sort key)."""
    return {
        **values,
        "url_key": item_url_key(values["url"], values["media"]),
        "name_fold": values["name"].casefold(),
    }


def json_list(values: Iterable[str]) -> str:
    """One bound parameter for `IN (SELECT value FROM json_each(?))`: no limit on how many values."""
    return json.dumps(list(values))


def migrate(conn: sqlite3.Connection) -> None:
    """Give a state file made before the derived columns existed those columns, filled in: the items'
    `url_key` and `name_fold`, and the data rows' `item_seq` (the item's rowid, which a dataset read joins
    on: one B-tree search per row instead of two through the uuid index; an item's `seq` never changes
    and is never reused; a row an older reconciler adds without it is joined by uuid)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
    missing = [c for c in _DERIVED_ITEM_COLUMNS if c not in have]
    rows_have = {row[1] for row in conn.execute("PRAGMA table_info(data_rows)")}
    if not missing and "item_seq" in rows_have:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for column in missing:
            conn.execute(f"ALTER TABLE items ADD COLUMN {column} {_DERIVED_ITEM_COLUMNS[column]}")
        if missing:
            rows = conn.execute("SELECT seq, name, url, media FROM items").fetchall()
            conn.executemany(
                "UPDATE items SET url_key = ?, name_fold = ? WHERE seq = ?",
                [(item_url_key(r[2], json.loads(r[3])), r[1].casefold(), r[0]) for r in rows],
            )
        if "item_seq" not in rows_have:
            conn.execute("ALTER TABLE data_rows ADD COLUMN item_seq INTEGER")
            conn.execute(
                "UPDATE data_rows SET item_seq = (SELECT seq FROM items WHERE items.uuid = data_rows.item)"
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def casefold(value: Any) -> Any:
    """SQL `casefold(name)`: the folder listings' sort key, as Python sorts names (no index needs it)."""
    return value.casefold() if isinstance(value, str) else value
