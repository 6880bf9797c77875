"""SQLite persistence for the emulator: one file holds the whole organisation.

Every access goes through `Store.tx()`, which takes a process-wide lock and runs one transaction. Calls
are short, so running them on the event loop is fine; nothing awaits while holding the lock.
Rows are returned as plain dicts with snake_case keys; `views.py` turns them into wire JSON. The schema and
row encoding are in store_sql.py, the hot listings and joined reads in store_reads.py (mixed into `Tx`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from operator import itemgetter
from pathlib import Path
from typing import Any

from reconciler.emulator.scope_keys import ScopeKeys
from reconciler.emulator.store_reads import Reads
from reconciler.emulator.store_sql import (
    DDL,
    INDEXES,
    JSON_COLUMNS,
    Row,
    casefold,
    decode_row,
    derived,
    encode_value,
    item_url_key,
    json_list,
    migrate,
    new_uuid,
    now_iso,
    url_key,
)
from reconciler.errors import ConfigError

# SQLite's page cache per connection (its default is 2 MiB): a registration's inserts touch every item index.
SQLITE_CACHE_KIB = 16384

__all__ = [
    "Row",
    "Store",
    "Tx",
    "item_url_key",
    "new_uuid",
    "now_iso",
    "prepare_state_path",
    "state_path_problem",
    "url_key",
]


class Tx(Reads):
    """One open transaction. Its methods (and those of `Reads`) are the only SQL in the emulator."""

    def __init__(self, conn: sqlite3.Connection, scope_keys: ScopeKeys | None = None) -> None:
        self._conn = conn
        self._scope_keys = scope_keys

    # -- generic helpers -------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Row | None:
        row = self._conn.execute(sql, args).fetchone()
        return decode_row(row) if row is not None else None

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        return [decode_row(r) for r in self._conn.execute(sql, args).fetchall()]

    def _insert(self, table: str, values: Row) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._conn.execute(
            f"INSERT INTO {table} ({cols}) VALUES ({marks})",
            tuple(encode_value(v, k) for k, v in values.items()),
        )

    def _update(self, table: str, key: str, key_value: str, values: Row) -> None:
        assignments = ", ".join(f"{k} = ?" for k in values)
        self._conn.execute(
            f"UPDATE {table} SET {assignments} WHERE {key} = ?",
            (*(encode_value(v, k) for k, v in values.items()), key_value),
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
        self._conn.execute(
            "DELETE FROM folders WHERE uuid IN (SELECT value FROM json_each(?))", (json_list(folder_uuids),)
        )

    # -- items -----------------------------------------------------------------------------------
    def add_item(self, values: Row) -> Row:
        self._insert("items", derived(values))
        item = self.item(values["uuid"])
        assert item is not None
        return item

    def add_items(self, rows: list[Row]) -> None:
        """Insert many item rows (all with the same columns) in one statement."""
        if not rows:
            return
        full = [derived(r) for r in rows]
        cols = list(full[0])
        values = itemgetter(*cols)  # one C call per row; only the JSON columns are then encoded
        encoded = [i for i, c in enumerate(cols) if c in JSON_COLUMNS]
        params = []
        for row in full:
            one = list(values(row))
            for i in encoded:
                one[i] = encode_value(one[i], cols[i])
            params.append(one)
        self._conn.executemany(
            f"INSERT INTO items ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", params
        )

    def item(self, item_uuid: str) -> Row | None:
        return self._one("SELECT * FROM items WHERE uuid = ?", (item_uuid,))

    def items(self) -> list[Row]:
        return self._all("SELECT * FROM items ORDER BY seq")

    def items_in(self, folder_uuids: list[str]) -> list[Row]:
        return self._all(
            "SELECT * FROM items WHERE parent IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (json_list(folder_uuids),),
        )

    def item_uuids_in(self, folder_uuids: list[str]) -> list[str]:
        rows = self._conn.execute(
            "SELECT uuid FROM items WHERE parent IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (json_list(folder_uuids),),
        )
        return [str(r[0]) for r in rows]

    def item_uuids_by_url_key(self, folder_uuid: str, keys: Iterable[str]) -> dict[str, list[str]]:
        """url key -> UUIDs (oldest first) of the folder's items with that key, for the keys given."""
        found: dict[str, list[str]] = {}
        rows = self._conn.execute(
            "SELECT url_key, uuid FROM items INDEXED BY items_by_url WHERE parent = ? "
            "AND url_key IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (folder_uuid, json_list(keys)),
        )
        for key, item_uuid in rows:
            found.setdefault(key, []).append(item_uuid)
        return found

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

    def move_items(self, item_uuids: list[str], parent: str, stamp: str) -> None:
        self._conn.execute(
            "UPDATE items SET parent = ?, last_edited_at = ? WHERE uuid IN (SELECT value FROM json_each(?))",
            (parent, stamp, json_list(item_uuids)),
        )

    def delete_items(self, item_uuids: list[str]) -> None:
        self._conn.execute(
            "DELETE FROM items WHERE uuid IN (SELECT value FROM json_each(?))", (json_list(item_uuids),)
        )

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
        self._conn.execute(
            "DELETE FROM upload_jobs WHERE folder IN (SELECT value FROM json_each(?))",
            (json_list(folder_uuids),),
        )

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
        return self.add_data_rows(dataset_uuid, [item_uuid])[0]

    def add_data_rows(self, dataset_uuid: str, item_uuids: list[str]) -> list[Row]:
        """Link items (in order; repeats link again) in one statement; the new rows."""
        stamp = now_iso()
        rows = [
            {
                "data_hash": new_uuid(),
                "dataset": dataset_uuid,
                "item": u,
                "created_at": stamp,
                "last_edited_at": stamp,
            }
            for u in item_uuids
        ]
        # One statement: the (data hash, item) pairs go in as one JSON array, inserted in its order.
        self._conn.execute(
            "INSERT INTO data_rows (data_hash, dataset, item, created_at, last_edited_at, item_seq) "
            "SELECT json_extract(value, '$[0]'), ?, json_extract(value, '$[1]'), ?, ?, "
            "(SELECT seq FROM items WHERE items.uuid = json_extract(value, '$[1]')) "
            "FROM json_each(?) ORDER BY key",
            (dataset_uuid, stamp, stamp, json.dumps([[r["data_hash"], r["item"]] for r in rows])),
        )
        return rows

    def delete_dataset(self, dataset_uuid: str) -> None:
        """The dataset and its data rows; the items they use stay."""
        self._conn.execute("DELETE FROM data_rows WHERE dataset = ?", (dataset_uuid,))
        self._conn.execute("DELETE FROM datasets WHERE uuid = ?", (dataset_uuid,))

    def data_rows(self, dataset_uuid: str) -> list[Row]:
        return self._all("SELECT * FROM data_rows WHERE dataset = ? ORDER BY seq", (dataset_uuid,))

    def data_row(self, data_hash: str) -> Row | None:
        return self._one("SELECT * FROM data_rows WHERE data_hash = ?", (data_hash,))

    def data_rows_for_items(self, item_uuids: list[str]) -> list[Row]:
        return self._all(
            "SELECT * FROM data_rows WHERE item IN (SELECT value FROM json_each(?))",
            (json_list(item_uuids),),
        )

    def delete_data_rows(self, data_hashes: list[str]) -> None:
        self._conn.execute(
            "DELETE FROM data_rows WHERE data_hash IN (SELECT value FROM json_each(?))",
            (json_list(data_hashes),),
        )


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


def _use_wal(conn: sqlite3.Connection) -> None:
    """WAL: a commit appends to one log instead of journalling each page it changes (a 100,000-item
    registration commits about a quarter faster), as durably at the default synchronous=FULL. Where the
    switch cannot be made (a directory this user cannot write, another process mid-transaction with an
    older reconciler), the file keeps the mode it has: slower, never unusable."""
    with suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode=WAL")


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
        self._conn.create_function("casefold", 1, casefold, deterministic=True)
        self._lock = threading.Lock()
        self._scope_keys = ScopeKeys()
        try:
            with self._lock:
                if target != ":memory:":
                    self._conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
                    _use_wal(self._conn)
                self._conn.executescript(DDL)
                migrate(self._conn)
                self._conn.executescript(INDEXES)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ConfigError([f"{target}: cannot use the sandbox state (SQLite): {exc}"]) from None

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn, self._scope_keys)
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._scope_keys.clear()  # keys read after a write that is now undone
                raise
            self._conn.execute("COMMIT")

    def set_trace(self, callback: Callable[[str], object] | None) -> None:
        """Call `callback` with the text of every SQL statement run (tests count them); None stops."""
        self._conn.set_trace_callback(callback)

    def set_progress(self, callback: Callable[[], int] | None, every: int = 1000) -> None:
        """Call `callback` every `every` SQLite VM instructions (tests measure work); None stops."""
        self._conn.set_progress_handler(callback, every)
