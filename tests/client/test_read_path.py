"""The plan's read path against the in-process emulator: the request count grows with pages, not with
folders, and every item lands in its own folder."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from reconciler.backend import SANDBOX_DOMAIN, sandbox_key
from reconciler.emulator.app import create_app
from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.encord.reader import ReadScope, read_live


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await self.inner.handle_async_request(request)

    def total(self) -> int:
        return sum(self.paths.values())


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[tuple[EncordClient, Counting, dict[str, UUID]]]:
    """Three roots, each with four children of three grandchildren (51 folders); two images in every
    grandchild of `r0` and `r1`; dataset `d` linked to everything below `r0`."""
    state = tmp_path / "sandbox.db"
    key, public = sandbox_key(state)
    transport = Counting(httpx.ASGITransport(app=create_app(state, [public])))
    uuids: dict[str, UUID] = {}
    async with EncordClient(SANDBOX_DOMAIN, SshKeyAuth(private_key=key), transport=transport) as client:
        integration = (await client.sandbox_create_integration("gcs", "gcp")).integration_uuid
        dataset = await client.create_dataset("d")
        for r in range(3):
            root = (await client.create_folder(f"r{r}")).uuid
            uuids[f"r{r}"] = root
            for c in range(4):
                child = (await client.create_folder(f"c{c}", parent=root)).uuid
                uuids[f"r{r}/c{c}"] = child
                for g in range(3):
                    path = f"r{r}/c{c}/g{g}"
                    uuids[path] = (await client.create_folder(f"g{g}", parent=child)).uuid
                    if r < 2:
                        spec = {"images": [{"objectUrl": f"gs://b/{path}/{n}.jpg"} for n in range(2)]}
                        job = await client.start_upload_job(
                            uuids[path], external_files=spec, integration_uuid=integration
                        )
                        assert (await client.get_upload_job(uuids[path], job)).status == "DONE"
        below_r0 = [i.uuid for i in await client.list_items(uuids["r0"], recursive=True)]
        await client.link_items(str(dataset), below_r0)
        transport.paths.clear()
        yield client, transport, uuids


async def test_the_tree_and_a_subtree_of_items_cost_one_request_each(
    workspace: tuple[EncordClient, Counting, dict[str, UUID]],
) -> None:
    client, transport, uuids = workspace
    scope = ReadScope(item_folders=(("r0", True),), dataset_items_for=frozenset({"d"}))
    live = await read_live(client, scope)
    assert len(live.folders) == 51
    assert transport.paths["/v2/public/storage/search/folders"] == 1
    assert transport.paths[f"/v2/public/storage/folders/{uuids['r0']}/items"] == 1  # one recursive listing
    assert transport.total() == 1 + 1 + 1 + 1 + 1 + 1  # integrations, schema, tree, items, datasets, d
    leaves = [f"r0/c{c}/g{g}" for c in range(4) for g in range(3)]
    assert {p: len(live.folder_items[p]) for p in leaves} == dict.fromkeys(leaves, 2)
    assert live.folder_items["r0"] == [] and live.folder_items["r0/c1"] == []
    assert set(live.datasets["d"].linked_items) == {u for p in leaves for u in live.folder_items[p]}


async def test_requests_grow_with_pages_not_folders(
    workspace: tuple[EncordClient, Counting, dict[str, UUID]], tmp_path: Path
) -> None:
    client, transport, uuids = workspace
    client._page_size = 10  # 51 folders: six pages; 24 items below r0: three
    scope = ReadScope(integrations=False, schema=False, datasets=False, item_folders=(("r0", True),))
    live = await read_live(client, scope)
    assert len(live.folders) == 51
    assert transport.paths["/v2/public/storage/search/folders"] == 6
    assert transport.paths[f"/v2/public/storage/folders/{uuids['r0']}/items"] == 3
    assert transport.total() == 9


async def test_a_partly_needed_subtree_is_listed_folder_by_folder(
    workspace: tuple[EncordClient, Counting, dict[str, UUID]],
) -> None:
    client, transport, uuids = workspace
    # r1/c0 as a whole, and r1 itself without its subfolders
    scope = ReadScope(
        integrations=False, schema=False, datasets=False, item_folders=(("r1", False), ("r1/c0", True))
    )
    live = await read_live(client, scope)
    assert set(live.folder_items) == {"r1", "r1/c0", "r1/c0/g0", "r1/c0/g1", "r1/c0/g2"}
    assert transport.paths[f"/v2/public/storage/folders/{uuids['r1']}/items"] == 1
    assert transport.paths[f"/v2/public/storage/folders/{uuids['r1/c0']}/items"] == 1
    assert live.folder_items["r1"] == []
    assert all(len(live.folder_items[f"r1/c0/g{g}"]) == 2 for g in range(3))


async def test_leaves_named_without_their_parent_share_its_recursive_listing(
    workspace: tuple[EncordClient, Counting, dict[str, UUID]],
) -> None:
    client, transport, uuids = workspace
    # two datasets naming two of r1/c0's three leaves, one of them twice: one listing of r1/c0 serves both
    scope = ReadScope(
        integrations=False,
        schema=False,
        datasets=False,
        item_folders=(("r1/c0/g0", True), ("r1/c0/g1", False), ("r1/c0/g1", True)),
    )
    live = await read_live(client, scope)
    assert transport.paths[f"/v2/public/storage/folders/{uuids['r1/c0']}/items"] == 1
    assert transport.total() == 2  # the tree and that listing
    # g2's items arrived with the listing and were dropped: nobody needs them
    assert set(live.folder_items) == {"r1/c0/g0", "r1/c0/g1"}
    assert all(len(live.folder_items[f"r1/c0/g{g}"]) == 2 for g in range(2))


@pytest.mark.parametrize(("compress", "encoding"), [(True, "gzip"), (False, None)])
async def test_answers_are_compressed_over_a_network_and_not_in_process(
    tmp_path: Path, compress: bool, encoding: str | None
) -> None:
    """The emulator gzips an answer of 1 KB or more for a client that accepts it; the sandbox's in-process
    client asks for `identity`, and what it reads is the same."""
    state = tmp_path / "sandbox.db"
    key, public = sandbox_key(state)
    answers: list[str | None] = []

    class Recording(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=create_app(state, [public]))

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            answers.append(response.headers.get("content-encoding"))
            return response

    async with EncordClient(
        SANDBOX_DOMAIN, SshKeyAuth(private_key=key), transport=Recording(), compress=compress
    ) as client:
        for n in range(30):  # a folder listing well over 1 KB
            await client.create_folder(f"folder-{n:02d}", description="x" * 40)
        answers.clear()
        tree = [f.name async for page in client.iter_folder_tree() for f in page]
    assert tree == [f"folder-{n:02d}" for n in range(30)]
    assert answers == [encoding]
