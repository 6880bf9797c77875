"""Child items, bulk item patches and item deletion: against the emulator in-process, and their chunking."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.emulator.app import create_app
from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.errors import EncordInvalidArgumentError, EncordPermissionError
from tests.client.conftest import DOMAIN, F1, I1, Recorder, item_json, ok
from tests.client.test_against_emulator import public_line

SPEC: dict[str, Any] = {
    "images": [{"objectUrl": f"gs://b/{n}.jpg"} for n in range(3)],
    "image_groups": [{"title": "g", "objectUrl_1": "gs://b/g1.jpg", "objectUrl_0": "gs://b/g0.jpg"}],
    "dicom_series": [{"title": "s", "objectUrl_0": "gs://b/s/1", "objectUrl_1": "gs://b/s/2"}],
}


@pytest.fixture
async def client(tmp_path: Path, private_key: Ed25519PrivateKey) -> AsyncIterator[EncordClient]:
    app = create_app(tmp_path / "state.sqlite", [public_line(private_key)])
    transport = httpx.ASGITransport(app=app)
    async with EncordClient(DOMAIN, SshKeyAuth(private_key), transport=transport, page_size=2) as c:
        yield c


async def _registered(client: EncordClient) -> tuple[UUID, dict[str, UUID]]:
    integration = await client.sandbox_create_integration("gcs", "gcp")
    folder = (await client.create_folder("f")).uuid
    job = await client.start_upload_job(
        folder, external_files=SPEC, integration_uuid=integration.integration_uuid
    )
    assert (await client.get_upload_job(folder, job, timeout_seconds=30)).status == "DONE"
    return folder, {i.name: i.uuid for i in await client.list_items(folder)}


async def _children(client: EncordClient, folder: UUID, item: UUID) -> list[str | None]:
    return [child.url async for page in client.iter_child_items(folder, item) for child in page]


async def test_child_items_are_a_groups_frames_in_order(client: EncordClient) -> None:
    folder, items = await _registered(client)
    assert await _children(client, folder, items["g"]) == ["gs://b/g0.jpg", "gs://b/g1.jpg"]
    assert await _children(client, folder, items["s"]) == ["gs://b/s/1", "gs://b/s/2"]
    assert await _children(client, folder, items["/0.jpg"]) == []
    with pytest.raises(EncordPermissionError):
        await _children(client, (await client.create_folder("other")).uuid, items["g"])


async def test_patch_items_bulk_renames_and_replaces_metadata(client: EncordClient) -> None:
    folder, items = await _registered(client)
    await client.patch_items_bulk(
        {
            items["/0.jpg"]: {"name": "zero", "clientMetadata": {"k": ["v", None]}},
            items["/1.jpg"]: {"clientMetadata": {"n": 1}},
            items["/2.jpg"]: {"name": None},  # nothing to change: not sent
        }
    )
    after = {i.uuid: i for i in await client.list_items(folder)}
    assert (after[items["/0.jpg"]].name, json.loads(after[items["/0.jpg"]].client_metadata)) == (
        "zero",
        {"k": ["v", None]},
    )
    assert (after[items["/1.jpg"]].name, json.loads(after[items["/1.jpg"]].client_metadata)) == (
        "/1.jpg",
        {"n": 1},
    )
    with pytest.raises(EncordInvalidArgumentError, match="client_metadata"):
        await client.patch_items_bulk({items["/0.jpg"]: {"client_metadata": {}}})


async def test_delete_items_removes_them(client: EncordClient) -> None:
    folder, items = await _registered(client)
    await client.delete_items(folder, [items["g"], items["/0.jpg"]])
    assert {i.name for i in await client.list_items(folder)} == {"/1.jpg", "/2.jpg", "s"}
    await client.delete_items(folder, [])
    with pytest.raises(EncordPermissionError):  # not (any more) in the folder
        await client.delete_items(folder, [items["g"]])


def _uuid(n: int) -> UUID:
    return UUID(int=n)


async def test_bulk_patches_and_deletes_go_1000_per_request(
    make_client: Callable[..., tuple[EncordClient, Recorder]],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return ok({"results": [], "nextPageToken": None})
        return ok({"removedItemsCount": 0, "removedFoldersCount": 0})

    client, recorder = make_client(handler)
    async with client:
        await client.patch_items_bulk({_uuid(n): {"name": f"n{n}"} for n in range(2500)})
        await client.delete_items(UUID(F1), [_uuid(n) for n in range(2001)], remove_unused_frames=False)
    bodies = recorder.bodies()
    assert recorder.targets == [
        *["PATCH /v2/public/storage/items/patch-bulk"] * 3,
        *[f"POST /v2/public/storage/folders/{F1}/items/delete"] * 3,
    ]
    assert [len(b["itemPatches"]) for b in bodies[:3]] == [1000, 1000, 500]
    assert list(bodies[0]["itemPatches"])[:2] == [str(_uuid(0)), str(_uuid(1))]  # in the order given
    assert [len(b["childUuids"]) for b in bodies[3:]] == [1000, 1000, 1]
    assert {b["removeUnusedFrames"] for b in bodies[3:]} == {False}


async def test_child_items_follow_a_next_page_token(
    make_client: Callable[..., tuple[EncordClient, Recorder]],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("pageToken")
        return ok({"results": [item_json(name=token or "first")], "nextPageToken": None if token else "t2"})

    client, recorder = make_client(handler)
    async with client:
        names = [i.name async for page in client.iter_child_items(UUID(F1), UUID(I1)) for i in page]
    assert names == ["first", "t2"]
    base = f"GET /v2/public/storage/folders/{F1}/items/{I1}/child-items?signUrls=False"
    assert recorder.targets == [base, f"{base}&pageToken=t2"]
