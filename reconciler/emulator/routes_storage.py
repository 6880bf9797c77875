"""v2 storage routes (`/v2/public/storage/...`): folders here; the whole route table at the end.

Item routes are in routes_items.py and upload-job routes in routes_jobs.py; their handlers and the
shared lookups (lookups.py) stay importable from this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from reconciler.emulator.context import Emulator, emulator, json_object, patched_metadata
from reconciler.emulator.errors import bad_request
from reconciler.emulator.lookups import (
    BULK_LIMIT,
    ITEM_TYPES,
    delete_folder_tree,
    folder_or_403,
    item_or_403,
    metadata_object,
    render_items,
    subtree,
    text_field,
    uuid_list,
)
from reconciler.emulator.pagination import keyset_body, keyset_window, parse_order, query_bool
from reconciler.emulator.responses import JSONResponse
from reconciler.emulator.routes_items import (
    delete_items,
    get_item,
    get_items_bulk,
    item_summary,
    list_child_items,
    list_folder_items,
    move_items,
    patch_items_bulk,
    search_items,
    update_item,
)
from reconciler.emulator.routes_jobs import (
    cancel_upload_job,
    not_supported,
    poll_upload_job,
    start_upload_job,
)
from reconciler.emulator.store import Row, Tx, new_uuid, now_iso
from reconciler.emulator.store_reads import folder_sort_key
from reconciler.emulator.views import folder_view, folder_views

__all__ = [
    "BULK_LIMIT",
    "ITEM_TYPES",
    "ROUTES",
    "cancel_upload_job",
    "create_folder",
    "delete_folder",
    "delete_items",
    "folder_or_403",
    "folder_summary",
    "get_folder",
    "get_item",
    "get_items_bulk",
    "item_or_403",
    "list_child_folders",
    "list_child_items",
    "list_folder_items",
    "list_root_folders",
    "move_folders",
    "move_items",
    "not_supported",
    "patch_folders_bulk",
    "patch_items_bulk",
    "poll_upload_job",
    "render_items",
    "search_folders",
    "search_items",
    "start_upload_job",
    "subtree",
    "update_folder",
    "update_item",
]


async def create_folder(request: Request) -> JSONResponse:
    body = await json_object(request)
    name = text_field(body, "name", non_empty=True)
    if name is None:
        raise bad_request("'name' is required")
    description = text_field(body, "description") or ""
    if body.get("cloudSyncedFolderParams") is not None:
        raise bad_request("Cloud-synced folders are not supported by the emulator")
    metadata = body.get("clientMetadata")
    metadata_obj = metadata_object(metadata, allow_string=True) if metadata is not None else {}
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


def _folder_listing(request: Request, scope_of: Callable[[Tx, bool], dict[str, Any]]) -> JSONResponse:
    """A page of folders, filtered, ordered and limited in SQL; `scope_of(tx, isRecursive)` gives the
    `Tx.list_folders` scope arguments (and answers 403 for an unknown folder)."""
    params = request.query_params
    recursive = bool(query_bool(params, "isRecursive", False))
    with emulator(request).store.tx() as tx:
        scope = scope_of(tx, recursive)
        synced = query_bool(params, "datasetSynced")
        query_bool(params, "includeOrgAccess")  # validated only: the single user is organisation admin
        order, desc = parse_order(params)
        after, size = keyset_window(params, order)
        rows = tx.list_folders(
            **scope,
            search=params.get("search"),
            synced=synced,
            order=order,
            desc=desc,
            after=after,
            limit=size + 1,  # one more than the page: is there a next page?
        )
        shown = rows[:size]
        last = folder_sort_key(shown[-1], order) if shown else None
        return JSONResponse(keyset_body(folder_views(tx, shown), last, more=len(rows) > size))


async def list_root_folders(request: Request) -> JSONResponse:
    return _folder_listing(request, lambda _tx, recursive: {"everything": recursive})


async def search_folders(request: Request) -> JSONResponse:
    return _folder_listing(request, lambda _tx, _recursive: {"everything": True})


async def list_child_folders(request: Request) -> JSONResponse:
    def scope_of(tx: Tx, recursive: bool) -> dict[str, Any]:
        root = folder_or_403(tx, request.path_params["folder"])["uuid"]
        return {"below": root} if recursive else {"parent": root}

    return _folder_listing(request, scope_of)


async def get_folder(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        return JSONResponse(folder_view(tx, folder_or_403(tx, request.path_params["folder"])))


def _patch_folder(em: Emulator, tx: Tx, folder: Row, patch: Any) -> Row:
    if not isinstance(patch, dict):
        raise bad_request("A folder patch must be a JSON object")
    changes: Row = {}
    name = text_field(patch, "name", non_empty=True)
    if name is not None:
        changes["name"] = name
    description = text_field(patch, "description")
    if description is not None:
        changes["description"] = description
    if patch.get("clientMetadata") is not None:
        sent = metadata_object(patch["clientMetadata"], allow_string=True)
        changes["client_metadata"] = patched_metadata(em, folder["client_metadata"], sent)
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
        return JSONResponse(folder_view(tx, _patch_folder(emulator(request), tx, folder, body)))


async def patch_folders_bulk(request: Request) -> JSONResponse:
    body = await json_object(request)
    patches = body.get("folderPatches")
    if not isinstance(patches, dict) or len(patches) > BULK_LIMIT:
        raise bad_request(f"'folderPatches' must be an object with at most {BULK_LIMIT} entries")
    with emulator(request).store.tx() as tx:
        updated = [
            _patch_folder(emulator(request), tx, folder_or_403(tx, key), patch)
            for key, patch in patches.items()
        ]
        return JSONResponse({"results": folder_views(tx, updated), "nextPageToken": None})


async def move_folders(request: Request) -> JSONResponse:
    body = await json_object(request)
    folder_uuids = uuid_list(body, "folderUuids")
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


async def delete_folder(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        delete_folder_tree(tx, folder_or_403(tx, request.path_params["folder"])["uuid"])
    return JSONResponse(None)


async def list_folder_groups(request: Request) -> JSONResponse:
    """The user groups with access to a folder: the emulator's organisation has none."""
    with emulator(request).store.tx() as tx:
        folder_or_403(tx, request.path_params["folder"])
    return JSONResponse({"results": [], "nextPageToken": None})


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
    Route("/v2/public/storage/folders/{folder}/items/{item}/child-items", list_child_items, methods=["GET"]),
    Route("/v2/public/storage/folders/{folder}/data-upload-jobs", start_upload_job, methods=["POST"]),
    Route("/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", poll_upload_job, methods=["GET"]),
    Route(
        "/v2/public/storage/folders/{folder}/data-upload-jobs/{job}/cancel",
        cancel_upload_job,
        methods=["POST"],
    ),
    Route("/v2/public/storage/folders/{folder}/upload-signed-urls", not_supported, methods=["POST"]),
    Route("/v2/public/storage/folders/{folder}/items/{item}/summary", item_summary, methods=["GET"]),
    Route("/v2/public/storage/folders/{folder}/groups", list_folder_groups, methods=["GET"]),
    Route("/v2/public/storage/folders/{folder}/groups", not_supported, methods=["POST", "DELETE"]),
    Route("/v2/public/storage/folders/{folder}/create-group-items", not_supported, methods=["POST"]),
    Route("/v2/public/storage/search/folders", search_folders, methods=["GET"]),
    Route("/v2/public/storage/search/items", search_items, methods=["GET"]),
    Route("/v2/public/storage/items/get-bulk", get_items_bulk, methods=["POST"]),
    Route("/v2/public/storage/items/patch-bulk", patch_items_bulk, methods=["PATCH"]),
    Route("/v2/public/storage/items/{item}", get_item, methods=["GET"]),
]
