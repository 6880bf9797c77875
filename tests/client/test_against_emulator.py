"""Every client method against the emulator, in-process over httpx.ASGITransport (the sandbox path)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.encord.auth import BearerAuth, SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.errors import EncordAuthError, EncordNotFoundError, EncordPermissionError

emulator_app = pytest.importorskip("reconciler.emulator.app")

DOMAIN = "http://sandbox.invalid"


def public_line(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


@pytest.fixture
def app(tmp_path: Path, private_key: Ed25519PrivateKey) -> Any:
    return emulator_app.create_app(
        tmp_path / "state.sqlite",
        [public_line(private_key)],
        request_log_path=tmp_path / "requests.jsonl",
    )


@pytest.fixture
async def client(app: Any, ssh_auth: SshKeyAuth) -> AsyncIterator[EncordClient]:
    async with EncordClient(DOMAIN, ssh_auth, transport=httpx.ASGITransport(app=app), page_size=2) as c:
        yield c


async def test_integrations_and_schema(client: EncordClient) -> None:
    created = await client.sandbox_create_integration("bucket-a", "gcp")
    assert created.title == "bucket-a"
    assert [i.integration_uuid for i in await client.list_cloud_integrations()] == [created.integration_uuid]

    assert await client.get_metadata_schema() == {}
    schema = {
        "n": {"ty": "variant", "hint": "number"},
        "e": {"ty": "enum", "values": ["a", "z"]},
        "emb": {"ty": "embedding", "size": 4, "api": None},
        "gone": {"ty": "tombstone", "deleted_ty": {"ty": "variant", "hint": "text"}},
    }
    await client.set_metadata_schema(schema)
    assert await client.get_metadata_schema() == schema

    await client.sandbox_delete_integration(created.integration_uuid)
    assert await client.list_cloud_integrations() == []


async def test_folders(client: EncordClient) -> None:
    root = await client.create_folder("data", description="d", client_metadata={"team": "ml", "n": 1})
    assert root.parent is None and json.loads(root.client_metadata or "{}") == {"team": "ml", "n": 1}
    children = [await client.create_folder(f"c{i}", parent=root.uuid) for i in range(3)]
    other = await client.create_folder("other")

    assert {f.name for f in await client.list_folders()} == {"data", "other"}
    listed = await client.list_folders(root.uuid)  # page_size=2: two pages
    assert [f.name for f in listed] == ["c0", "c1", "c2"]
    assert (await client.get_folder(children[0].uuid)).parent == root.uuid

    updated = await client.update_folder(children[0].uuid, name="renamed", client_metadata={"k": "v"})
    assert updated.name == "renamed" and json.loads(updated.client_metadata or "{}") == {"k": "v"}
    assert (await client.update_folder(children[0].uuid)).name == "renamed"

    await client.move_folder(children[1].uuid, other.uuid)
    assert [f.name for f in await client.list_folders(other.uuid)] == ["c1"]
    await client.move_folder(children[1].uuid, None)
    assert {f.name for f in await client.list_folders()} == {"data", "other", "c1"}

    await client.delete_folder(children[2].uuid)
    with pytest.raises(EncordPermissionError):
        await client.get_folder(children[2].uuid)
    with pytest.raises(EncordPermissionError):
        await client.delete_folder(UUID(int=12345))


async def test_registration_items_and_datasets(client: EncordClient) -> None:
    integration = await client.sandbox_create_integration("bucket", "gcp")
    folder = await client.create_folder("images")
    spec = {
        "images": [{"objectUrl": f"gs://bucket/img {i}.jpg", "clientMetadata": {"i": i}} for i in range(3)],
        "skip_duplicate_urls": True,
    }
    job_uuid = await client.start_upload_job(
        folder.uuid, external_files=spec, integration_uuid=integration.integration_uuid, ignore_errors=False
    )
    job = await client.get_upload_job(folder.uuid, job_uuid, timeout_seconds=30)
    assert job.status == "DONE", job
    assert len(job.items_with_names) == 3

    items = await client.list_items(folder.uuid)
    assert sorted(i.url or "" for i in items) == [f"gs://bucket/img {i}.jpg" for i in range(3)]
    pages = [page async for page in client.iter_items(folder.uuid, recursive=True)]
    assert [len(p) for p in pages] == [2, 1]
    item = await client.update_item(folder.uuid, items[0].uuid, client_metadata={"label": "cat"})
    assert json.loads(item.client_metadata)["label"] == "cat"

    dataset_uuid = await client.create_dataset("My set", "about it")
    infos = await client.list_datasets()
    assert [(d.dataset_uuid, d.title) for d in infos] == [(dataset_uuid, "My set")]
    assert [d.dataset_uuid for d in await client.list_datasets(title_eq="My set")] == [dataset_uuid]
    assert await client.list_datasets(title_eq="nope") == []

    dataset = await client.get_dataset(str(dataset_uuid))
    assert dataset.title == "My set" and dataset.data_rows == []
    rows = await client.link_items(str(dataset_uuid), [i.uuid for i in items])
    assert {r.backing_item_uuid for r in rows} == {i.uuid for i in items}
    again = await client.link_items(str(dataset_uuid), [items[0].uuid])  # SKIP: no duplicate row
    assert len((await client.get_dataset(str(dataset_uuid))).data_rows) == 3
    assert len(again) <= 1

    await client.remove_data(str(dataset_uuid), [r.data_hash for r in rows])
    assert (await client.get_dataset(str(dataset_uuid))).data_rows == []
    await client.delete_folder(folder.uuid)


async def test_unknown_key_is_an_auth_error(app: Any) -> None:
    stranger = SshKeyAuth(Ed25519PrivateKey.generate())
    async with EncordClient(DOMAIN, stranger, transport=httpx.ASGITransport(app=app)) as c:
        with pytest.raises(EncordAuthError) as info:
            await c.list_cloud_integrations()
        assert "trace id" in str(info.value)
        with pytest.raises(EncordAuthError):
            await c.get_dataset(str(uuid4()))


async def test_bearer_token_mode(app: Any, client: EncordClient) -> None:
    token = (await client._v2("GET", "user/bearer-token"))["token"]
    async with EncordClient(DOMAIN, BearerAuth(token), transport=httpx.ASGITransport(app=app)) as c:
        folder = await c.create_folder("via-token")
        assert [f.uuid for f in await c.list_folders()] == [folder.uuid]
        dataset_uuid = await c.create_dataset("t")
        assert (await c.get_dataset(str(dataset_uuid))).title == "t"


async def test_unknown_dataset_is_not_found(client: EncordClient) -> None:
    with pytest.raises(EncordNotFoundError, match="trace id"):
        await client.get_dataset(str(uuid4()))


async def test_every_request_verified_by_the_emulator(client: EncordClient, tmp_path: Path) -> None:
    await client.create_folder("x", client_metadata={"ü": "a b%/"})
    await client.list_folders()
    await client.get_metadata_schema()
    with pytest.raises(EncordNotFoundError):
        await client.get_dataset("nope")
    lines = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    assert all(line["signature_valid"] is True for line in lines), lines


class DropNextCreate(httpx.AsyncBaseTransport):
    """When armed, lets the next create reach the emulator, then loses its answer (the connection dropped)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.armed = False
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        creates = ("/v2/public/storage/folders", "/v2/public/datasets")
        if self.armed and request.method == "POST" and request.url.path in creates:
            self.armed = False
            self.dropped += 1
            await response.aread()
            raise httpx.ReadError("connection reset by peer")
        return response


async def test_ambiguous_creates_against_the_emulator(app: Any, ssh_auth: SshKeyAuth) -> None:
    async def no_sleep(_: float) -> None:
        return None

    transport = DropNextCreate(httpx.ASGITransport(app=app))
    async with EncordClient(DOMAIN, ssh_auth, transport=transport, sleep=no_sleep) as c:
        older = await c.create_folder("dup")  # a namesake that exists before
        transport.armed = True
        folder = await c.create_folder("dup")
        assert folder.uuid != older.uuid
        assert sorted(f.uuid for f in await c.list_folders()) == sorted([older.uuid, folder.uuid])

        transport.armed = True
        dataset_uuid = await c.create_dataset("dup")
        assert [d.dataset_uuid for d in await c.list_datasets()] == [dataset_uuid]
    assert transport.dropped == 2


async def test_a_folder_listing_asks_ahead_and_stops_cleanly_against_the_emulator(
    client: EncordClient,
) -> None:
    # page_size=2: five items come in three pages, each page's successor asked for while it is used.
    integration = await client.sandbox_create_integration("bucket", "gcp")
    folder = await client.create_folder("five")
    spec = {"images": [{"objectUrl": f"gs://bucket/{i}.jpg"} for i in range(5)]}
    job = await client.start_upload_job(
        folder.uuid, external_files=spec, integration_uuid=integration.integration_uuid, ignore_errors=False
    )
    assert (await client.get_upload_job(folder.uuid, job, timeout_seconds=30)).status == "DONE"
    pages = [[item["url"] for item in page] async for page in client.iter_content_items(folder.uuid)]
    assert pages == [
        ["gs://bucket/0.jpg", "gs://bucket/1.jpg"],
        ["gs://bucket/2.jpg", "gs://bucket/3.jpg"],
        ["gs://bucket/4.jpg"],
    ]
    listing = client.iter_content_items(folder.uuid)
    async for _page in listing:
        break  # the second page is on its way: it is dropped, and the client stays usable
    await listing.aclose()
    assert len(await client.list_items(folder.uuid)) == 5
