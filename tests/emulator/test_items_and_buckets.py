"""The emulator in-process: child items of groups, sandbox buckets, the URL-key duplicate index, listings in
SQL, and upgrading a state file written before the derived item columns existed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.store import Store, url_key
from tests.emulator.sandbox import Sandbox

GROUPS: dict[str, Any] = {
    "image_groups": [
        # Out of order on purpose: frames are ordered by N in objectUrl_N.
        {"title": "group", "objectUrl_1": "gs://b/g/1.jpg", "objectUrl_0": "gs://b/g/0.jpg"},
        {"title": "seq", "createVideo": True, "objectUrl_0": "gs://b/s/a.png"},
    ],
    "dicom_series": [{"title": "series", "objectUrl_0": "gs://b/d/1", "objectUrl_1": "gs://b/d/2.dcm"}],
    "images": [{"objectUrl": "gs://b/single.jpg"}],
}


async def _items(sandbox: Sandbox, folder: str) -> dict[str, dict[str, Any]]:
    listed = await sandbox("GET", f"/v2/public/storage/folders/{folder}/items", pageSize=1000)
    return {i["name"]: i for i in listed.json()["results"]}


def _children_path(folder: str, item: str) -> str:
    return f"/v2/public/storage/folders/{folder}/items/{item}/child-items"


async def test_child_items_are_the_frames_of_a_group_in_order(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox()
    folder, integration = await sandbox.folder(), await sandbox.integration()
    assert (await sandbox.run_job(folder, integration, GROUPS))["status"] == "DONE"
    items = await _items(sandbox, folder)

    group = items["group"]
    page = (await sandbox("GET", _children_path(folder, group["uuid"]), signUrls="False")).json()
    assert page["nextPageToken"] is None
    assert [(c["url"], c["itemType"], c["name"]) for c in page["results"]] == [
        ("gs://b/g/0.jpg", "image", "/g/0.jpg"),
        ("gs://b/g/1.jpg", "image", "/g/1.jpg"),
    ]
    child = page["results"][0]
    assert (child["parent"], child["integrationHash"], child["storageLocation"]) == (
        folder,
        integration,
        "gcp",
    )
    assert (child["clientMetadata"], child["signedUrl"], child["mimeType"]) == ("{}", None, "image/jpeg")
    again = (await sandbox("GET", _children_path(folder, group["uuid"]))).json()["results"]
    assert [c["uuid"] for c in again] == [c["uuid"] for c in page["results"]]  # stable
    assert len({c["uuid"] for c in again} | {group["uuid"]}) == 3

    signed = (await sandbox("GET", _children_path(folder, group["uuid"]), signUrls="True")).json()
    assert all(c["signedUrl"] for c in signed["results"])

    series = (await sandbox("GET", _children_path(folder, items["series"]["uuid"]))).json()["results"]
    assert [(c["url"], c["itemType"]) for c in series] == [
        ("gs://b/d/1", "dicomFile"),
        ("gs://b/d/2.dcm", "dicomFile"),
    ]
    sequence = (await sandbox("GET", _children_path(folder, items["seq"]["uuid"]))).json()["results"]
    assert [(c["url"], c["name"]) for c in sequence] == [("gs://b/s/a.png", "/s/a.png")]  # the default title
    single = await sandbox("GET", _children_path(folder, items["/single.jpg"]["uuid"]))
    assert single.json() == {"results": [], "nextPageToken": None}


async def test_child_items_page_when_asked_and_need_the_right_folder(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sandbox = make_sandbox()
    folder, other, integration = (
        await sandbox.folder(),
        await sandbox.folder("o"),
        await sandbox.integration(),
    )
    frames = {f"objectUrl_{n}": f"gs://b/g/{n}.jpg" for n in range(5)}
    await sandbox.run_job(folder, integration, {"image_groups": [{"title": "g", **frames}]})
    group = (await _items(sandbox, folder))["g"]["uuid"]

    urls: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"pageSize": 2} | ({"pageToken": token} if token else {})
        page = (await sandbox("GET", _children_path(folder, group), **params)).json()
        urls += [c["url"] for c in page["results"]]
        token = page["nextPageToken"]
        if token is None:
            break
    assert urls == [f"gs://b/g/{n}.jpg" for n in range(5)]
    assert (await sandbox("GET", _children_path(other, group))).status_code == 403


@pytest.fixture
def bucket_dir(tmp_path: Path) -> Path:
    root = tmp_path / "bucket"
    (root / "img").mkdir(parents=True)
    (root / "img" / "here.jpg").write_bytes(b"jpg")
    (root / "sub dir").mkdir()
    (root / "sub dir" / "x.jpg").write_bytes(b"jpg")
    return root


async def test_a_missing_object_of_a_sandbox_bucket_is_a_unit_error(
    make_sandbox: Callable[..., Sandbox], bucket_dir: Path
) -> None:
    sandbox = make_sandbox(buckets={"data": bucket_dir})
    folder, integration = await sandbox.folder(), await sandbox.integration()
    spec = {
        "images": [
            {"objectUrl": "gs://data/img/here.jpg"},
            {"objectUrl": "gs://data/img/gone.jpg"},
            {"objectUrl": "https://storage.googleapis.com/data/sub%20dir/x.jpg"},
            {"objectUrl": "gs://data/img/../img/here.jpg"},
            {"objectUrl": "gs://elsewhere/anything.jpg"},  # not a sandbox bucket: accepted as before
        ],
        "image_groups": [
            {"title": "g", "objectUrl_0": "gs://data/img/here.jpg", "objectUrl_1": "gs://data/no"}
        ],
    }
    state = await sandbox.run_job(folder, integration, spec, ignore_errors=True)

    assert (state["status"], state["unitsDoneCount"], state["unitsErrorCount"]) == ("DONE", 3, 3)
    errors = {tuple(e["objectUrls"]): e["error"] for e in state["unitErrors"]}
    assert errors[("gs://data/img/gone.jpg",)] == (
        "Failed to read gs://data/img/gone.jpg with the GCP integration 'gcp': "
        "404 No such object: data/img/gone.jpg"
    )
    assert errors[("gs://data/img/../img/here.jpg",)].endswith("No such object: data/img/../img/here.jpg")
    assert errors[("gs://data/img/here.jpg", "gs://data/no")].endswith("No such object: data/no")
    assert set(await _items(sandbox, folder)) == {"/img/here.jpg", "/data/sub%20dir/x.jpg", "/anything.jpg"}


async def test_without_buckets_every_url_of_the_provider_is_accepted(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sandbox = make_sandbox()
    folder, integration = await sandbox.folder(), await sandbox.integration()
    state = await sandbox.run_job(folder, integration, {"images": [{"objectUrl": "gs://data/img/gone.jpg"}]})
    assert (state["status"], state["unitErrors"]) == ("DONE", [])


async def test_duplicates_are_found_by_url_key_across_jobs_and_kinds(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sandbox = make_sandbox()
    folder, integration = await sandbox.folder(), await sandbox.integration()
    first = {
        "images": [{"objectUrl": f"gs://b/{n}.jpg"} for n in range(3)],
        "image_groups": [{"title": "g", "objectUrl_0": "gs://b/0.jpg", "objectUrl_1": "gs://b/1.jpg"}],
        "skip_duplicate_urls": True,
    }
    assert len((await sandbox.run_job(folder, integration, first))["itemsWithNames"]) == 4
    second = {
        "images": [
            {"objectUrl": "gs://b/0.jpg", "clientMetadata": {"v": 2}},
            {"objectUrl": "gs://b/new.jpg"},
        ],
        "image_groups": [
            {"title": "same frames", "objectUrl_0": "gs://b/0.jpg", "objectUrl_1": "gs://b/1.jpg"},
            {"title": "reordered", "objectUrl_0": "gs://b/1.jpg", "objectUrl_1": "gs://b/0.jpg"},
            {"title": "one frame = the file", "objectUrl_0": "gs://b/2.jpg"},
        ],
        "skip_duplicate_urls": True,
        "upsert_metadata": True,
    }
    state = await sandbox.run_job(folder, integration, second)
    assert (state["unitsDoneCount"], sorted(i["name"] for i in state["itemsWithNames"])) == (
        5,
        ["/new.jpg", "reordered"],
    )
    items = await _items(sandbox, folder)
    assert json.loads(items["/0.jpg"]["clientMetadata"]) == {"v": 2}  # upserted
    assert len(items) == 6


async def test_listing_sorts_filters_and_pages_like_python(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox()
    folder, integration = await sandbox.folder(), await sandbox.integration()
    titles = ["b", "B", "a", "Ä", "straße", "STRASSE", "c"]
    spec = {"images": [{"objectUrl": f"gs://b/{n}.jpg", "title": t} for n, t in enumerate(titles)]}
    await sandbox.run_job(folder, integration, spec)

    async def names(**params: Any) -> list[str]:
        out: list[str] = []
        token: str | None = None
        while True:
            query = {"pageSize": 2, **params} | ({"pageToken": token} if token else {})
            page = (await sandbox("GET", f"/v2/public/storage/folders/{folder}/items", **query)).json()
            out += [i["name"] for i in page["results"]]
            token = page["nextPageToken"]
            if token is None:
                return out

    expected = [t for _, t in sorted(enumerate(titles), key=lambda p: (p[1].casefold(), p[1], p[0]))]
    assert await names() == expected
    assert await names(desc="True") == expected[::-1]
    assert await names(order="createdAt") == titles
    assert await names(search="STRASSE") == ["STRASSE", "straße"]
    assert await names(itemTypes="video") == []
    assert await names(isInDataset="True") == []
    bad = await sandbox("GET", f"/v2/public/storage/folders/{folder}/items", order="size")
    assert bad.status_code == 400


async def test_deleting_items_checks_remove_unused_frames(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox()
    folder, integration = await sandbox.folder(), await sandbox.integration()
    await sandbox.run_job(folder, integration, GROUPS)
    items = await _items(sandbox, folder)
    path = f"/v2/public/storage/folders/{folder}/items/delete"
    bad = await sandbox("POST", path, body={"childUuids": [items["group"]["uuid"]], "removeUnusedFrames": 1})
    assert bad.status_code == 400
    body = {"childUuids": [items["group"]["uuid"], items["series"]["uuid"]], "removeUnusedFrames": False}
    done = await sandbox("POST", path, body=body)
    assert done.json() == {"removedItemsCount": 2, "removedFoldersCount": 0}
    assert set(await _items(sandbox, folder)) == {"seq", "/single.jpg"}


def test_an_older_state_file_gets_the_derived_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the items table as it was before url_key / name_fold
        conn.executescript(
            """
            CREATE TABLE items (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE, parent TEXT NOT NULL,
                item_type TEXT NOT NULL, name TEXT NOT NULL, url TEXT, client_metadata TEXT NOT NULL,
                owner TEXT NOT NULL, created_at TEXT NOT NULL, last_edited_at TEXT NOT NULL,
                storage_location TEXT NOT NULL, integration_hash TEXT, media TEXT NOT NULL
            );
            CREATE INDEX items_parent ON items(parent);
            CREATE TABLE data_rows (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, data_hash TEXT NOT NULL UNIQUE, dataset TEXT NOT NULL,
                item TEXT NOT NULL, created_at TEXT NOT NULL, last_edited_at TEXT NOT NULL
            );
            INSERT INTO data_rows (data_hash, dataset, item, created_at, last_edited_at)
                VALUES ('h-gone', 'd', 'deleted-item', 't', 't'), ('h-i', 'd', 'i', 't', 't');
            """
        )
        frames = {"frames": [{"url": "gs://b/0.jpg"}, {"url": "gs://b/1.jpg"}]}
        for uuid, name, url, media in [("i", "Img", "gs://b/i.jpg", {}), ("g", "Grp", None, frames)]:
            conn.execute(
                "INSERT INTO items (uuid, parent, item_type, name, url, client_metadata, owner, created_at, "
                "last_edited_at, storage_location, media) VALUES (?, 'f', 'image', ?, ?, '{}', 'o', 't', 't', "
                "'gcp', ?)",
                (uuid, name, url, json.dumps(media)),
            )
    store = Store(path)
    with store.tx() as tx:
        assert tx.item_uuids_by_url_key("f", ["gs://b/i.jpg", url_key(["gs://b/0.jpg", "gs://b/1.jpg"])]) == {
            "gs://b/i.jpg": ["i"],
            '["gs://b/0.jpg", "gs://b/1.jpg"]': ["g"],
        }
        page = tx.list_items(["f"], search="img")
        assert [r[page.columns.index("name")] for r in page.rows] == ["Img"]
        # data rows get the rowid of their item, which a dataset read joins on; a gone item's row is left out
        assert [(row["data_hash"], item["name"]) for row, item in tx.data_rows_with_items("d")] == [
            ("h-i", "Img")
        ]
    with sqlite3.connect(path) as conn:  # an older reconciler on the migrated file knows no item_seq
        conn.execute(
            "INSERT INTO data_rows (data_hash, dataset, item, created_at, last_edited_at) "
            "VALUES ('h-old', 'd', 'g', 't', 't')"
        )
    with Store(path).tx() as tx:  # opening it again changes nothing; the older writer's row is seen
        assert [row["data_hash"] for row, _ in tx.data_rows_with_items("d")] == ["h-i", "h-old"]
