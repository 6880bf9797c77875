"""The official SDK against the emulator: storage folders and items."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from encord import EncordUserClient
from encord.exceptions import AuthorisationError, InvalidArgumentsError
from encord.orm.storage import FoldersSortBy, StorageItemType
from encord.storage import StorageFolder

from tests.fidelity.conftest import EmulatorServer
from tests.fidelity.signing import create_integration

pytestmark = pytest.mark.fidelity


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def root_folder(encord_user_client: EncordUserClient) -> Iterator[StorageFolder]:
    folder = encord_user_client.create_storage_folder(
        unique("root"), "a root folder", client_metadata={"team": "cv"}
    )
    yield folder
    folder.delete()


def register(
    folder: StorageFolder, integration: str, spec: dict[str, Any], *, ignore_errors: bool = False
) -> Any:
    job = folder.add_private_data_to_folder_start(integration, spec, ignore_errors=ignore_errors)
    return folder.add_private_data_to_folder_get_result(job, timeout_seconds=30)


def test_create_root_and_nested_folders(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient, root_folder: StorageFolder
) -> None:
    assert root_folder.parent_uuid is None
    assert root_folder.client_metadata == {"team": "cv"}
    child = root_folder.create_subfolder("child", description="nested", client_metadata={"level": 2})
    grandchild = child.create_subfolder("grandchild")

    assert child.parent_uuid == root_folder.uuid
    fetched = encord_user_client.get_storage_folder(grandchild.uuid)
    assert fetched.parent_uuid == child.uuid
    assert [p.uuid for p in fetched._orm_folder.path_to_root] == [child.uuid, root_folder.uuid]
    stored = emulator_server.query(
        "SELECT parent, description, client_metadata FROM folders WHERE uuid = ?", str(child.uuid)
    )
    assert stored == [
        {"parent": str(root_folder.uuid), "description": "nested", "client_metadata": '{"level": 2}'}
    ]


def test_list_find_and_search_folders(
    encord_user_client: EncordUserClient, root_folder: StorageFolder
) -> None:
    tag = unique("needle")
    alpha = root_folder.create_subfolder(f"alpha {tag}")
    beta = root_folder.create_subfolder("beta")
    deep = beta.create_subfolder(f"deep {tag}")

    assert [f.name for f in root_folder.list_subfolders()] == ["alpha " + tag, "beta"]
    assert [f.name for f in root_folder.list_subfolders(order=FoldersSortBy.NAME, desc=True)] == [
        "beta",
        "alpha " + tag,
    ]
    assert {f.uuid for f in root_folder.find_subfolders(search=tag)} == {alpha.uuid, deep.uuid}
    assert {f.uuid for f in encord_user_client.find_storage_folders(search=tag)} == {alpha.uuid, deep.uuid}
    assert root_folder.uuid in {
        f.uuid for f in encord_user_client.list_storage_folders(search=root_folder.name)
    }
    assert beta.uuid not in {f.uuid for f in encord_user_client.list_storage_folders()}


def test_listing_pages_through_more_than_one_page(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient, root_folder: StorageFolder
) -> None:
    for n in range(250):
        root_folder.create_subfolder(f"f{n:03d}")
    names = [f.name for f in root_folder.list_subfolders(page_size=100)]
    assert names == [f"f{n:03d}" for n in range(250)]
    pages = [
        entry
        for entry in emulator_server.read_log()
        if entry["path"] == f"/v2/public/storage/folders/{root_folder.uuid}/folders"
        and "pageSize=100" in entry["query"]
    ]
    assert len(pages) == 3
    assert "pageToken=" not in pages[0]["query"] and "pageToken=" in pages[2]["query"]


def test_folder_update_move_and_delete(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient, root_folder: StorageFolder
) -> None:
    folder = root_folder.create_subfolder("before", client_metadata={"old": True, "keep": 1})
    folder.update(name="after", description="new description", client_metadata={"keep": 2})
    refreshed = encord_user_client.get_storage_folder(folder.uuid)
    assert (refreshed.name, refreshed.description) == ("after", "new description")
    assert refreshed.client_metadata == {"keep": 2}  # PATCH replaces the document, no merge

    other = root_folder.create_subfolder("other")
    folder.move_to_folder(other)
    assert encord_user_client.get_storage_folder(folder.uuid).parent_uuid == other.uuid
    folder.move_to_folder(None)
    assert encord_user_client.get_storage_folder(folder.uuid).parent_uuid is None
    moves = [e for e in emulator_server.read_log() if e["path"] == "/v2/public/storage/folders/move"]
    assert moves[-1]["body"] == {"folderUuids": [str(folder.uuid)]}  # to root: newParentUuid omitted

    with pytest.raises(InvalidArgumentsError):
        other.move_to_folder(other)
    folder.create_subfolder("inside")
    folder.delete()
    with pytest.raises(AuthorisationError):
        encord_user_client.get_storage_folder(folder.uuid)
    assert emulator_server.query("SELECT * FROM folders WHERE parent = ?", str(folder.uuid)) == []


def test_items_list_filter_and_update_client_metadata(
    emulator_server: EmulatorServer, encord_user_client: EncordUserClient, root_folder: StorageFolder
) -> None:
    with emulator_server.http() as http:
        integration = create_integration(http, emulator_server.private_key, unique("gcp"), "gcp")
    spec = {
        "images": [
            {"objectUrl": "gs://bucket/cats/a.jpg", "title": "cat a", "clientMetadata": {"n": 1}},
            {"objectUrl": "gs://bucket/cats/b.png"},
        ],
        "videos": [
            {
                "objectUrl": "https://storage.googleapis.com/bucket/clips/v.mp4",
                "videoMetadata": {
                    "fps": 25.0,
                    "duration": 2.0,
                    "width": 640,
                    "height": 480,
                    "fileSize": 1000,
                    "mimeType": "video/mp4",
                },
            }
        ],
    }
    assert register(root_folder, integration, spec).status.value == "DONE"

    items = {i.name: i for i in root_folder.list_items()}
    assert set(items) == {"cat a", "/cats/b.png", "/bucket/clips/v.mp4"}
    video = items["/bucket/clips/v.mp4"]
    assert (video.item_type, video.fps, video.width, video.mime_type) == (
        StorageItemType.VIDEO,
        25.0,
        640,
        "video/mp4",
    )
    assert items["cat a"].client_metadata == {"n": 1}
    assert [
        i.name for i in root_folder.list_items(item_types=[StorageItemType.IMAGE], order=FoldersSortBy.NAME)
    ] == [
        "/cats/b.png",
        "cat a",
    ]
    assert [i.name for i in root_folder.list_items(search="CAT A")] == ["cat a"]
    assert list(root_folder.list_items(is_in_dataset=True)) == []

    item = items["cat a"]
    item.update(client_metadata={"n": 2, "tag": "x"})
    assert encord_user_client.get_storage_item(item.uuid).client_metadata == {"n": 2, "tag": "x"}
    stored = emulator_server.query("SELECT client_metadata FROM items WHERE uuid = ?", str(item.uuid))
    assert json.loads(stored[0]["client_metadata"]) == {"n": 2, "tag": "x"}

    signed_item = encord_user_client.get_storage_item(item.uuid, sign_url=True)
    assert signed_item._orm_item.signed_url is not None
    bulk = encord_user_client.get_storage_items([video.uuid, item.uuid])
    assert [i.uuid for i in bulk] == [video.uuid, item.uuid]


def test_unknown_folder_and_item_raise_authorisation_error(encord_user_client: EncordUserClient) -> None:
    with pytest.raises(AuthorisationError):
        encord_user_client.get_storage_folder(uuid.uuid4())
    with pytest.raises(AuthorisationError):
        encord_user_client.get_storage_item(uuid.uuid4())
