"""Our client sends what the official SDK (encord==0.1.211) sends, as the emulator received it over HTTP.

For every operation reconciler uses, the SDK and `EncordClient` each do the same thing against ONE emulator
(started for this module). The emulator's request log gives, per request: method, raw path, raw query,
parsed JSON body, headers (signatures redacted) and whether it verified the signature. We slice the log to
the requests each client produced and compare them request by request.

What "the same" means here:

* method, path, query (raw, so parameter order and percent-encoding count) and body (parsed JSON) must be
  equal after normalisation (see `Normaliser`): values that are *necessarily* different between the two runs
  (the UUID of the folder each client deleted, of the upload job each client started...) are replaced by
  named placeholders. Wherever we can, both clients act on the *same* objects, so nothing needs replacing.
* body bytes: the log keeps the body parsed (and key-sorted), so byte-level equality (key order, separators,
  escaping) is checked through `Content-Digest` (v2) and `Content-Length` (v1 and v2): when both bodies are
  the same JSON value, these headers must be equal too. When the bodies differ only by a placeholder (move,
  remove data rows), the two headers are only required to be present on both; the byte-level form of those
  bodies is pinned with fixed UUIDs in tests/client/test_sdk_parity.py.
* every other header must be equal, except the transport-level ones listed in `HEADERS_NOT_COMPARED`.
  v1 requests therefore carry equal `ResourceType`/`ResourceID`.
* every request of both clients has a signature the emulator verified, with the same key, and got the
  expected status.

Differences are allowed only where written down (in parity.py, with the machinery), with the reason:
`ALLOWED_DIFFERENCES` for fields of paired requests, `UNPAIRED_REQUESTS` for extra requests one client
makes. Both tables are exact: an entry that no longer happens fails the test too, so the table cannot go
stale. Items, child items and bulk item operations are in test_request_parity_items.py.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest
from encord.orm.dataset import StorageLocation

from reconciler.encord.client import EncordClient
from reconciler.encord.provider import EncordProvider
from reconciler.plan.model import Action, Change, Kind
from tests.fidelity.parity import METADATA, REGISTRATION, RUN, Parity, World

pytestmark = pytest.mark.fidelity


# -- cloud integrations, metadata schema ----------------------------------------------------------------


async def test_listing_cloud_integrations_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    theirs = parity.sdk(lambda: sdk.get_cloud_integrations())
    mine = await parity.ours(ours.list_cloud_integrations())
    parity.assert_same("list_cloud_integrations", theirs, mine)


async def test_reading_the_metadata_schema_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    theirs = parity.sdk(lambda: sdk.metadata_schema())
    mine = await parity.ours(ours.get_metadata_schema())
    parity.assert_same("get_metadata_schema", theirs, mine)


SCHEMA_BEFORE = {
    "a": {"ty": "variant", "hint": "text"},
    "kept": {"ty": "enum", "values": ["x", "y"]},
}


def _schema_change(key: str, action: Action, shape: dict[str, Any] | None = None) -> Change:
    payload: dict[str, Any] = {"key": key} if shape is None else {"key": key, "shape": shape}
    return Change(address=f"schema.{key}", kind=Kind.SCHEMA_KEY, action=action, payload=payload)


async def test_writing_the_metadata_schema_sends_the_document_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    """SDK: read, add/delete keys, save. Ours: the provider's read-modify-write of the same changes."""

    def sdk_edit() -> None:
        schema = sdk.metadata_schema()
        schema.add_scalar("b", data_type="number")
        schema.add_enum("e", values=["z", "a"])
        schema.add_embedding("emb", size=4)
        schema.delete_key("a")
        schema.save()

    changes = [
        _schema_change("b", Action.CREATE, {"type": "number"}),
        _schema_change("e", Action.CREATE, {"type": "enum", "values": ["z", "a"]}),
        _schema_change("emb", Action.CREATE, {"type": "embedding", "size": 4}),
        _schema_change("a", Action.DELETE),
    ]
    await ours.set_metadata_schema(SCHEMA_BEFORE)  # both start from the same document
    theirs = parity.sdk(sdk_edit)
    await ours.set_metadata_schema(SCHEMA_BEFORE)
    mine = await parity.ours(EncordProvider(ours).apply_schema(changes))

    assert [e["method"] for e in theirs] == ["GET", "POST"]
    # Ours reads the document back after writing it, to see another writer's replacement (the SDK does
    # not): the same read as the first, compared apart.
    assert [e["method"] for e in mine] == ["GET", "POST", "GET"]
    assert mine[2]["path"] == mine[0]["path"]
    parity.assert_same("set_metadata_schema", theirs, mine[:2])


# -- folders --------------------------------------------------------------------------------------------

FOLDER_NAME = "new é/% folder"


async def test_creating_a_root_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    name = f"{FOLDER_NAME} {RUN}"
    theirs = parity.sdk(lambda: sdk.create_storage_folder(name, description="d ü", client_metadata=METADATA))
    mine = await parity.ours(ours.create_folder(name, description="d ü", client_metadata=METADATA))
    parity.assert_same("create_root_folder", theirs, mine)


async def test_creating_a_nested_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    theirs = parity.sdk(lambda: sdk.create_storage_folder(FOLDER_NAME, parent_folder=world.shared))
    mine = await parity.ours(ours.create_folder(FOLDER_NAME, parent=world.shared))
    names: dict[str, str | UUID] = {"parent": world.shared}
    parity.assert_same("create_nested_folder", theirs, mine, sdk_names=names, our_names=names)


async def test_listing_root_folders_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    # page_size=1000: reconciler always asks for the largest page (the SDK's default is 100).
    theirs = parity.sdk(lambda: list(sdk.list_storage_folders(page_size=1000)))
    mine = await parity.ours(ours.list_folders())
    parity.assert_same("list_root_folders", theirs, mine)


async def test_listing_subfolders_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.shared)
    theirs = parity.sdk(lambda: list(folder.list_subfolders(page_size=1000)))
    mine = await parity.ours(ours.list_folders(world.shared))
    parity.assert_same("list_subfolders", theirs, mine)


async def test_getting_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    theirs = parity.sdk(lambda: sdk.get_storage_folder(world.shared))
    mine = await parity.ours(ours.get_folder(world.shared))
    parity.assert_same("get_folder", theirs, mine)


async def test_updating_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.shared)
    theirs = parity.sdk(lambda: folder.update(description="d ü/%", client_metadata=METADATA))
    mine = await parity.ours(ours.update_folder(world.shared, description="d ü/%", client_metadata=METADATA))
    parity.assert_same("update_folder", theirs, mine)


async def test_updating_a_folder_with_nothing_to_change_reads_it_where_the_sdk_sends_nothing(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.shared)
    theirs = parity.sdk(folder.update)
    mine = await parity.ours(ours.update_folder(world.shared))
    assert theirs == []
    names: dict[str, str | UUID] = {"shared": world.shared}
    parity.assert_same("update_folder_without_changes", theirs, mine, sdk_names=names, our_names=names)


@pytest.mark.parametrize(("operation", "to_root"), [("move_folder", False), ("move_folder_to_root", True)])
async def test_moving_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World, operation: str, to_root: bool
) -> None:
    # Each client moves a folder of its own (from the shared folder into a target, or to the root).
    target = await ours.create_folder(f"target-{operation}", parent=world.shared)
    sdk_moved = await ours.create_folder(f"moved-{operation}", parent=world.shared)
    our_moved = await ours.create_folder(f"moved-{operation}", parent=world.shared)
    new_parent = None if to_root else target.uuid

    folder = sdk.get_storage_folder(sdk_moved.uuid)
    theirs = parity.sdk(lambda: folder.move_to_folder(new_parent))
    mine = await parity.ours(ours.move_folder(our_moved.uuid, new_parent))
    parity.assert_same(
        operation,
        theirs,
        mine,
        sdk_names={"moved": sdk_moved.uuid, "target": target.uuid},
        our_names={"moved": our_moved.uuid, "target": target.uuid},
    )
    assert (await ours.get_folder(our_moved.uuid)).parent == new_parent


async def test_deleting_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    sdk_doomed = await ours.create_folder("doomed", parent=world.shared)
    our_doomed = await ours.create_folder("doomed", parent=world.shared)

    folder = sdk.get_storage_folder(sdk_doomed.uuid)
    theirs = parity.sdk(folder.delete)
    mine = await parity.ours(ours.delete_folder(our_doomed.uuid))
    parity.assert_same(
        "delete_folder",
        theirs,
        mine,
        sdk_names={"doomed": sdk_doomed.uuid},
        our_names={"doomed": our_doomed.uuid},
    )


# -- items and upload jobs ------------------------------------------------------------------------------


async def test_listing_items_of_a_folder_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    folder = sdk.get_storage_folder(world.items_folder)
    theirs = parity.sdk(lambda: list(folder.list_items(page_size=1000)))
    mine = await parity.ours(ours.list_items(world.items_folder))
    parity.assert_same("list_items", theirs, mine)


async def test_updating_item_client_metadata_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    item = sdk.get_storage_item(world.items[0])
    theirs = parity.sdk(lambda: item.update(client_metadata=METADATA))
    mine = await parity.ours(ours.update_item(world.items_folder, world.items[0], client_metadata=METADATA))
    parity.assert_same("update_item", theirs, mine)


async def test_starting_an_upload_job_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    # Same folder, same spec: the second job skips the duplicates the first one registered.
    target = await ours.create_folder("uploads", parent=world.shared)
    folder = sdk.get_storage_folder(target.uuid)
    theirs = parity.sdk(lambda: folder.add_private_data_to_folder_start(str(world.integration), REGISTRATION))
    mine = await parity.ours(
        ours.start_upload_job(target.uuid, external_files=REGISTRATION, integration_uuid=world.integration)
    )
    parity.assert_same("start_upload_job", theirs, mine)


async def test_polling_an_upload_job_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    target = await ours.create_folder("polled", parent=world.shared)
    sdk_job = await ours.start_upload_job(
        target.uuid, external_files=REGISTRATION, integration_uuid=world.integration
    )
    our_job = await ours.start_upload_job(
        target.uuid, external_files=REGISTRATION, integration_uuid=world.integration
    )
    folder = sdk.get_storage_folder(target.uuid)
    # Each client with its default timeout: see ALLOWED_DIFFERENCES["get_upload_job"].
    theirs = parity.sdk(lambda: folder.add_private_data_to_folder_get_result(sdk_job))
    mine = await parity.ours(ours.get_upload_job(target.uuid, our_job))
    parity.assert_same("get_upload_job", theirs, mine, sdk_names={"job": sdk_job}, our_names={"job": our_job})
    assert len(theirs) == 1  # the job was DONE at the first poll: no timing-dependent re-polls


# -- datasets -------------------------------------------------------------------------------------------


async def test_creating_a_dataset_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient
) -> None:
    title = f"dataset é/% {RUN}"
    theirs = parity.sdk(
        lambda: sdk.create_dataset(
            title, StorageLocation.AWS, dataset_description="d ü", create_backing_folder=False
        )
    )
    mine = await parity.ours(ours.create_dataset(title, "d ü"))
    parity.assert_same("create_dataset", theirs, mine)


@pytest.mark.parametrize("title", [None, "t x/ü&="])
async def test_listing_datasets_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, title: str | None
) -> None:
    theirs = parity.sdk(lambda: sdk.get_datasets(title_eq=title))
    mine = await parity.ours(ours.list_datasets(title_eq=title))
    parity.assert_same("list_datasets", theirs, mine)


@pytest.fixture
async def dataset(ours: EncordClient) -> str:
    return str(await ours.create_dataset(f"linked-{uuid.uuid4().hex[:8]}"))


async def test_getting_a_dataset_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, dataset: str
) -> None:
    theirs = parity.sdk(lambda: sdk.get_dataset(dataset))
    mine = await parity.ours(ours.get_dataset(dataset))
    parity.assert_same("get_dataset", theirs, mine)
    assert theirs[0]["headers"]["resourceid"] == dataset


async def test_linking_items_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World, dataset: str
) -> None:
    # The same items into the same dataset: our call, second, links nothing new (SKIP duplicates).
    sdk_dataset = sdk.get_dataset(dataset)
    theirs = parity.sdk(lambda: sdk_dataset.link_items(list(world.items)))
    mine = await parity.ours(ours.link_items(dataset, list(world.items)))
    parity.assert_same("link_items", theirs, mine)
    assert len((await ours.get_dataset(dataset)).data_rows) == len(world.items)


async def test_removing_data_rows_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World, dataset: str
) -> None:
    # Each client removes a different row of the same dataset.
    rows = await ours.link_items(dataset, list(world.items))
    sdk_row, our_row = (r.data_hash for r in rows)
    sdk_dataset = sdk.get_dataset(dataset)
    theirs = parity.sdk(lambda: sdk_dataset.delete_data([sdk_row]))
    mine = await parity.ours(ours.remove_data(dataset, [our_row]))
    parity.assert_same("remove_data", theirs, mine, sdk_names={"row": sdk_row}, our_names={"row": our_row})
    assert (await ours.get_dataset(dataset)).data_rows == []
