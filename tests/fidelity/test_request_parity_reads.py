"""The plan's bulk reads send what the official SDK (encord==0.1.211) sends for the same listing: the
recursive folder search, the recursive item listing and the dataset read (see test_request_parity.py for
what "the same" means, and parity.py for the one written-down difference)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from encord.orm.storage import StorageItemType

from reconciler.encord.client import EncordClient
from reconciler.encord.client_items import ITEM_TYPES
from tests.fidelity.parity import Parity, World

pytestmark = pytest.mark.fidelity


def test_every_item_type_is_named_in_the_recursive_listing() -> None:
    assert sorted(ITEM_TYPES) == sorted(t.value for t in StorageItemType)


async def test_the_folder_tree_search_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    theirs = parity.sdk(lambda: list(sdk.find_storage_folders(page_size=1000)))

    async def tree() -> list[str]:
        return [str(f.uuid) async for page in ours.iter_folder_tree() for f in page]

    mine = await parity.ours(tree())
    parity.assert_same("iter_folder_tree", theirs, mine)


async def test_the_recursive_item_listing_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.shared)
    every_type = [StorageItemType(t) for t in ITEM_TYPES]
    theirs = parity.sdk(lambda: list(folder.find_items(item_types=every_type, page_size=1000)))

    async def refs() -> list[str]:
        return [i["uuid"] async for page in ours.iter_item_refs(world.shared, recursive=True) for i in page]

    mine = await parity.ours(refs())
    parity.assert_same("iter_item_refs", theirs, mine)
    found = await refs()
    assert set(found) >= {str(u) for u in world.items}  # the registered items lie below the shared folder


async def test_the_lean_listing_of_one_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    """A folder's own items without their metadata (what a folder delete counts): the SDK's `list_items`
    with `include_client_metadata=False`, exactly."""
    folder = sdk.get_storage_folder(world.items_folder)
    theirs = parity.sdk(lambda: list(folder.list_items(include_client_metadata=False, page_size=1000)))

    async def refs() -> list[str]:
        return [i["uuid"] async for page in ours.iter_item_refs(world.items_folder) for i in page]

    mine = await parity.ours(refs())
    parity.assert_same("iter_item_refs_of_one_folder", theirs, mine)
    assert set(await refs()) == {str(u) for u in world.items}


async def test_the_rule_listing_of_one_folder_with_metadata_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    """What membership rules read of a folder a `where` needs: the SDK's `list_items` with client metadata,
    exactly; title, type, URL and the metadata string come back in each checked item."""
    folder = sdk.get_storage_folder(world.items_folder)
    theirs = parity.sdk(lambda: list(folder.list_items(include_client_metadata=True, page_size=1000)))

    async def facts() -> list[Any]:
        return [f async for page in ours.iter_item_facts(world.items_folder, metadata=True) for f in page]

    mine = await parity.ours(facts())
    parity.assert_same("iter_item_facts_of_one_folder", theirs, mine)
    found = await facts()
    assert {f["uuid"] for f in found} == {str(u) for u in world.items}
    by_uuid = {str(i.uuid): i for i in folder.list_items(include_client_metadata=True, page_size=1000)}
    for fact in found:
        item = by_uuid[fact["uuid"]]
        assert (fact["name"], fact["itemType"], fact.get("url")) == (
            item.name,
            item.item_type.value,
            item.url,
        )
        assert json.loads(fact["clientMetadata"]) == item.client_metadata


async def test_the_recursive_rule_listing_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    """A rule over a subtree whose metadata a `where` needs: the SDK's `find_items` over every item type,
    with `includeClientMetadata=True` (the field its find_items leaves unset; see parity.py)."""
    folder = sdk.get_storage_folder(world.shared)
    every_type = [StorageItemType(t) for t in ITEM_TYPES]
    theirs = parity.sdk(lambda: list(folder.find_items(item_types=every_type, page_size=1000)))

    async def facts() -> list[str]:
        pages = ours.iter_item_facts(world.shared, recursive=True, metadata=True)
        return [f["uuid"] async for page in pages for f in page]

    mine = await parity.ours(facts())
    parity.assert_same("iter_item_facts", theirs, mine)
    assert set(await facts()) >= {str(u) for u in world.items}


async def test_the_lean_dataset_read_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    dataset = str(await ours.create_dataset(f"lean-{world.shared.hex[:8]}"))
    await ours.link_items(dataset, list(world.items))
    theirs = parity.sdk(lambda: sdk.get_dataset(dataset))
    mine = await parity.ours(ours.dataset_rows(dataset))
    parity.assert_same("get_dataset", theirs, mine)
    rows = await ours.dataset_rows(dataset)
    assert sorted(r.get("backing_item_uuid") or "" for r in rows.data_rows) == sorted(
        str(u) for u in world.items
    )


async def test_the_content_listing_of_a_managed_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    """A managed folder's items, read as checked dicts for the plan (`iter_content_items`): on the wire,
    the SDK's `list_items` with client metadata, exactly; and the items the SDK sees."""
    folder = sdk.get_storage_folder(world.items_folder)
    theirs = parity.sdk(lambda: list(folder.list_items(page_size=1000)))

    async def contents() -> list[str]:
        return [i["uuid"] async for page in ours.iter_content_items(world.items_folder) for i in page]

    mine = await parity.ours(contents())
    parity.assert_same("iter_content_items", theirs, mine)
    assert set(await contents()) == {str(u) for u in world.items}
