"""The official SDK against the emulator: child items of groups, bulk item updates, deleting items."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from encord import EncordUserClient
from encord.exceptions import AuthorisationError, InvalidArgumentsError
from encord.http.bundle import Bundle
from encord.orm.dataset import LongPollingStatus
from encord.orm.storage import StorageItemType
from encord.storage import StorageFolder, StorageItem

from tests.fidelity.conftest import EmulatorServer
from tests.fidelity.signing import create_integration

pytestmark = pytest.mark.fidelity

SPEC = {
    "images": [{"objectUrl": f"gs://bucket/items/{n}.jpg", "title": f"img {n}"} for n in range(3)],
    "image_groups": [
        {"title": "group", "objectUrl_1": "gs://bucket/g/b.jpg", "objectUrl_0": "gs://bucket/g/a.jpg"},
        {"title": "sequence", "createVideo": True, "objectUrl_0": "gs://bucket/s/0.png"},
    ],
    "dicom_series": [{"title": "series", "objectUrl_0": "gs://bucket/d/1", "objectUrl_1": "gs://bucket/d/2"}],
}


@pytest.fixture(scope="module")
def integration(emulator_server: EmulatorServer) -> str:
    with emulator_server.http() as http:
        return create_integration(http, emulator_server.private_key, f"items-{uuid.uuid4().hex[:8]}", "gcp")


@pytest.fixture
def folder(encord_user_client: EncordUserClient, integration: str) -> Iterator[StorageFolder]:
    folder = encord_user_client.create_storage_folder(f"items-{uuid.uuid4().hex[:8]}")
    job = folder.add_private_data_to_folder_start(integration, SPEC)
    assert (
        folder.add_private_data_to_folder_get_result(job, timeout_seconds=30).status == LongPollingStatus.DONE
    )
    yield folder
    folder.delete()


def _items(folder: StorageFolder) -> dict[str, StorageItem]:
    return {i.name: i for i in folder.list_items()}


def test_get_child_items_lists_the_frames_of_groups_in_order(folder: StorageFolder) -> None:
    items = _items(folder)
    group = list(items["group"].get_child_items())
    assert [(c.url, c.item_type, c.parent_folder_uuid) for c in group] == [
        ("gs://bucket/g/a.jpg", StorageItemType.IMAGE, folder.uuid),
        ("gs://bucket/g/b.jpg", StorageItemType.IMAGE, folder.uuid),
    ]
    assert [c.uuid for c in items["group"].get_child_items()] == [c.uuid for c in group]
    signed = list(items["group"].get_child_items(get_signed_urls=True))
    assert all(c._orm_item.signed_url for c in signed)

    assert [c.url for c in items["sequence"].get_child_items()] == ["gs://bucket/s/0.png"]
    series = list(items["series"].get_child_items())
    assert [(c.url, c.item_type) for c in series] == [
        ("gs://bucket/d/1", StorageItemType.DICOM_FILE),
        ("gs://bucket/d/2", StorageItemType.DICOM_FILE),
    ]
    assert list(items["img 0"].get_child_items()) == []  # the SDK does not ask for non-groups


def test_bundled_item_updates_go_through_patch_bulk(
    emulator_server: EmulatorServer, folder: StorageFolder
) -> None:
    items = _items(folder)
    with Bundle() as bundle:
        items["img 0"].update(name="renamed", bundle=bundle)
        items["img 1"].update(client_metadata={"split": "val", "ü": [1, None]}, bundle=bundle)
    after = _items(folder)
    assert after["renamed"].uuid == items["img 0"].uuid
    assert after["img 1"].client_metadata == {"split": "val", "ü": [1, None]}
    assert items["img 0"].name == "renamed"  # the SDK refreshed its object from the bulk answer
    patches = [e for e in emulator_server.read_log() if e["path"] == "/v2/public/storage/items/patch-bulk"]
    assert patches[-1]["body"]["itemPatches"] == {
        str(items["img 0"].uuid): {"name": "renamed"},
        str(items["img 1"].uuid): {"clientMetadata": {"split": "val", "ü": [1, None]}},
    }
    stored = emulator_server.query(
        "SELECT client_metadata FROM items WHERE uuid = ?", str(items["img 1"].uuid)
    )
    assert json.loads(stored[0]["client_metadata"]) == {"split": "val", "ü": [1, None]}


def test_delete_storage_items_and_item_delete(
    encord_user_client: EncordUserClient, folder: StorageFolder
) -> None:
    items = _items(folder)
    folder.delete_storage_items([items["group"].uuid, items["img 0"].uuid])
    items["series"].delete(remove_unused_frames=False)
    assert set(_items(folder)) == {"img 1", "img 2", "sequence"}
    with pytest.raises(AuthorisationError):
        encord_user_client.get_storage_item(items["group"].uuid)
    with pytest.raises(AuthorisationError):  # no longer in the folder
        folder.delete_storage_items([items["img 0"].uuid])

    dataset = encord_user_client.create_dataset(f"uses-{uuid.uuid4().hex[:8]}", "GCP")
    linked = encord_user_client.get_dataset(dataset.dataset_hash)
    linked.link_items([items["img 1"].uuid])
    with pytest.raises(InvalidArgumentsError):  # used in a dataset: refused, nothing removed
        folder.delete_storage_items([items["img 1"].uuid, items["img 2"].uuid])
    assert set(_items(folder)) == {"img 1", "img 2", "sequence"}
    rows = encord_user_client.get_dataset(dataset.dataset_hash).data_rows
    linked.delete_data([row.uid for row in rows])  # so that the folder can go
