"""The hot routes are cheap (issue 10, point 4): a dataset read is a fixed number of SQL statements, item
pages are found in an index and limited in SQL (a deep page costs what the first does), subtrees come from
one recursive CTE, responses are gzipped when asked for, and the answers are what they were."""

from __future__ import annotations

import gzip
import json
import math
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import starlette.middleware.gzip as starlette_gzip

from reconciler.emulator.app import create_app
from reconciler.emulator.store import Store
from reconciler.emulator.views import MEDIA_KEYS
from tests.emulator.rows import add_folder, item_row
from tests.emulator.sandbox import KEY, PUBLIC_LINE, Sandbox, sandbox_for
from tests.fidelity.signing import build_signed

ITEMS = "/v2/public/storage/folders/{}/items"


@dataclass
class Emu:
    sandbox: Sandbox
    store: Store
    token: str

    async def v1(self, query_type: str, dataset: str, payload: Any, method: str = "GET") -> Any:
        body = {"query_type": query_type, "query_method": method, "values": {"uid": None, "payload": payload}}
        headers = {"Authorization": f"Bearer {self.token}", "ResourceType": "dataset", "ResourceID": dataset}
        response = await self.sandbox.client.post("/public", json=body, headers=headers)
        envelope = response.json()
        assert envelope["status"] == 200, envelope
        return envelope["response"]

    def statements(self) -> list[str]:
        """Start recording the SQL statements the handlers run (not transaction control, not the bearer
        token lookups of the authentication); the list fills as requests run."""
        seen: list[str] = []

        def record(sql: str) -> None:
            if sql not in ("BEGIN IMMEDIATE", "COMMIT") and "FROM bearer_tokens" not in sql:
                seen.append(sql)

        self.store.set_trace(record)
        return seen

    def folder(self, name: str, parent: str | None = None) -> str:
        return add_folder(self.store, name, parent)

    def items(self, folder: str, names: list[str], item_type: str = "image", **values: Any) -> list[str]:
        rows = [
            item_row(folder, name, item_type, {"n": n, "ü": "é"}) | values for n, name in enumerate(names)
        ]
        with self.store.tx() as tx:
            tx.add_items(rows)
        return [r["uuid"] for r in rows]

    async def dataset(self, item_uuids: list[str]) -> str:
        created = await self.sandbox(
            "POST", "/v2/public/datasets", body={"title": f"ds-{uuid.uuid4().hex[:6]}"}
        )
        dataset: str = created.json()["datasetUuid"]
        if item_uuids:
            await self.v1("datasetlinkitems", dataset, {"item_uuids": item_uuids}, method="POST")
        return dataset

    async def pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every result of a listing, page by page."""
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            query = params | ({"pageToken": token} if token else {})
            page = (await self.sandbox("GET", path, **query)).json()
            out += page["results"]
            token = page["nextPageToken"]
            if token is None:
                return out


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emu]:
    app = create_app(tmp_path / "state.sqlite", [PUBLIC_LINE])
    async with sandbox_for(app) as client:
        sandbox = Sandbox(client)
        token = (await sandbox("GET", "/v2/public/user/bearer-token")).json()["token"]
        yield Emu(sandbox, app.state.emulator.store, token)


def _names(n: int, prefix: str = "item") -> list[str]:
    # Mixed case, and not in creation order, so that sorting is exercised.
    return [f"{prefix} {'ABC'[i % 3]}{(i * 7919) % n:05d}" for i in range(n)]


def _name_key(item: dict[str, Any]) -> tuple[str, str]:
    return item["name"].casefold(), item["name"]


# -- a fixed number of statements per request ------------------------------------------------------------


async def test_the_dataset_read_is_the_same_few_statements_for_any_number_of_rows(emu: Emu) -> None:
    folder = emu.folder("f")
    counts: list[int] = []
    for rows in (3, 400):
        dataset = await emu.dataset(emu.items(folder, _names(rows, f"r{rows}")))
        for settings in ({"fetch_client_metadata": False}, {"fetch_client_metadata": True}):
            seen = emu.statements()
            read = await emu.v1("dataset", dataset, {"dataset_access_settings": settings, "fetch_rows": True})
            emu.store.set_trace(None)
            assert len(read["data_rows"]) == rows
            assert ("client_metadata" in read["data_rows"][0]) is settings["fetch_client_metadata"]
            counts.append(len(seen))
        seen = emu.statements()
        listed = await emu.v1("datarows", dataset, {"title_like": "%A%", "dataset_access_settings": None})
        emu.store.set_trace(None)
        assert len(listed) == len([n for n in _names(rows, f"r{rows}") if "a" in n.casefold()])
        counts.append(len(seen))
    assert counts[:3] == counts[3:] and max(counts) <= 2, counts  # the dataset, its rows


async def test_linking_and_listing_datasets_are_a_few_statements_whatever_their_size(emu: Emu) -> None:
    folder = emu.folder("f")
    for rows in (2, 300):
        items = emu.items(folder, _names(rows, f"l{rows}"))
        dataset = await emu.dataset([])
        seen = emu.statements()
        linked = await emu.v1("datasetlinkitems", dataset, {"item_uuids": items}, method="POST")
        emu.store.set_trace(None)
        assert [r["backing_item_uuid"] for r in linked] == items
        assert len(seen) <= 6, seen
        seen = emu.statements()
        again = await emu.v1("datasetlinkitems", dataset, {"item_uuids": items[:5]}, method="POST")
        assert again == []  # SKIP: already linked
        bulk = await emu.sandbox("POST", "/v2/public/storage/items/get-bulk", body={"itemUuids": items})
        assert [i["uuid"] for i in bulk.json()["results"]] == items
        assert {i["backedDataUnitsCount"] for i in bulk.json()["results"]} == {1}
        emu.store.set_trace(None)
        assert len(seen) <= 6, seen
    seen = emu.statements()
    listed = (await emu.sandbox("GET", "/v2/public/datasets/list")).json()["result"]
    emu.store.set_trace(None)
    assert [d["storageLocation"] for d in listed] == [2, 2]  # GCP, from each dataset's first item
    assert len(seen) <= 1, seen


# -- pages limited in SQL --------------------------------------------------------------------------------


def _vm_steps(emu: Emu) -> Callable[[], int]:
    """Start counting SQLite VM instructions (in hundreds); call the result to stop and read it."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    emu.store.set_progress(tick, 100)

    def stop() -> int:
        emu.store.set_progress(None)
        return steps[0]

    return stop


async def _page_cost(emu: Emu, path: str, **params: Any) -> tuple[int, dict[str, Any]]:
    stop = _vm_steps(emu)
    page = (await emu.sandbox("GET", path, **params)).json()
    return stop(), page


async def test_a_page_is_found_in_the_index_and_limited_in_sql(emu: Emu) -> None:
    small, big = emu.folder("small"), emu.folder("big")
    emu.items(small, _names(200))
    emu.items(big, _names(6000))
    cost_small, _ = await _page_cost(emu, ITEMS.format(small), pageSize=10)
    cost_big, first = await _page_cost(emu, ITEMS.format(big), pageSize=10)
    assert cost_big < 2 * cost_small + 20, (cost_small, cost_big)  # not proportional to the folder
    assert len(first["results"]) == 10

    seen = emu.statements()
    await emu.sandbox("GET", ITEMS.format(big), pageSize=10)
    emu.store.set_trace(None)
    assert any("LIMIT 11" in s and "INDEXED BY items_by_name" in s for s in seen), seen

    # Deep into the folder, a page costs what the first one did (the token is a position in the index).
    token = first["nextPageToken"]
    for _ in range(5):
        token = (await emu.sandbox("GET", ITEMS.format(big), pageSize=1000, pageToken=token)).json()[
            "nextPageToken"
        ]
    cost_deep, deep = await _page_cost(emu, ITEMS.format(big), pageSize=10, pageToken=token)
    assert cost_deep < 2 * cost_big + 20, (cost_big, cost_deep)
    assert len(deep["results"]) == 10

    # The whole organisation (search/items) walks the organisation-wide index, without sorting.
    cost_search, found = await _page_cost(emu, "/v2/public/storage/search/items", pageSize=10, search="item")
    assert len(found["results"]) == 10 and cost_search < 2 * cost_small + 20, (cost_small, cost_search)


async def test_recursive_listings_take_their_subtree_from_sql_and_page_by_key(emu: Emu) -> None:
    root = emu.folder("root")
    a = emu.folder("a", root)
    b = emu.folder("b", a)
    emu.folder("empty", root)
    elsewhere = emu.folder("elsewhere")
    emu.items(root, _names(30, "root"))
    emu.items(a, _names(5000, "a"))
    emu.items(b, _names(4000, "b"), item_type="video")  # 9,000 below `a`: the organisation-wide index
    emu.items(elsewhere, _names(50, "else"))

    seen = emu.statements()
    first = await emu.sandbox("GET", ITEMS.format(a), isRecursive="True", pageSize=10)
    emu.store.set_trace(None)
    assert any(s.startswith("WITH RECURSIVE scope") for s in seen), seen
    assert len(seen) <= 5, seen  # the folder, the database's version, the subtree's size and keys, the page
    # the next page bisects the keys the first one read: no subtree is gathered again
    seen = emu.statements()
    await emu.sandbox(
        "GET", ITEMS.format(a), isRecursive="True", pageSize=10, pageToken=first.json()["nextPageToken"]
    )
    emu.store.set_trace(None)
    assert len(seen) <= 3 and not any("RECURSIVE" in s for s in seen), seen

    listed = await emu.pages(
        ITEMS.format(root), isRecursive="True", pageSize=1000, itemTypes=["image", "video"]
    )
    assert len(listed) == 9030
    assert [i["name"] for i in listed] == sorted((i["name"] for i in listed), key=lambda n: (n.casefold(), n))
    assert {i["parent"] for i in listed} == {root, a, b}
    newest = await emu.pages(
        ITEMS.format(a), isRecursive="True", pageSize=700, order="createdAt", desc="True"
    )
    assert [i["name"] for i in newest] == (_names(5000, "a") + _names(4000, "b"))[::-1]
    videos = await emu.pages(ITEMS.format(root), isRecursive="True", pageSize=999, itemTypes="video")
    assert len(videos) == 4000 and {i["parent"] for i in videos} == {b}

    token = first.json()["nextPageToken"]
    for _ in range(7):
        token = (
            await emu.sandbox("GET", ITEMS.format(a), isRecursive="True", pageSize=1000, pageToken=token)
        ).json()["nextPageToken"]
    cost_first, _ = await _page_cost(emu, ITEMS.format(a), isRecursive="True", pageSize=10)
    cost_deep, deep = await _page_cost(emu, ITEMS.format(a), isRecursive="True", pageSize=10, pageToken=token)
    assert len(deep["results"]) == 10 and cost_deep < 2 * cost_first + 20, (cost_first, cost_deep)


async def test_folder_listings_page_in_sql_with_their_paths(emu: Emu) -> None:
    root = emu.folder("Root")
    names = ["b", "A", "ä", "straße", "STRASSE", "c"]
    children = {name: emu.folder(name, root) for name in names}
    grandchild = emu.folder("deep", children["A"])
    emu.folder("outside")

    below = await emu.pages(f"/v2/public/storage/folders/{root}/folders", isRecursive="True", pageSize=2)
    expected = sorted([*names, "deep"], key=lambda n: (n.casefold(), n))
    assert [f["name"] for f in below] == expected
    deep = next(f for f in below if f["uuid"] == grandchild)
    assert [p["uuid"] for p in deep["pathToRoot"]] == [children["A"], root]
    assert [
        f["name"] for f in await emu.pages(f"/v2/public/storage/folders/{root}/folders", pageSize=4)
    ] == sorted(names, key=lambda n: (n.casefold(), n))
    found = await emu.pages("/v2/public/storage/search/folders", pageSize=1, search="STRASSE", desc="True")
    assert [f["name"] for f in found] == ["straße", "STRASSE"]
    everything = await emu.pages(
        "/v2/public/storage/folders", isRecursive="True", pageSize=3, order="createdAt"
    )
    assert [f["name"] for f in everything] == ["Root", *names, "deep", "outside"]
    bad = await emu.sandbox("GET", "/v2/public/storage/search/folders", pageToken="bm90IGEgdG9rZW4")
    assert bad.status_code == 400


# -- the wire --------------------------------------------------------------------------------------------


async def test_gzip_when_asked_and_the_same_json(emu: Emu, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = emu.folder("zipped ü")
    emu.items(folder, _names(300))
    threaded: list[object] = []
    real = starlette_gzip.anyio.to_thread.run_sync

    async def recorded(*args: Any, **kwargs: Any) -> Any:
        threaded.append(args[0])
        return await real(*args, **kwargs)

    monkeypatch.setattr(starlette_gzip.anyio.to_thread, "run_sync", recorded)

    async def get(path: str, encoding: str, **params: Any) -> httpx.Response:
        request = build_signed(emu.sandbox.client, KEY, "GET", path, params=params)
        request.headers["Accept-Encoding"] = encoding
        return await emu.sandbox.client.send(request, stream=True)

    plain = await get(ITEMS.format(folder), "identity", pageSize=300)
    await plain.aread()
    assert plain.headers.get("content-encoding") is None
    zipped = await get(ITEMS.format(folder), "gzip, deflate", pageSize=300)
    raw = b"".join([chunk async for chunk in zipped.aiter_raw()])  # as sent, not decoded by httpx
    assert zipped.headers["content-encoding"] == "gzip" and len(raw) < len(plain.content) / 5
    assert json.loads(gzip.decompress(raw)) == plain.json()
    assert len(plain.content) > 128 * 1024 and not threaded  # compressed inline (app.py), not in a thread
    assert list(plain.json()["results"][0])[-len(MEDIA_KEYS) :] == list(MEDIA_KEYS)
    # Non-ASCII goes out as UTF-8, as before; small answers are not compressed.
    folder_json = await get(f"/v2/public/storage/folders/{folder}", "gzip")
    await folder_json.aread()
    assert '"name":"zipped ü"'.encode() in folder_json.content
    assert folder_json.headers.get("content-encoding") is None


async def test_a_held_long_poll_still_answers_with_gzip_asked_for(tmp_path: Path) -> None:
    app = create_app(tmp_path / "s.sqlite", [PUBLIC_LINE], process_delay_seconds=0.3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox", headers={"Accept-Encoding": "gzip"}
    ) as client:
        sandbox = Sandbox(client)
        folder, job = await sandbox.folder_with_job()
        started = time.monotonic()
        state = await sandbox(
            "GET", f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", timeoutSeconds=10
        )
        assert state.json()["status"] == "DONE" and 0.2 <= time.monotonic() - started < 3
        refused = await client.get("/v2/public/storage/folders")
        assert refused.status_code == 401 and "message" in refused.json()


async def test_no_nan_goes_out(emu: Emu) -> None:
    folder = emu.folder("nan")
    emu.items(
        folder, ["odd"], client_metadata={"x": math.nan}, media={"width": math.nan, "mimeType": "image/jpeg"}
    )
    listed = await emu.sandbox("GET", ITEMS.format(folder))
    assert b"NaN" not in listed.content.replace(b'\\"x\\": NaN', b"")  # metadata is text: kept as stored
    assert listed.json()["results"][0]["width"] is None


# -- the sandbox-only dataset delete ---------------------------------------------------------------------


async def test_sandbox_dataset_delete_removes_the_dataset_and_its_rows_not_the_items(emu: Emu) -> None:
    folder = emu.folder("kept")
    items = emu.items(folder, ["one", "two"])
    dataset = await emu.dataset(items)
    other = await emu.dataset(items[:1])
    deleted = await emu.sandbox("DELETE", f"/sandbox/datasets/{dataset}")
    assert deleted.status_code == 204
    titles = [
        d["datasetUuid"] for d in (await emu.sandbox("GET", "/v2/public/datasets/list")).json()["result"]
    ]
    assert titles == [other]
    with emu.store.tx() as tx:
        assert tx.data_rows(dataset) == [] and len(tx.data_rows(other)) == 1
    listed = (await emu.sandbox("GET", ITEMS.format(folder))).json()["results"]
    assert [(i["name"], i["backedDataUnitsCount"]) for i in listed] == [("one", 1), ("two", 0)]
    assert (await emu.sandbox("DELETE", f"/sandbox/datasets/{dataset}")).status_code == 403
    assert (await emu.sandbox("DELETE", "/sandbox/datasets/not-a-uuid")).status_code == 400
    assert (await emu.sandbox.client.delete(f"/sandbox/datasets/{other}")).status_code == 401


def test_an_existing_state_file_gets_the_listing_indexes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    Store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX items_name_order")
        conn.execute("DROP INDEX items_by_created")
    Store(path)
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"items_by_name", "items_by_created", "items_name_order", "items_created_order"} <= names
