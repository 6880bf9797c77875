"""v2 item routes: list, get, patch, delete, move, and the child items (frames) of groups.

Listings filter, sort and page in SQL (`Tx.list_items`, keyset pages), so a page costs the same in a
folder of ten items or of a hundred thousand, and page 200 the same as page 1; a recursive listing takes
its subtree from one recursive CTE.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from reconciler.emulator.context import Emulator, emulator, json_object, patched_metadata
from reconciler.emulator.errors import bad_request, forbidden
from reconciler.emulator.lookups import (
    BULK_LIMIT,
    ITEM_TYPES,
    delete_folder_tree,
    folder_or_403,
    item_or_403,
    items_or_403,
    metadata_object,
    refuse_if_linked,
    render_items,
    text_field,
    uuid_list,
)
from reconciler.emulator.pagination import (
    keyset_body,
    keyset_window,
    page_body,
    page_window,
    parse_order,
    query_bool,
)
from reconciler.emulator.responses import JSONResponse
from reconciler.emulator.store import Row, Tx, now_iso
from reconciler.emulator.views import GROUP_ITEM_TYPES, child_item_view, item_views


def _item_listing(
    request: Request, tx: Tx, folders: list[str] | None, *, below: str | None = None
) -> JSONResponse:
    params = request.query_params
    types = params.getlist("itemTypes")
    unknown = set(types) - ITEM_TYPES
    if unknown:
        raise bad_request(f"Unknown itemTypes: {sorted(unknown)}")
    if set(types) == ITEM_TYPES:
        types = []  # every type: no filter
    order, desc = parse_order(params)
    in_dataset = query_bool(params, "isInDataset")
    sign = bool(query_bool(params, "signUrls", False))
    with_metadata = query_bool(params, "includeClientMetadata", True) is not False
    query_bool(params, "includeOrgAccess")
    after, size = keyset_window(params, order)
    page = tx.list_items(
        folders,
        below=below,
        search=params.get("search"),
        item_types=types,
        in_dataset=in_dataset,
        order=order,
        desc=desc,
        after=after,
        limit=size + 1,  # one more than the page: is there a next page?
        with_metadata=with_metadata,
    )
    shown = page.rows[:size]
    results = item_views(page.columns, shown, sign=sign, with_metadata=with_metadata)
    last = page.sort_key(shown[-1], order) if shown else None
    return JSONResponse(keyset_body(results, last, more=len(page.rows) > size))


async def list_folder_items(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
        if query_bool(request.query_params, "isRecursive", False):
            return _item_listing(request, tx, None, below=folder)
        return _item_listing(request, tx, [folder])


async def search_items(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        return _item_listing(request, tx, None)


async def get_item(request: Request) -> JSONResponse:
    sign = bool(query_bool(request.query_params, "signUrl", False))
    with emulator(request).store.tx() as tx:
        item = item_or_403(tx, request.path_params["item"])
        return JSONResponse(render_items(tx, [item], sign=sign)[0])


async def get_items_bulk(request: Request) -> JSONResponse:
    body = await json_object(request)
    item_uuids = uuid_list(body, "itemUuids")
    sign = body.get("signUrls") is True
    with emulator(request).store.tx() as tx:
        items = items_or_403(tx, item_uuids)
        return JSONResponse({"results": render_items(tx, items, sign=sign), "nextPageToken": None})


def _item_in_folder(tx: Tx, request: Request) -> Row:
    folder = folder_or_403(tx, request.path_params["folder"])
    item = item_or_403(tx, request.path_params["item"])
    if item["parent"] != folder["uuid"]:
        raise forbidden(f"Item {item['uuid']} is not in folder {folder['uuid']}")
    return item


async def item_summary(request: Request) -> JSONResponse:
    """Where an item is used (`StorageItem.get_summary`): the datasets whose data rows it backs. Frames live
    inside their group here, never as items of their own, so no item is a frame of another."""
    with emulator(request).store.tx() as tx:
        item = _item_in_folder(tx, request)
        rows = tx.data_rows_for_items([item["uuid"]])
        datasets: dict[str, Row] = {}
        for row in rows:
            if row["dataset"] not in datasets:
                found = tx.dataset(row["dataset"])
                title = found["title"] if found is not None else ""
                datasets[row["dataset"]] = {
                    "datasetHash": row["dataset"],
                    "backingFolderUuid": None,
                    "title": title,
                    "dataHashes": [],
                    "dataUnitsCreatedAt": row["created_at"],
                }
            datasets[row["dataset"]]["dataHashes"].append(row["data_hash"])
    return JSONResponse(
        {
            "frameInGroups": 0,
            "accessibleGroupItems": [],
            "usedInDatasets": len(datasets),
            "accessibleDatasets": list(datasets.values()),
        }
    )


async def list_child_items(request: Request) -> JSONResponse:
    """Frames of an image group / image sequence / DICOM series, in order; other items have none.

    The SDK (`StorageItem.get_child_items`) sends only `signUrls` and reads one page, so every child
    comes in one page; `pageSize`/`pageToken`, when sent, page as the other listings do.
    """
    params = request.query_params
    sign = bool(query_bool(params, "signUrls", False))
    with emulator(request).store.tx() as tx:
        item = _item_in_folder(tx, request)
    frames = (item["media"].get("frames") or []) if item["item_type"] in GROUP_ITEM_TYPES else []
    children = [child_item_view(item, frame, sign=sign) for frame in frames]
    if "pageSize" not in params and "pageToken" not in params:
        return JSONResponse({"results": children, "nextPageToken": None})
    start, size = page_window(params)
    return JSONResponse(
        page_body(children[start : start + size], start, size, more=start + size < len(children))
    )


def _patch_item(em: Emulator, tx: Tx, item: Row, patch: Any) -> Row:
    if not isinstance(patch, dict):
        raise bad_request("An item patch must be a JSON object")
    changes: Row = {}
    name = text_field(patch, "name", non_empty=True)
    if name is not None:
        changes["name"] = name
    text_field(patch, "description")  # items have no description any more; accepted and ignored
    if patch.get("clientMetadata") is not None:
        sent = metadata_object(patch["clientMetadata"], allow_string=True)
        changes["client_metadata"] = patched_metadata(em, item["client_metadata"], sent)
    if changes:
        changes["last_edited_at"] = now_iso()
        tx.update_item(item["uuid"], changes)
    updated = tx.item(item["uuid"])
    assert updated is not None
    return updated


async def update_item(request: Request) -> JSONResponse:
    body = await json_object(request)
    with emulator(request).store.tx() as tx:
        item = _item_in_folder(tx, request)
        return JSONResponse(render_items(tx, [_patch_item(emulator(request), tx, item, body)], sign=False)[0])


async def patch_items_bulk(request: Request) -> JSONResponse:
    body = await json_object(request)
    patches = body.get("itemPatches")
    if not isinstance(patches, dict) or len(patches) > BULK_LIMIT:
        raise bad_request(f"'itemPatches' must be an object with at most {BULK_LIMIT} entries")
    with emulator(request).store.tx() as tx:
        updated = [
            _patch_item(emulator(request), tx, item_or_403(tx, key), patch) for key, patch in patches.items()
        ]
        return JSONResponse({"results": render_items(tx, updated, sign=False), "nextPageToken": None})


async def delete_items(request: Request) -> JSONResponse:
    body = await json_object(request)
    child_uuids = uuid_list(body, "childUuids")
    # Frames live inside their group and are never shared, so they always go with it (README.md).
    if not isinstance(body.get("removeUnusedFrames", True), bool):
        raise bad_request("'removeUnusedFrames' must be a boolean")
    with emulator(request).store.tx() as tx:
        folder = folder_or_403(tx, request.path_params["folder"])["uuid"]
        items: list[str] = []
        subfolders: list[str] = []
        found_items, found_folders = tx.items_by_uuid(child_uuids), tx.folders_by_uuid(child_uuids)
        for child in child_uuids:
            item = found_items.get(child)
            sub = found_folders.get(child)
            if item is not None and item["parent"] == folder:
                items.append(child)
            elif sub is not None and sub["parent"] == folder:
                subfolders.append(child)
            else:
                raise forbidden(f"{child} is not an item or folder directly inside folder {folder}")
        refuse_if_linked(tx, items)
        removed_items, removed_folders = len(items), 0
        for sub_uuid in subfolders:
            counts = delete_folder_tree(tx, sub_uuid)
            removed_items += counts[0]
            removed_folders += counts[1]
        tx.delete_items(items)
    return JSONResponse({"removedItemsCount": removed_items, "removedFoldersCount": removed_folders})


async def move_items(request: Request) -> JSONResponse:
    body = await json_object(request)
    item_uuids = uuid_list(body, "itemUuids")
    target = body.get("newParentUuid")
    if not isinstance(target, str):
        raise bad_request("'newParentUuid' is required")
    with emulator(request).store.tx() as tx:
        source = folder_or_403(tx, request.path_params["folder"])["uuid"]
        target = folder_or_403(tx, target)["uuid"]
        for item in items_or_403(tx, item_uuids):
            if item["parent"] != source:
                raise forbidden(f"Item {item['uuid']} is not in folder {source}")
        tx.move_items(item_uuids, target, now_iso())
    return JSONResponse(None)
