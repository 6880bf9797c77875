"""v2 storage routes: folders, items and data-upload jobs (`/v2/public/storage/...`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconciler.emulator.context import emulator, json_body, json_object
from reconciler.emulator.errors import bad_request, forbidden
from reconciler.emulator.jobs import cancelled_result, job_view, parse_upload_request
from reconciler.emulator.pagination import page, parse_uuid, query_bool, query_int, sort_rows
from reconciler.emulator.store import Row, Tx, new_uuid, now_iso
from reconciler.emulator.views import folder_view, item_view

ITEM_TYPES = frozenset(
    {
        "video",
        "image",
        "group",
        "imageGroup",
        "imageSequence",
        "dicomFile",
        "dicomSeries",
        "audio",
        "nifti",
        "plainText",
        "pdf",
        "scene",
    }
)
BULK_LIMIT = 1000


# -- lookups ----------------------------------------------------------------------------------------


def folder_or_403(tx: Tx, folder_uuid: str) -> Row:
    folder = tx.folder(parse_uuid(folder_uuid, "Folder"))
    if folder is None:
        raise forbidden(f"Folder {folder_uuid} does not exist or you do not have access to it")
    return folder


def item_or_403(tx: Tx, item_uuid: str) -> Row:
    item = tx.item(parse_uuid(str(item_uuid), "Item"))
    if item is None:
        raise forbidden(f"Item {item_uuid} does not exist or you do not have access to it")
    return item


def subtree(tx: Tx, root: str | None) -> list[str]:
    """UUIDs of all folders below `root` (None = the organisation root), excluding `root`."""
    found: list[str] = []
    frontier = [root]
    while frontier:
        children = [f["uuid"] for parent in frontier for f in tx.child_folders(parent)]
        found.extend(children)
        frontier = list(children)
    return found


def render_items(tx: Tx, items: list[Row], *, sign: bool, with_metadata: bool = True) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    if items:
        for row in tx.data_rows_for_items([i["uuid"] for i in items]):
            counts[row["item"]] = counts.get(row["item"], 0) + 1
    return [
        item_view(i, data_units=counts.get(i["uuid"], 0), sign=sign, with_metadata=with_metadata)
        for i in items
    ]


def _metadata_object(value: Any, *, allow_string: bool) -> dict[str, Any]:
    """clientMetadata is JSON text in folder-create and an object in PATCH; both spellings are accepted."""
    if isinstance(value, str) and allow_string:
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("clientMetadata is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("clientMetadata must be a JSON object")
    return value


def _text_field(body: dict[str, Any], key: str, *, non_empty: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (non_empty and not value.strip()):
        raise bad_request(f"'{key}' must be a{' non-empty' if non_empty else ''} string")
    return value


def _uuid_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"'{key}' must be a list of UUIDs")
    return [parse_uuid(v, key) for v in value]


def _name_filter(rows: list[Row], search: str | None) -> list[Row]:
    if not search:
        return rows
    needle = search.casefold()
    return [r for r in rows if needle in r["name"].casefold()]


# -- folders ----------------------------------------------------------------------------------------


async def create_folder(request: Request) -> JSONResponse:
    body = await json_object(request)
    name = _text_field(body, "name", non_empty=True)
    if name is None:
        raise bad_request("'name' is required")
    description = _text_field(body, "description") or ""
    if body.get("cloudSyncedFolderParams") is not None:
        raise bad_request("Cloud-synced folders are not supported by the emulator")
    metadata = body.get("clientMetadata")
    metadata_obj = _metadata_object(metadata, allow_string=True) if metadata is not None else {}
    em = emulator(request)
    with em.store.tx() as tx:
        parent = body.get("parent")
        if parent is not None:
            parent = folder_or_403(tx, str(parent))["uuid"]
        stamp = now_iso()
        folder = tx.add_folder(
            {
                "uuid": new_uuid(),
                "parent": parent,
                "name": name,
                "description": description,
                "client_metadata": metadata_obj,
                "owner": em.user_email,
                "created_at": stamp,
                "last_edited_at": stamp,
                "synced_dataset_hash": None,
            }
        )
        return JSONResponse(folder_view(tx, folder))


def _folder_listing(request: Request, rows_of: Any) -> JSONResponse:
    params = request.query_params
    with emulator(request).store.tx() as tx:
        rows: list[Row] = rows_of(tx, bool(query_bool(params, "isRecursive", False)))
        rows = _name_filter(rows, params.get("search"))
        synced = query_bool(params, "datasetSynced")
        if synced is not None:
            rows = [r for r in rows if (r["synced_dataset_hash"] is not None) == synced]
        query_bool(params, "includeOrgAccess")  # validated only: the single user is organisation admin
        return JSONResponse(page(sort_rows(rows, params), params, lambda r: folder_view(tx, r)))


async def list_root_folders(request: Request) -> JSONResponse:
    def rows_of(tx: Tx, recursive: bool) -> list[Row]:
        return tx.folders() if recursive else tx.child_folders(None)

    return _folder_listing(request, rows_of)


async def search_folders(request: Request) -> JSONResponse:
    return _folder_listing(request, lambda tx, _recursive: tx.folders())


async def list_child_folders(request: Request) -> JSONResponse:
    folder_uuid = request.path_params["folder"]

    def rows_of(tx: Tx, recursive: bool) -> list[Row]:
        root = folder_or_403(tx, folder_uuid)["uuid"]
        if not recursive:
            return tx.child_folders(root)
        below = set(subtree(tx, root))
        return [f for f in tx.folders() if f["uuid"] in below]

    return _folder_listing(request, rows_of)


async def get_folder(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        return JSONResponse(folder_view(tx, folder_or_403(tx, request.path_params["folder"])))


def _patch_folder(tx: Tx, folder: Row, patch: Any) -> Row:
    if not isinstance(patch, dict):
        raise bad_request("A folder patch must be a JSON object")
    changes: Row = {}
    name = _text_field(patch, "name", non_empty=True)
    if name is not None:
        changes["name"] = name
    description = _text_field(patch, "description")
    if description is not None:
        changes["description"] = description
    if patch.get("clientMetadata") is not None:
        # Replace, not merge: the document sent becomes the folder's metadata.
        changes["client_metadata"] = _metadata_object(patch["clientMetadata"], allow_string=True)
    if changes:
        changes["last_edited_at"] = now_iso()
        tx.update_folder(folder["uuid"], changes)
    updated = tx.folder(folder["uuid"])
    assert updated is not None
    return updated


async def update_folder(request: Request) -> JSONResponse:
    body = await json_object(request)
    with emulator(request).store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])
        return JSONResponse(folder_view(tx, _patch_folder(tx, folder, body)))


async def patch_folders_bulk(request: Request) -> JSONResponse:
    body = await json_object(request)
    patches = body.get("folderPatches")
    if not isinstance(patches, dict) or len(patches) > BULK_LIMIT:
        raise bad_request(f"'folderPatches' must be an object with at most {BULK_LIMIT} entries")
    with emulator(request).store.tx() as tx:
        updated = [_patch_folder(tx, folder_or_403(tx, key), patch) for key, patch in patches.items()]
        return JSONResponse({"results": [folder_view(tx, f) for f in updated], "nextPageToken": None})


async def move_folders(request: Request) -> JSONResponse:
    body = await json_object(request)
    folder_uuids = _uuid_list(body, "folderUuids")
    target = body.get("newParentUuid")  # omitted = move to the root
    with emulator(request).store.tx() as tx:
        if target is not None:
            target = folder_or_403(tx, str(target))["uuid"]
        for folder_uuid in folder_uuids:
            folder_or_403(tx, folder_uuid)
            if target is not None and (target == folder_uuid or target in subtree(tx, folder_uuid)):
                raise bad_request(f"Cannot move folder {folder_uuid} into itself or one of its subfolders")
            tx.update_folder(folder_uuid, {"parent": target, "last_edited_at": now_iso()})
    return JSONResponse(None)


def _refuse_if_linked(tx: Tx, items: list[Row]) -> None:
    if not items:
        return
    linked = sorted({row["item"] for row in tx.data_rows_for_items([i["uuid"] for i in items])})
    if linked:
        raise bad_request(
            f"{len(linked)} item(s) are used in datasets and cannot be deleted; remove them from the "
            f"datasets first: {', '.join(linked[:10])}"
        )


def _delete_folder_tree(tx: Tx, folder_uuid: str) -> tuple[int, int]:
    folders = [folder_uuid, *subtree(tx, folder_uuid)]
    items = tx.items_in(folders)
    _refuse_if_linked(tx, items)
    tx.delete_items([i["uuid"] for i in items])
    tx.delete_jobs_in(folders)
    tx.delete_folders(folders)
    return len(items), len(folders)


async def delete_folder(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        _delete_folder_tree(tx, folder_or_403(tx, request.path_params["folder"])["uuid"])
    return JSONResponse(None)


async def folder_summary(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])
        items = tx.items_in([folder["uuid"]])
        by_type: dict[str, int] = {}
        for item in items:
            by_type[item["item_type"]] = by_type.get(item["item_type"], 0) + 1
        return JSONResponse(
            {
                "files": len(items),
                "folders": len(tx.child_folders(folder["uuid"])),
                "videos": by_type.get("video", 0),
                "images": by_type.get("image", 0),
                "imageGroups": by_type.get("imageGroup", 0),
                "imageSequences": by_type.get("imageSequence", 0),
                "dicomFiles": by_type.get("dicomFile", 0),
                "dicomSeries": by_type.get("dicomSeries", 0),
                "niftis": by_type.get("nifti", 0),
                "audios": by_type.get("audio", 0),
                "pdfs": by_type.get("pdf", 0),
                "plainTexts": by_type.get("plainText", 0),
                "tombstones": 0,
                "uploadJobs": len(tx.jobs_in(folder["uuid"])),
                "totalSize": float(sum(i["media"].get("fileSize") or 0 for i in items)),
            }
        )


# -- items ------------------------------------------------------------------------------------------


def _item_listing(request: Request, tx: Tx, items: list[Row]) -> JSONResponse:
    params = request.query_params
    items = _name_filter(items, params.get("search"))
    types = params.getlist("itemTypes")
    unknown = set(types) - ITEM_TYPES
    if unknown:
        raise bad_request(f"Unknown itemTypes: {sorted(unknown)}")
    if types:
        items = [i for i in items if i["item_type"] in types]
    in_dataset = query_bool(params, "isInDataset")
    if in_dataset is not None:
        linked = {r["item"] for r in tx.data_rows_for_items([i["uuid"] for i in items])} if items else set()
        items = [i for i in items if (i["uuid"] in linked) == in_dataset]
    sign = bool(query_bool(params, "signUrls", False))
    with_metadata = query_bool(params, "includeClientMetadata", True) is not False
    query_bool(params, "includeOrgAccess")
    rows = sort_rows(items, params)
    body = page(rows, params, lambda r: r)
    body["results"] = render_items(tx, body["results"], sign=sign, with_metadata=with_metadata)
    return JSONResponse(body)


async def list_folder_items(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
        recursive = query_bool(request.query_params, "isRecursive", False)
        folders = [folder, *subtree(tx, folder)] if recursive else [folder]
        return _item_listing(request, tx, tx.items_in(folders))


async def search_items(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        return _item_listing(request, tx, tx.items())


async def get_item(request: Request) -> JSONResponse:
    sign = bool(query_bool(request.query_params, "signUrl", False))
    with emulator(request).store.tx() as tx:
        item = item_or_403(tx, request.path_params["item"])
        return JSONResponse(render_items(tx, [item], sign=sign)[0])


async def get_items_bulk(request: Request) -> JSONResponse:
    body = await json_object(request)
    item_uuids = _uuid_list(body, "itemUuids")
    sign = body.get("signUrls") is True
    with emulator(request).store.tx() as tx:
        items = [item_or_403(tx, u) for u in item_uuids]
        return JSONResponse({"results": render_items(tx, items, sign=sign), "nextPageToken": None})


def _patch_item(tx: Tx, item: Row, patch: Any) -> Row:
    if not isinstance(patch, dict):
        raise bad_request("An item patch must be a JSON object")
    changes: Row = {}
    name = _text_field(patch, "name", non_empty=True)
    if name is not None:
        changes["name"] = name
    _text_field(patch, "description")  # items have no description any more; accepted and ignored
    if patch.get("clientMetadata") is not None:
        changes["client_metadata"] = _metadata_object(patch["clientMetadata"], allow_string=True)
    if changes:
        changes["last_edited_at"] = now_iso()
        tx.update_item(item["uuid"], changes)
    updated = tx.item(item["uuid"])
    assert updated is not None
    return updated


async def update_item(request: Request) -> JSONResponse:
    body = await json_object(request)
    with emulator(request).store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])
        item = item_or_403(tx, request.path_params["item"])
        if item["parent"] != folder["uuid"]:
            raise forbidden(f"Item {item['uuid']} is not in folder {folder['uuid']}")
        return JSONResponse(render_items(tx, [_patch_item(tx, item, body)], sign=False)[0])


async def patch_items_bulk(request: Request) -> JSONResponse:
    body = await json_object(request)
    patches = body.get("itemPatches")
    if not isinstance(patches, dict) or len(patches) > BULK_LIMIT:
        raise bad_request(f"'itemPatches' must be an object with at most {BULK_LIMIT} entries")
    with emulator(request).store.tx() as tx:
        updated = [_patch_item(tx, item_or_403(tx, key), patch) for key, patch in patches.items()]
        return JSONResponse({"results": render_items(tx, updated, sign=False), "nextPageToken": None})


async def delete_items(request: Request) -> JSONResponse:
    body = await json_object(request)
    child_uuids = _uuid_list(body, "childUuids")
    with emulator(request).store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
        items: list[Row] = []
        subfolders: list[str] = []
        for child in child_uuids:
            item = tx.item(child)
            sub = tx.folder(child)
            if item is not None and item["parent"] == folder:
                items.append(item)
            elif sub is not None and sub["parent"] == folder:
                subfolders.append(child)
            else:
                raise forbidden(f"{child} is not an item or folder directly inside folder {folder}")
        _refuse_if_linked(tx, items)
        removed_items, removed_folders = len(items), 0
        for sub_uuid in subfolders:
            counts = _delete_folder_tree(tx, sub_uuid)
            removed_items += counts[0]
            removed_folders += counts[1]
        tx.delete_items([i["uuid"] for i in items])
    return JSONResponse({"removedItemsCount": removed_items, "removedFoldersCount": removed_folders})


async def move_items(request: Request) -> JSONResponse:
    body = await json_object(request)
    item_uuids = _uuid_list(body, "itemUuids")
    target = body.get("newParentUuid")
    if not isinstance(target, str):
        raise bad_request("'newParentUuid' is required")
    with emulator(request).store.tx() as tx:
        source = folder_or_403(tx, request.path_params["folder"])["uuid"]
        target = folder_or_403(tx, target)["uuid"]
        for item_uuid in item_uuids:
            if item_or_403(tx, item_uuid)["parent"] != source:
                raise forbidden(f"Item {item_uuid} is not in folder {source}")
            tx.update_item(item_uuid, {"parent": target, "last_edited_at": now_iso()})
    return JSONResponse(None)


# -- data-upload jobs -------------------------------------------------------------------------------


async def start_upload_job(request: Request) -> JSONResponse:
    body = await json_body(request)
    _, document = parse_upload_request(body)
    assert isinstance(body, dict)
    integration = body.get("integrationHash")
    if integration is None:
        raise bad_request("integrationHash is required: the emulator registers cloud files only")
    ignore_errors = body.get("ignoreErrors", False)
    if not isinstance(ignore_errors, bool):
        raise bad_request("'ignoreErrors' must be a boolean")
    file_name = _text_field(body, "fileName")
    em = emulator(request)
    job_uuid = new_uuid()
    with em.store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
        integration_row = tx.integration(parse_uuid(str(integration), "integrationHash"))
        if integration_row is None:
            raise forbidden(f"Cloud integration {integration} does not exist or you do not have access to it")
        tx.add_job(
            {
                "uuid": job_uuid,
                "folder": folder,
                "integration": integration_row["uuid"],
                "ignore_errors": int(ignore_errors),
                "file_name": file_name,
                # The body minus auth-irrelevant noise; re-parsed by the processor.
                "request": {"externalFiles": document}
                if "externalFiles" in body
                else {"dataItems": document},
                "status": "PENDING",
                "result": None,
                "created_at": now_iso(),
            }
        )
    em.runner.ensure_running(job_uuid)
    return JSONResponse(job_uuid)


def _job_in_folder(tx: Tx, request: Request) -> Row:
    folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
    job = tx.job(parse_uuid(request.path_params["job"], "Upload job"))
    if job is None or job["folder"] != folder:
        raise forbidden(f"Upload job {request.path_params['job']} does not exist in folder {folder}")
    return job


async def poll_upload_job(request: Request) -> JSONResponse:
    em = emulator(request)
    timeout = query_int(request.query_params, "timeoutSeconds", 60)
    with em.store.tx() as tx:
        job = _job_in_folder(tx, request)
    if job["status"] == "PENDING" and timeout > 0:
        # Long-poll: hold the request until the job finishes or the (capped) timeout passes.
        done = em.runner.ensure_running(job["uuid"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=min(float(timeout), em.long_poll_cap_seconds))
        with em.store.tx() as tx:
            job = _job_in_folder(tx, request)
    return JSONResponse(job_view(job))


async def cancel_upload_job(request: Request) -> JSONResponse:
    em = emulator(request)
    with em.store.tx() as tx:
        job = _job_in_folder(tx, request)
        result = cancelled_result(job)
        cancelled = tx.finish_job(job["uuid"], "CANCELLED", result)
    if cancelled:
        em.runner.wake(job["uuid"])
    return JSONResponse({"unitsCancelledCount": result["unitsCancelledCount"] if cancelled else 0})


async def not_supported(request: Request) -> Response:
    raise bad_request(f"{request.method} {request.url.path} is not supported by the emulator")


ROUTES: list[BaseRoute] = [
    Route("/v2/public/storage/folders", create_folder, methods=["POST"]),
    Route("/v2/public/storage/folders", list_root_folders, methods=["GET"]),
    Route("/v2/public/storage/folders/patch-bulk", patch_folders_bulk, methods=["PATCH"]),
    Route("/v2/public/storage/folders/move", move_folders, methods=["POST"]),
    Route("/v2/public/storage/folders/{folder}", get_folder, methods=["GET"]),
    Route("/v2/public/storage/folders/{folder}", update_folder, methods=["PATCH"]),
    Route("/v2/public/storage/folders/{folder}", delete_folder, methods=["DELETE"]),
    Route("/v2/public/storage/folders/{folder}/folders", list_child_folders, methods=["GET"]),
    Route("/v2/public/storage/folders/{folder}/summary", folder_summary, methods=["GET"]),
    Route("/v2/public/storage/folders/{folder}/items", list_folder_items, methods=["GET"]),
    Route("/v2/public/storage/folders/{folder}/items/delete", delete_items, methods=["POST"]),
    Route("/v2/public/storage/folders/{folder}/items/move", move_items, methods=["POST"]),
    Route("/v2/public/storage/folders/{folder}/items/{item}", update_item, methods=["PATCH"]),
    Route("/v2/public/storage/folders/{folder}/data-upload-jobs", start_upload_job, methods=["POST"]),
    Route("/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", poll_upload_job, methods=["GET"]),
    Route(
        "/v2/public/storage/folders/{folder}/data-upload-jobs/{job}/cancel",
        cancel_upload_job,
        methods=["POST"],
    ),
    Route("/v2/public/storage/folders/{folder}/upload-signed-urls", not_supported, methods=["POST"]),
    Route("/v2/public/storage/search/folders", search_folders, methods=["GET"]),
    Route("/v2/public/storage/search/items", search_items, methods=["GET"]),
    Route("/v2/public/storage/items/get-bulk", get_items_bulk, methods=["POST"]),
    Route("/v2/public/storage/items/patch-bulk", patch_items_bulk, methods=["PATCH"]),
    Route("/v2/public/storage/items/{item}", get_item, methods=["GET"]),
]
