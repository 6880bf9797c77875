"""The official SDK against the emulator: the recursive listings (`find_subfolders`, `find_items`,
`find_storage_folders`, `find_storage_items`), several pages each, as the SDK iterates them."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from encord import EncordUserClient
from encord.orm.dataset import LongPollingStatus
from encord.orm.storage import FoldersSortBy, StorageItemType
from encord.storage import StorageFolder, StorageItem

from tests.fidelity.conftest import EmulatorServer
from tests.fidelity.signing import create_integration

pytestmark = pytest.mark.fidelity


@dataclass
class Tree:
    tag: str
    root: StorageFolder
    folders: dict[str, StorageFolder]  # path below the root ("a", "a/b", "c") -> folder
    items: dict[str, tuple[str, str]]  # item name -> (item UUID, folder UUID)


def _register(folder: StorageFolder, integration: str, names: list[str]) -> None:
    spec = {"images": [{"objectUrl": f"gs://recursive/{uuid.uuid4().hex}.jpg", "title": n} for n in names]}
    job = folder.add_private_data_to_folder_start(integration, spec)
    assert (
        folder.add_private_data_to_folder_get_result(job, timeout_seconds=30).status == LongPollingStatus.DONE
    )


@pytest.fixture(scope="module")
def tree(emulator_server: EmulatorServer, encord_user_client: EncordUserClient) -> Iterator[Tree]:
    """root/{a/{b}, c} with images in every folder; every name carries a tag unique to this run, mixed case."""
    tag = f"Rec{uuid.uuid4().hex[:8]}"
    with emulator_server.http() as http:
        integration = create_integration(http, emulator_server.private_key, f"rec-{tag}", "gcp")
    root = encord_user_client.create_storage_folder(f"root {tag}")
    a = root.create_subfolder(f"a {tag}")
    folders = {"a": a, "a/b": a.create_subfolder(f"B {tag}"), "c": root.create_subfolder(f"c {tag}")}
    counts = {"": 5, "a": 4, "a/b": 3, "c": 2}
    for path, count in counts.items():
        folder = folders[path] if path else root
        _register(
            folder,
            integration,
            [f"{path or 'root'} {tag} {'Img' if n % 2 else 'img'} {n}" for n in range(count)],
        )
    items = {
        i.name: (str(i.uuid), str(i.parent_folder_uuid))
        for f in [root, *folders.values()]
        for i in f.list_items()
    }
    yield Tree(tag, root, folders, items)
    root.delete()


def _key(name: str) -> tuple[str, str]:
    return name.casefold(), name


def test_find_subfolders_pages_through_the_whole_subtree(tree: Tree) -> None:
    found = list(tree.root.find_subfolders(page_size=1))
    assert [f.name for f in found] == sorted((f.name for f in tree.folders.values()), key=_key)
    assert {f.uuid: f.parent_uuid for f in found} == {
        tree.folders["a"].uuid: tree.root.uuid,
        tree.folders["a/b"].uuid: tree.folders["a"].uuid,
        tree.folders["c"].uuid: tree.root.uuid,
    }
    deep = next(f for f in found if f.uuid == tree.folders["a/b"].uuid)
    assert [p.uuid for p in deep._orm_folder.path_to_root] == [tree.folders["a"].uuid, tree.root.uuid]
    descending = [f.name for f in tree.root.find_subfolders(order=FoldersSortBy.NAME, desc=True, page_size=2)]
    assert descending == [f.name for f in found][::-1]
    assert [f.name for f in tree.folders["a"].find_subfolders(page_size=1)] == [f"B {tree.tag}"]
    assert [f.name for f in tree.root.find_subfolders(search=f"b {tree.tag}".upper())] == [f"B {tree.tag}"]


def test_find_storage_folders_searches_from_the_root(
    encord_user_client: EncordUserClient, tree: Tree
) -> None:
    found = list(encord_user_client.find_storage_folders(search=tree.tag.lower(), page_size=1))
    expected = [tree.root, *tree.folders.values()]
    assert [f.name for f in found] == sorted((f.name for f in expected), key=_key)
    by_created = list(
        encord_user_client.find_storage_folders(search=tree.tag, order=FoldersSortBy.CREATED_AT, page_size=3)
    )
    assert [f.uuid for f in by_created] == [f.uuid for f in expected]  # created in this order


def _refs(items: list[StorageItem]) -> list[tuple[str, str, str]]:
    return [(i.name, str(i.uuid), str(i.parent_folder_uuid)) for i in items]


def test_find_items_with_every_type_and_no_search_lists_the_whole_subtree(
    emulator_server: EmulatorServer, tree: Tree
) -> None:
    every_type = list(StorageItemType)
    found = list(tree.root.find_items(item_types=every_type, page_size=3))
    expected = [(name, *tree.items[name]) for name in sorted(tree.items, key=_key)]
    assert len(expected) == 14
    assert _refs(found) == expected  # each with its own folder as `parent`, in name order, over 5 pages
    requests = [
        e
        for e in emulator_server.read_log()
        if e["path"] == f"/v2/public/storage/folders/{tree.root.uuid}/items"
    ]
    last = requests[-1]["query"]
    assert "isRecursive=True" in last and "search=" not in last and "pageToken=" in last
    assert last.count("itemTypes=") == len(every_type)

    below_a = list(tree.folders["a"].find_items(item_types=[StorageItemType.IMAGE], page_size=2))
    assert {i.name for i in below_a} == {n for n in tree.items if n.startswith(("a ", "a/b "))}
    assert list(tree.root.find_items(item_types=[StorageItemType.VIDEO], page_size=2)) == []
    searched = list(tree.root.find_items(search=f"{tree.tag} IMG", desc=True, page_size=2))  # any case
    assert [i.name for i in searched] == [n for n, *_ in expected][::-1]


def test_find_storage_items_searches_every_folder(encord_user_client: EncordUserClient, tree: Tree) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # find_storage_items is deprecated in the SDK
        found = list(encord_user_client.find_storage_items(search=tree.tag, page_size=4))
        newest_first = list(
            encord_user_client.find_storage_items(
                search=tree.tag, order=FoldersSortBy.CREATED_AT, desc=True, page_size=5
            )
        )
        images = list(
            encord_user_client.find_storage_items(
                search=f"b {tree.tag} img", item_types=[StorageItemType.IMAGE], page_size=1
            )
        )
    assert _refs(found) == [(name, *tree.items[name]) for name in sorted(tree.items, key=_key)]
    assert len(newest_first) == 14 and newest_first[-1].name == f"root {tree.tag} img 0"
    assert sorted(i.name for i in images) == sorted(n for n in tree.items if n.startswith("a/b "))
