"""SQLite persistence for the emulator: one file holds the whole organisation.

Every access goes through `Store.tx()`, which takes a process-wide lock and runs one transaction. Calls
are short, so running them on the event loop is fine; nothing awaits while holding the lock.
Rows are returned as plain dicts with snake_case keys; `views.py` turns them into wire JSON.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigError

Row = dict[str, Any]

_DDL = """
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
    item TEXT NOT NULL, created_at TEXT NOT NULL, last_edited_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS data_rows_dataset ON data_rows(dataset);
CREATE INDEX IF NOT EXISTS data_rows_item ON data_rows(item);
CREATE TABLE IF NOT EXISTS bearer_tokens (
    token TEXT PRIMARY KEY, key_id TEXT NOT NULL, created_at TEXT NOT NULL
);
"""
# Created after `_migrate`, which may first have to add the columns they cover to an older file.
# `items_parent` (older files) is covered by both composite indexes; dropped so the planner cannot pick it.
_INDEXES = """
DROP INDEX IF EXISTS items_parent;
CREATE INDEX IF NOT EXISTS items_by_url ON items(parent, url_key);
CREATE INDEX IF NOT EXISTS items_by_name ON items(parent, name_fold, name, seq);
"""
# Item columns derived from others (see `item_url_key`, `_derived`); added to files made before them.
_DERIVED_ITEM_COLUMNS = {"url_key": "TEXT", "name_fold": "TEXT NOT NULL DEFAULT ''"}

# Columns holding JSON documents; decoded on read, encoded on write.
_JSON_COLUMNS = frozenset({"client_metadata", "media", "request", "result"})


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def new_uuid() -> str:
    return str(uuid.uuid4())


def _decode(row: sqlite3.Row) -> Row:
    out = dict(row)
    for key in _JSON_COLUMNS.intersection(out):
        if out[key] is not None:
            out[key] = json.loads(out[key])
    return out


def _encode(value: Any, column: str) -> Any:
    return json.dumps(value) if column in _JSON_COLUMNS and value is not None else value


def url_key(urls: Sequence[str]) -> str:
    """What `skip_duplicate_urls` compares: the URL of a file, the ordered frame URLs of a group.

    One URL is kept as is; several are a JSON array, which no single registrable URL can equal.
    """
    return urls[0] if len(urls) == 1 else json.dumps(list(urls))


def item_url_key(url: str | None, media: dict[str, Any]) -> str | None:
    frames = media.get("frames")
    urls = [f["url"] for f in frames] if frames else ([url] if url is not None else [])
    return url_key(urls) if urls else None


def _derived(values: Row) -> Row:
    """An item row with its derived columns: `url_key` (duplicate index) and `name_fold` (sort key)."""
    return {
        **values,
        "url_key": item_url_key(values["url"], values["media"]),
        "name_fold": values["name"].casefold(),
    }


def _json_list(values: Iterable[str]) -> str:
    """One bound parameter for `IN (SELECT value FROM json_each(?))`: no limit on how many values."""
    return json.dumps(list(values))


class Tx:
    """One open transaction. Methods are the only SQL in the emulator."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- generic helpers -------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Row | None:
        row = self._conn.execute(sql, args).fetchone()
        return _decode(row) if row is not None else None

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        return [_decode(r) for r in self._conn.execute(sql, args).fetchall()]

    def _insert(self, table: str, values: Row) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._conn.execute(
            f"INSERT INTO {table} ({cols}) VALUES ({marks})",
            tuple(_encode(v, k) for k, v in values.items()),
        )

    def _update(self, table: str, key: str, key_value: str, values: Row) -> None:
        assignments = ", ".join(f"{k} = ?" for k in values)
        self._conn.execute(
            f"UPDATE {table} SET {assignments} WHERE {key} = ?",
            (*(_encode(v, k) for k, v in values.items()), key_value),
        )

    # -- settings (metadata schemas) -------------------------------------------------------------
    def get_setting(self, name: str) -> Any:
        row = self._one("SELECT value FROM settings WHERE name = ?", (name,))
        return json.loads(row["value"]) if row is not None else None

    def put_setting(self, name: str, value: Any) -> None:
        self._conn.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value)),
        )

    # -- bearer tokens ---------------------------------------------------------------------------
    def add_token(self, token: str, key_id: str) -> None:
        self._insert("bearer_tokens", {"token": token, "key_id": key_id, "created_at": now_iso()})

    def token_key_id(self, token: str) -> str | None:
        row = self._one("SELECT key_id FROM bearer_tokens WHERE token = ?", (token,))
        return str(row["key_id"]) if row is not None else None

    # -- integrations ----------------------------------------------------------------------------
    def add_integration(self, title: str, provider: str) -> Row:
        row = {"uuid": new_uuid(), "title": title, "provider": provider, "created_at": now_iso()}
        self._insert("integrations", row)
        return row

    def integration(self, integration_uuid: str) -> Row | None:
        return self._one("SELECT * FROM integrations WHERE uuid = ?", (integration_uuid,))

    def integration_by_title(self, title: str) -> Row | None:
        return self._one("SELECT * FROM integrations WHERE title = ?", (title,))

    def integrations(self) -> list[Row]:
        return self._all("SELECT * FROM integrations ORDER BY created_at, title")

    def delete_integration(self, integration_uuid: str) -> None:
        self._conn.execute("DELETE FROM integrations WHERE uuid = ?", (integration_uuid,))

    # -- folders ---------------------------------------------------------------------------------
    def add_folder(self, values: Row) -> Row:
        self._insert("folders", values)
        folder = self.folder(values["uuid"])
        assert folder is not None
        return folder

    def folder(self, folder_uuid: str) -> Row | None:
        return self._one("SELECT * FROM folders WHERE uuid = ?", (folder_uuid,))

    def folders(self) -> list[Row]:
        return self._all("SELECT * FROM folders ORDER BY seq")

    def child_folders(self, parent: str | None) -> list[Row]:
        if parent is None:
            return self._all("SELECT * FROM folders WHERE parent IS NULL ORDER BY seq")
        return self._all("SELECT * FROM folders WHERE parent = ? ORDER BY seq", (parent,))

    def update_folder(self, folder_uuid: str, values: Row) -> None:
        self._update("folders", "uuid", folder_uuid, values)

    def delete_folders(self, folder_uuids: list[str]) -> None:
        self._conn.executemany("DELETE FROM folders WHERE uuid = ?", [(u,) for u in folder_uuids])

    # -- items -----------------------------------------------------------------------------------
    def add_item(self, values: Row) -> Row:
        self._insert("items", _derived(values))
        item = self.item(values["uuid"])
        assert item is not None
        return item

    def add_items(self, rows: list[Row]) -> None:
        """Insert many item rows (all with the same columns) in one statement."""
        if not rows:
            return
        derived = [_derived(r) for r in rows]
        cols = list(derived[0])
        self._conn.executemany(
            f"INSERT INTO items ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [tuple(_encode(r[c], c) for c in cols) for r in derived],
        )

    def item(self, item_uuid: str) -> Row | None:
        return self._one("SELECT * FROM items WHERE uuid = ?", (item_uuid,))

    def items(self) -> list[Row]:
        return self._all("SELECT * FROM items ORDER BY seq")

    def items_in(self, folder_uuids: list[str]) -> list[Row]:
        return self._all(
            "SELECT * FROM items WHERE parent IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (_json_list(folder_uuids),),
        )

    def item_uuids_in(self, folder_uuids: list[str]) -> list[str]:
        rows = self._conn.execute(
            "SELECT uuid FROM items WHERE parent IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (_json_list(folder_uuids),),
        )
        return [str(r[0]) for r in rows]

    def item_uuids_by_url_key(self, folder_uuid: str, keys: Iterable[str]) -> dict[str, list[str]]:
        """url key -> UUIDs (oldest first) of the folder's items with that key, for the keys given."""
        found: dict[str, list[str]] = {}
        rows = self._conn.execute(
            "SELECT url_key, uuid FROM items INDEXED BY items_by_url WHERE parent = ? "
            "AND url_key IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (folder_uuid, _json_list(keys)),
        )
        for key, item_uuid in rows:
            found.setdefault(key, []).append(item_uuid)
        return found

    def list_items(
        self,
        folder_uuids: list[str] | None,
        *,
        search: str | None = None,
        item_types: list[str] | None = None,
        in_dataset: bool | None = None,
        order: str = "name",
        desc: bool = False,
        offset: int = 0,
        limit: int = -1,
    ) -> list[Row]:
        """Filtered, sorted rows in SQL (`folder_uuids` None = every folder). Names sort case-insensitively
        (Python's casefold), ties by the exact name, then creation order."""
        where: list[str] = []
        args: list[Any] = []
        if folder_uuids is not None and len(folder_uuids) == 1:
            where.append("parent = ?")
            args.append(folder_uuids[0])
        elif folder_uuids is not None:
            where.append("parent IN (SELECT value FROM json_each(?))")
            args.append(_json_list(folder_uuids))
        if search:
            where.append("instr(name_fold, ?) > 0")
            args.append(search.casefold())
        if item_types:
            where.append("item_type IN (SELECT value FROM json_each(?))")
            args.append(_json_list(item_types))
        if in_dataset is not None:
            linked = "EXISTS (SELECT 1 FROM data_rows WHERE data_rows.item = items.uuid)"
            where.append(linked if in_dataset else f"NOT {linked}")
        direction = "DESC" if desc else "ASC"
        columns = ("name_fold", "name", "seq") if order == "name" else ("created_at", "seq")
        sql = "SELECT * FROM items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + ", ".join(f"{c} {direction}" for c in columns) + " LIMIT ? OFFSET ?"
        return self._all(sql, (*args, limit, offset))

    def update_item(self, item_uuid: str, values: Row) -> None:
        if "name" in values:
            values = {**values, "name_fold": values["name"].casefold()}
        self._update("items", "uuid", item_uuid, values)

    def set_items_metadata(self, updates: list[tuple[str, Any]], stamp: str) -> None:
        """(item UUID, new client metadata) pairs, in one statement."""
        self._conn.executemany(
            "UPDATE items SET client_metadata = ?, last_edited_at = ? WHERE uuid = ?",
            [(json.dumps(metadata), stamp, item_uuid) for item_uuid, metadata in updates],
        )

    def delete_items(self, item_uuids: list[str]) -> None:
        self._conn.executemany("DELETE FROM items WHERE uuid = ?", [(u,) for u in item_uuids])

    # -- upload jobs -----------------------------------------------------------------------------
    def add_job(self, values: Row) -> None:
        self._insert("upload_jobs", values)

    def job(self, job_uuid: str) -> Row | None:
        return self._one("SELECT * FROM upload_jobs WHERE uuid = ?", (job_uuid,))

    def jobs_in(self, folder_uuid: str) -> list[Row]:
        return self._all("SELECT * FROM upload_jobs WHERE folder = ?", (folder_uuid,))

    def finish_job(self, job_uuid: str, status: str, result: Row) -> bool:
        """Compare-and-set from PENDING, so a job is finished (or cancelled) exactly once."""
        cur = self._conn.execute(
            "UPDATE upload_jobs SET status = ?, result = ? WHERE uuid = ? AND status = 'PENDING'",
            (status, json.dumps(result), job_uuid),
        )
        return cur.rowcount == 1

    def delete_jobs_in(self, folder_uuids: list[str]) -> None:
        self._conn.executemany("DELETE FROM upload_jobs WHERE folder = ?", [(u,) for u in folder_uuids])

    # -- datasets and data rows ------------------------------------------------------------------
    def add_dataset(self, values: Row) -> Row:
        self._insert("datasets", values)
        dataset = self.dataset(values["uuid"])
        assert dataset is not None
        return dataset

    def dataset(self, dataset_uuid: str) -> Row | None:
        return self._one("SELECT * FROM datasets WHERE uuid = ?", (dataset_uuid,))

    def datasets(self) -> list[Row]:
        return self._all("SELECT * FROM datasets ORDER BY seq")

    def touch_dataset(self, dataset_uuid: str) -> None:
        self._update("datasets", "uuid", dataset_uuid, {"last_edited_at": now_iso()})

    def add_data_row(self, dataset_uuid: str, item_uuid: str) -> Row:
        stamp = now_iso()
        values = {
            "data_hash": new_uuid(),
            "dataset": dataset_uuid,
            "item": item_uuid,
            "created_at": stamp,
            "last_edited_at": stamp,
        }
        self._insert("data_rows", values)
        return values

    def data_rows(self, dataset_uuid: str) -> list[Row]:
        return self._all("SELECT * FROM data_rows WHERE dataset = ? ORDER BY seq", (dataset_uuid,))

    def data_row(self, data_hash: str) -> Row | None:
        return self._one("SELECT * FROM data_rows WHERE data_hash = ?", (data_hash,))

    def data_rows_for_items(self, item_uuids: list[str]) -> list[Row]:
        return self._all(
            "SELECT * FROM data_rows WHERE item IN (SELECT value FROM json_each(?))",
            (_json_list(item_uuids),),
        )

    def delete_data_rows(self, data_hashes: list[str]) -> None:
        self._conn.executemany("DELETE FROM data_rows WHERE data_hash = ?", [(h,) for h in data_hashes])


def _migrate(conn: sqlite3.Connection) -> None:
    """Give a state file made before the derived item columns existed those columns, filled in."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
    missing = [c for c in _DERIVED_ITEM_COLUMNS if c not in have]
    if not missing:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for column in missing:
            conn.execute(f"ALTER TABLE items ADD COLUMN {column} {_DERIVED_ITEM_COLUMNS[column]}")
        rows = conn.execute("SELECT seq, name, url, media FROM items").fetchall()
        conn.executemany(
            "UPDATE items SET url_key = ?, name_fold = ? WHERE seq = ?",
            [(item_url_key(r[2], json.loads(r[3])), r[1].casefold(), r[0]) for r in rows],
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def state_path_problem(state: Path) -> str | None:
    """Why `state` cannot be the sandbox's SQLite file (a directory, or below a regular file); no I/O
    beyond looking."""
    if state.is_dir():
        return f"{state}: the sandbox state is a directory, not an SQLite file"
    blocker = next((a for a in state.parents if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        return f"{state}: cannot create the sandbox state here: {blocker} is a file, not a directory"
    return None


def prepare_state_path(state: Path) -> None:
    """Make the state file's directory, or raise the one-line `ConfigError` of `state_path_problem`."""
    problem = state_path_problem(state)
    if problem is None:
        try:
            state.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"{state}: cannot create the sandbox state here: {exc.strerror or exc}"
    if problem is not None:
        raise ConfigError([problem])


class Store:
    """The SQLite file (or `:memory:`) behind one emulator app."""

    def __init__(self, path: str | Path) -> None:
        """Open the file, creating it, or completing one an interrupted first run left half-made (empty,
        or with tables missing): every statement of the schema is idempotent. A path that cannot hold
        the file, or a file that is not an SQLite database, is one `ConfigError` line naming the path."""
        target = str(path)
        if target != ":memory:":
            prepare_state_path(Path(target))
        # Autocommit mode; `tx()` issues BEGIN/COMMIT itself. One connection shared under a lock.
        try:
            self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigError([f"{target}: cannot open the sandbox state (SQLite): {exc}"]) from None
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        try:
            with self._lock:
                self._conn.executescript(_DDL)
                _migrate(self._conn)
                self._conn.executescript(_INDEXES)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ConfigError([f"{target}: cannot use the sandbox state (SQLite): {exc}"]) from None

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
