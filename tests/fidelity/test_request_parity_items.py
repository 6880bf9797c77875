"""Our client sends what the official SDK (encord==0.1.211) sends for child items, bulk item patches and item
deletion, as the emulator received it over HTTP (see test_request_parity.py for what "the same" means)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from encord.http.bundle import Bundle

from reconciler.encord.client import EncordClient
from tests.fidelity.parity import METADATA, RUN, Parity, World

pytestmark = pytest.mark.fidelity

GROUP = {
    "image_groups": [
        {
            "title": f"group {RUN}",
            **{f"objectUrl_{n}": f"s3://parity-bucket/{RUN}/g{n}.jpg" for n in range(3)},
        }
    ]
}


async def _registered(ours: EncordClient, world: World, name: str, spec: dict[str, Any]) -> tuple[UUID, ...]:
    """A new folder below the shared one with `spec` registered into it (outside every capture)."""
    folder = (await ours.create_folder(name, parent=world.shared)).uuid
    job = await ours.start_upload_job(folder, external_files=spec, integration_uuid=world.integration)
    assert (await ours.get_upload_job(folder, job, timeout_seconds=10)).status == "DONE"
    return (folder, *(i.uuid for i in await ours.list_items(folder)))


async def test_listing_child_items_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder, group = await _registered(ours, world, "group", GROUP)
    item = sdk.get_storage_item(group)
    theirs = parity.sdk(lambda: list(item.get_child_items()))

    async def children() -> list[str | None]:
        return [c.url async for page in ours.iter_child_items(folder, group) for c in page]

    mine = await parity.ours(children())
    parity.assert_same("iter_child_items", theirs, mine)
    assert [c.url for c in item.get_child_items()] == [f"s3://parity-bucket/{RUN}/g{n}.jpg" for n in range(3)]


async def test_patching_items_in_bulk_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    # Both clients set the same name and metadata on the same items.
    items = sdk.get_storage_items(list(world.items))

    def sdk_bulk_update() -> None:
        with Bundle() as bundle:
            for item in items:
                item.update(name="renamed é/%", client_metadata=METADATA, bundle=bundle)

    theirs = parity.sdk(sdk_bulk_update)
    patch = {"name": "renamed é/%", "clientMetadata": METADATA}
    mine = await parity.ours(ours.patch_items_bulk({u: patch for u in world.items}))
    parity.assert_same("patch_items_bulk", theirs, mine)
    after = sdk.get_storage_items(list(world.items))
    assert [(i.name, i.client_metadata) for i in after] == [("renamed é/%", METADATA)] * len(world.items)


@pytest.mark.parametrize("remove_unused_frames", [True, False])
async def test_deleting_items_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World, remove_unused_frames: bool
) -> None:
    # Each client deletes its own item of the same folder.
    images = {"images": [{"objectUrl": f"s3://parity-bucket/{RUN}/doomed {n}.jpg"} for n in range(2)]}
    folder, sdk_item, our_item = await _registered(ours, world, "doomed items", images)
    sdk_folder = sdk.get_storage_folder(folder)
    theirs = parity.sdk(
        lambda: sdk_folder.delete_storage_items([sdk_item], remove_unused_frames=remove_unused_frames)
    )
    mine = await parity.ours(ours.delete_items(folder, [our_item], remove_unused_frames=remove_unused_frames))
    parity.assert_same(
        "delete_items", theirs, mine, sdk_names={"item": sdk_item}, our_names={"item": our_item}
    )
    assert await ours.list_items(folder) == []
