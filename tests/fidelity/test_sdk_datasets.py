"""The official SDK against the emulator: datasets (v2 create/list, v1 get/list rows/link/delete)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from encord import EncordUserClient
from encord.exceptions import InvalidArgumentsError, ResourceNotFoundError
from encord.orm.dataset import DataLinkDuplicatesBehavior, DatasetAccessSettings, StorageLocation
from encord.storage import StorageFolder, StorageItem

from tests.fidelity.conftest import EmulatorServer
from tests.fidelity.signing import create_integration

pytestmark = pytest.mark.fidelity


@pytest.fixture
def items(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient
) -> Iterator[list[StorageItem]]:
    with emulator_server.http() as http:
        integration = create_integration(
            http, emulator_server.private_key, f"ds-{uuid.uuid4().hex[:8]}", "aws"
        )
    folder: StorageFolder = encord_user_client.create_storage_folder(f"ds-items-{uuid.uuid4().hex[:8]}")
    spec = {
        "images": [{"objectUrl": "s3://bucket/a.jpg", "title": "a", "clientMetadata": {"k": "v"}}],
        "videos": [{"objectUrl": "s3://bucket/b.mp4", "title": "b"}],
    }
    job = folder.add_private_data_to_folder_start(integration, spec)
    folder.add_private_data_to_folder_get_result(job)
    yield sorted(folder.list_items(), key=lambda i: i.name)


def test_create_dataset_and_list_it(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient
) -> None:
    title = f"dataset-{uuid.uuid4().hex[:8]}"
    created = encord_user_client.create_dataset(
        title, StorageLocation.AWS, "about", create_backing_folder=False
    )
    assert created["backing_folder_uuid"] is None

    listed = encord_user_client.get_datasets(title_eq=title)
    assert [d["dataset"].dataset_hash for d in listed] == [created["dataset_hash"]]
    assert listed[0]["dataset"].description == "about"
    assert encord_user_client.get_datasets(title_like=f"%{title[-8:]}%")[0]["dataset"].title == title
    assert encord_user_client.get_datasets(title_eq="no such dataset") == []
    stored = emulator_server.query(
        "SELECT title, description FROM datasets WHERE uuid = ?", created["dataset_hash"]
    )
    assert stored == [{"title": title, "description": "about"}]


def test_mirror_dataset_gets_a_synced_backing_folder(encord_user_client: EncordUserClient) -> None:
    created = encord_user_client.create_dataset(f"mirror-{uuid.uuid4().hex[:8]}", StorageLocation.GCP)
    folder = encord_user_client.get_storage_folder(created["backing_folder_uuid"])
    assert str(folder._orm_folder.synced_dataset_hash) == created["dataset_hash"]


def test_link_items_then_get_dataset_and_list_data_rows(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient, items: list[StorageItem]
) -> None:
    created = encord_user_client.create_dataset(
        f"linked-{uuid.uuid4().hex[:8]}", StorageLocation.AWS, create_backing_folder=False
    )
    dataset = encord_user_client.get_dataset(created["dataset_hash"])
    assert dataset.data_rows == []

    rows = dataset.link_items([i.uuid for i in items])
    assert [(r.title, r.backing_item_uuid) for r in rows] == [(i.name, i.uuid) for i in items]
    assert dataset.link_items([items[0].uuid]) == []  # SKIP is the default
    with pytest.raises(InvalidArgumentsError):
        dataset.link_items([items[0].uuid], duplicates_behavior=DataLinkDuplicatesBehavior.FAIL)

    fetched = encord_user_client.get_dataset(
        created["dataset_hash"], dataset_access_settings=DatasetAccessSettings(fetch_client_metadata=True)
    )
    assert fetched.storage_location == StorageLocation.AWS
    assert {r.title: r.client_metadata for r in fetched.data_rows} == {"a": {"k": "v"}, "b": {}}
    assert [r.title for r in fetched.list_data_rows(title_eq="b")] == ["b"]
    assert [r.file_link for r in fetched.list_data_rows()] == ["s3://bucket/a.jpg", "s3://bucket/b.mp4"]
    assert items[0].uuid in {
        i.uuid
        for i in encord_user_client.get_storage_folder(items[0].parent_folder_uuid).list_items(
            is_in_dataset=True
        )
    }

    row_b = next(r for r in fetched.data_rows if r.title == "b")
    row_b.client_metadata = {"reviewed": True}
    with pytest.warns(DeprecationWarning, match="save is deprecated"):  # the SDK steers users to items
        row_b.save()
    assert encord_user_client.get_storage_item(row_b.backing_item_uuid).client_metadata == {"reviewed": True}

    fetched.delete_data([rows[0].uid])
    assert [r.title for r in encord_user_client.get_dataset(created["dataset_hash"]).data_rows] == ["b"]
    assert (
        len(emulator_server.query("SELECT * FROM data_rows WHERE dataset = ?", created["dataset_hash"])) == 1
    )


def test_linked_items_cannot_be_deleted(
    encord_user_client: EncordUserClient, items: list[StorageItem]
) -> None:
    created = encord_user_client.create_dataset(
        f"guard-{uuid.uuid4().hex[:8]}", StorageLocation.AWS, create_backing_folder=False
    )
    encord_user_client.get_dataset(created["dataset_hash"]).link_items([items[1].uuid])
    with pytest.raises(InvalidArgumentsError, match="used in datasets"):
        items[1].delete()
    items[0].delete()


def test_unknown_dataset_raises_resource_not_found(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient
) -> None:
    with pytest.raises(ResourceNotFoundError, match="not found"):
        encord_user_client.get_dataset(str(uuid.uuid4()))
    last = emulator_server.read_log()[-1]
    assert last["path"] == "/public" and last["status"] == 200


def test_an_items_summary_names_the_datasets_that_use_it(
    encord_user_client: EncordUserClient, items: list[StorageItem]
) -> None:
    assert items[0].get_summary().used_in_datasets == 0
    created = encord_user_client.create_dataset(
        f"summary-{uuid.uuid4().hex[:8]}", StorageLocation.AWS, create_backing_folder=False
    )
    rows = encord_user_client.get_dataset(created["dataset_hash"]).link_items([items[0].uuid])
    summary = items[0].get_summary()
    assert (summary.used_in_datasets, summary.frame_in_groups, summary.accessible_group_items) == (1, 0, [])
    (dataset,) = summary.accessible_datasets
    assert (dataset.dataset_hash, dataset.title) == (created["dataset_hash"], created["title"])
    assert [str(h) for h in dataset.data_hashes] == [rows[0].uid]


def test_folder_groups_are_listed_empty_and_group_items_are_not_supported(
    encord_user_client: EncordUserClient, items: list[StorageItem]
) -> None:
    folder = encord_user_client.get_storage_folder(items[0].parent_folder_uuid)
    assert list(folder.list_groups()) == []
    with pytest.raises(InvalidArgumentsError, match="not supported by the emulator"):
        folder.create_data_group([items[0].uuid, items[1].uuid])
