"""Our requests equal the official SDK's (encord==0.1.211) byte for byte: method, target, body.

The SDK runs with `requests.Session.send` replaced by a recorder; our client runs over MockTransport;
both get the same canned answers. Written-down differences are listed in `reconciler/encord/client.py`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from tests.client.conftest import F1, I1, folder_json, item_json
from tests.client.verify import verify_v1, verify_v2

P = "00000000-0000-0000-0000-00000000000b"
J = "00000000-0000-0000-0000-00000000000c"
D = "00000000-0000-0000-0000-00000000000d"
G = "00000000-0000-0000-0000-00000000000e"  # an image group
JOB = {
    "status": "DONE",
    "itemsWithNames": [{"itemUuid": I1, "name": "n"}],
    "errors": [],
    "unitsPendingCount": 0,
    "unitsDoneCount": 1,
    "unitsErrorCount": 0,
    "unitsCancelledCount": 0,
    "unitErrors": [],
}
DATASET = {"dataset_hash": D, "title": "t", "description": "", "dataset_type": "AWS_S3", "data_rows": []}
ROW = {
    "data_hash": "dh",
    "data_title": "t",
    "data_type": "IMAGE",
    "created_at": "2024-01-01 00:00:00",
    "last_edited_at": "2024-01-01 00:00:00",
    "width": 1,
    "height": 1,
    "file_link": "x",
    "file_size": 1,
    "file_type": "image/jpeg",
    "storage_location": 1,
    "frames_per_second": None,
    "duration": None,
}


def stored_item(uuid: str) -> dict[str, Any]:
    return {**item_json(uuid), "itemType": "imageGroup", "url": None} if uuid == G else item_json(uuid)


def answer(method: str, path: str, body: bytes | None) -> Any:
    if path == "/public":
        query_type = json.loads(body or b"{}")["query_type"]
        return {
            "status": 200,
            "response": {"dataset": DATASET, "datasetlinkitems": [ROW]}.get(query_type, True),
        }
    p = path.removeprefix("/v2/public/")
    if p == "cloud-integrations":
        return {"result": [{"integrationUuid": P, "title": "t"}]}
    if p == "organisation/client-metadata-schema-v2":
        return {"a": {"ty": "variant", "hint": "text"}} if method == "GET" else None
    if p == "storage/folders" and method == "POST":
        return folder_json()
    if p == "storage/folders" or p.endswith("/folders"):
        return {"results": [folder_json()], "nextPageToken": None}
    if p.endswith("/items") and method == "GET":
        return {"results": [item_json()], "nextPageToken": None}
    if p.endswith("/child-items"):
        return {"results": [item_json(), item_json(I1.replace("a1", "a2"))], "nextPageToken": None}
    if p == "storage/items/get-bulk":
        return {"results": [stored_item(u) for u in json.loads(body or b"{}")["itemUuids"]]}
    if p == "storage/items/patch-bulk":
        return {"results": [stored_item(u) for u in json.loads(body or b"{}")["itemPatches"]]}
    if p.endswith("/items/delete"):
        return {"removedItemsCount": 1, "removedFoldersCount": 0}
    if p.startswith("storage/items/"):
        return stored_item(p.removeprefix("storage/items/"))
    if "/items/" in p:
        return item_json()
    if p.endswith("/data-upload-jobs"):
        return J
    if "/data-upload-jobs/" in p:
        return JOB
    if p == "storage/folders/move":
        return None
    if p.startswith("storage/folders/"):
        return None if method == "DELETE" else folder_json()
    if p == "datasets":
        return {"datasetUuid": D, "backingFolderUuid": None}
    if p == "datasets/list":
        return {"result": []}
    raise AssertionError(f"unexpected {method} {path}")


Wire = tuple[str, str, bytes]


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch, private_key: Ed25519PrivateKey, key_pem: str) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import requests
        from encord.user_client import EncordUserClient

    sent: list[Any] = []

    def fake_send(self: Any, request: Any, **kwargs: Any) -> Any:
        sent.append(request)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(answer(request.method, urlsplit(request.url).path, body)).encode()
        response.request = request
        return response

    monkeypatch.setattr(requests.Session, "send", fake_send)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        user_client = EncordUserClient.create_with_ssh_private_key(key_pem, domain="http://127.0.0.1:9")
    user_client._sent = sent  # type: ignore[attr-defined]
    yield user_client


def sdk_wire(user_client: Any, call: Callable[[Any], Any]) -> list[Wire]:
    sent = user_client._sent
    sent.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(user_client)
    out = []
    for request in sent:
        body = request.body.encode() if isinstance(request.body, str) else request.body or b""
        out.append((request.method, request.path_url, body))
    return out


async def our_wire(private_key: Ed25519PrivateKey, call: Callable[[EncordClient], Any]) -> list[Wire]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        data = answer(request.method, request.url.path, request.content)
        return httpx.Response(200, content=json.dumps(data).encode())

    async with EncordClient(
        "http://127.0.0.1:9", SshKeyAuth(private_key), transport=httpx.MockTransport(handler)
    ) as c:
        await call(c)
    for request in seen:
        if request.url.path == "/public":
            verify_v1(request)
        else:
            verify_v2(request)
    return [(r.method, r.url.raw_path.decode(), r.content) for r in seen]


def _folder(uc: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return uc.get_storage_folder(F1)


def _items(uc: Any) -> list[Any]:
    return list(_folder(uc).list_items(page_size=1000))


def _dataset(uc: Any) -> Any:
    return uc.get_dataset(D)


async def _child_urls(c: EncordClient) -> list[str | None]:
    return [i.url async for page in c.iter_child_items(UUID(F1), UUID(G)) for i in page]


METADATA = {"x": 2, "ü": [1.5, None], "nested": {"k": "v"}}


def _bundled_updates(uc: Any, uuids: list[str], patch: dict[str, Any]) -> None:
    """`StorageItem.update(..., bundle=...)` on each item: the SDK's bulk item update."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from encord.http.bundle import Bundle

    items = uc.get_storage_items(uuids)
    with Bundle() as bundle:
        for item in items:
            item.update(**patch, bundle=bundle)


SPEC = {"images": [{"objectUrl": "s3://b/ü i.jpg"}], "skip_duplicate_urls": True}
DATA_ITEMS = {"images": [{"objectUrl": "k", "clientMetadata": {"k": 1}}], "skipDuplicateUrls": False}


def _storage_location() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from encord.orm.dataset import StorageLocation

    return StorageLocation.AWS


CASES: list[tuple[str, Callable[[Any], Any], Callable[[EncordClient], Any], int]] = [
    # (name, sdk call, our call, how many leading SDK requests to skip (set-up reads))
    (
        "list_cloud_integrations",
        lambda uc: uc.get_cloud_integrations(),
        lambda c: c.list_cloud_integrations(),
        0,
    ),
    ("get_metadata_schema", lambda uc: uc.metadata_schema(), lambda c: c.get_metadata_schema(), 0),
    (
        "list_root_folders",
        lambda uc: list(uc.list_storage_folders(page_size=1000)),
        lambda c: c.list_folders(),
        0,
    ),
    ("get_folder", _folder, lambda c: c.get_folder(UUID(F1)), 0),
    (
        "list_subfolders",
        lambda uc: list(_folder(uc).list_subfolders(page_size=1000)),
        lambda c: c.list_folders(UUID(F1)),
        1,
    ),
    (
        "update_folder",
        lambda uc: _folder(uc).update(name="nn", description="d é", client_metadata={"k": ["v", None]}),
        lambda c: c.update_folder(UUID(F1), name="nn", description="d é", client_metadata={"k": ["v", None]}),
        1,
    ),
    (
        "move_folder_to_root",
        lambda uc: _folder(uc).move_to_folder(None),
        lambda c: c.move_folder(UUID(F1), None),
        1,
    ),
    (
        "move_folder",
        lambda uc: _folder(uc).move_to_folder(UUID(P)),
        lambda c: c.move_folder(UUID(F1), UUID(P)),
        1,
    ),
    ("delete_folder", lambda uc: _folder(uc).delete(), lambda c: c.delete_folder(UUID(F1)), 1),
    ("list_items", _items, lambda c: c.list_items(UUID(F1)), 1),
    (
        "update_item",
        lambda uc: _items(uc)[0].update(client_metadata={"x": 2, "ü": [1.5, None]}),
        lambda c: c.update_item(UUID(F1), UUID(I1), client_metadata={"x": 2, "ü": [1.5, None]}),
        2,
    ),
    (
        "iter_child_items",
        lambda uc: uc.get_storage_item(G).get_child_items(),
        _child_urls,
        1,
    ),
    (
        "patch_items_bulk",
        lambda uc: _bundled_updates(uc, [I1, G], {"name": "n é/%", "client_metadata": METADATA}),
        lambda c: c.patch_items_bulk(
            {
                UUID(I1): {"name": "n é/%", "clientMetadata": METADATA},
                UUID(G): {"name": "n é/%", "clientMetadata": METADATA},
            }
        ),
        1,
    ),
    (
        "delete_items",
        lambda uc: _folder(uc).delete_storage_items([UUID(I1), UUID(G)]),
        lambda c: c.delete_items(UUID(F1), [UUID(I1), UUID(G)]),
        1,
    ),
    (
        "delete_items_keeping_frames",
        lambda uc: _folder(uc).delete_storage_items([UUID(G)], remove_unused_frames=False),
        lambda c: c.delete_items(UUID(F1), [UUID(G)], remove_unused_frames=False),
        1,
    ),
    (
        "start_upload_job_external_files",
        lambda uc: _folder(uc).add_private_data_to_folder_start(P, SPEC, ignore_errors=True),
        lambda c: c.start_upload_job(
            UUID(F1), external_files=SPEC, integration_uuid=UUID(P), ignore_errors=True
        ),
        1,
    ),
    (
        "get_upload_job",
        lambda uc: _folder(uc).add_private_data_to_folder_get_result(UUID(J), timeout_seconds=60),
        lambda c: c.get_upload_job(UUID(F1), UUID(J), timeout_seconds=60),
        1,
    ),
    ("list_datasets", lambda uc: uc.get_datasets(), lambda c: c.list_datasets(), 0),
    (
        "list_datasets_title",
        lambda uc: uc.get_datasets(title_eq="t x/ü"),
        lambda c: c.list_datasets(title_eq="t x/ü"),
        0,
    ),
    ("get_dataset", _dataset, lambda c: c.get_dataset(D), 0),
    ("link_items", lambda uc: _dataset(uc).link_items([UUID(I1)]), lambda c: c.link_items(D, [UUID(I1)]), 1),
    (
        "remove_data",
        lambda uc: _dataset(uc).delete_data(["h1", "h2"]),
        lambda c: c.remove_data(D, ["h1", "h2"]),
        1,
    ),
]


@pytest.mark.parametrize(("name", "sdk_call", "our_call", "skip"), CASES, ids=[c[0] for c in CASES])
async def test_request_matches_sdk(
    sdk: Any,
    private_key: Ed25519PrivateKey,
    name: str,
    sdk_call: Callable[[Any], Any],
    our_call: Callable[[EncordClient], Any],
    skip: int,
) -> None:
    theirs = sdk_wire(sdk, sdk_call)[skip:]
    if name.startswith("move_folder"):
        theirs = theirs[:1]  # the SDK re-GETs the folder after a move; we do not
    ours = await our_wire(private_key, our_call)
    assert ours == theirs


async def test_set_metadata_schema_matches_sdk(sdk: Any, private_key: Ed25519PrivateKey) -> None:
    def sdk_call(uc: Any) -> None:
        schema = uc.metadata_schema()
        schema.add_scalar("b", data_type="number")
        schema.add_enum("e", values=["z", "a"])
        schema.add_embedding("emb", size=4)
        schema.delete_key("a")
        schema.save()

    theirs = sdk_wire(sdk, sdk_call)[1:]
    document = json.loads(theirs[0][2])
    assert document["emb"]["api"] is None  # nulls are kept, keys are snake_case inside
    ours = await our_wire(private_key, lambda c: c.set_metadata_schema(document))
    assert ours == theirs


@pytest.mark.parametrize("description", [None, "d ü"])
async def test_create_dataset_matches_sdk(
    sdk: Any, private_key: Ed25519PrivateKey, description: str | None
) -> None:
    theirs = sdk_wire(
        sdk,
        lambda uc: uc.create_dataset(
            "t ü", _storage_location(), dataset_description=description, create_backing_folder=False
        ),
    )
    ours = await our_wire(private_key, lambda c: c.create_dataset("t ü", description))
    assert ours[0][0:2] == (
        "GET",
        "/v2/public/datasets/list?titleEq=t+%C3%BC&includeOrgAccess=False",
    )  # snapshot
    assert ours[1:] == theirs


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"description": "d", "client_metadata": {"a": 1, "b": "ü", "c": [None, True]}},
        {"parent": UUID(P), "description": ""},
    ],
)
async def test_create_folder_matches_sdk(
    sdk: Any, private_key: Ed25519PrivateKey, kwargs: dict[str, Any]
) -> None:
    sdk_kwargs = {**kwargs}
    if "parent" in sdk_kwargs:
        sdk_kwargs["parent_folder"] = sdk_kwargs.pop("parent")
    theirs = sdk_wire(sdk, lambda uc: uc.create_storage_folder("n é/%", **sdk_kwargs))
    ours = await our_wire(private_key, lambda c: c.create_folder("n é/%", **kwargs))
    assert ours[0][0] == "GET"  # the snapshot of same-named folders
    assert ours[1:] == theirs


async def test_patch_items_bulk_chunks_as_the_sdk_bundle_does(
    sdk: Any, private_key: Ed25519PrivateKey
) -> None:
    uuids = [str(UUID(int=n)) for n in range(1, 1002)]
    theirs = [
        w for w in sdk_wire(sdk, lambda uc: _bundled_updates(uc, uuids, {"name": "n"})) if w[0] == "PATCH"
    ]
    ours = await our_wire(private_key, lambda c: c.patch_items_bulk({UUID(u): {"name": "n"} for u in uuids}))
    assert [len(json.loads(w[2])["itemPatches"]) for w in theirs] == [1000, 1]
    assert ours == theirs
