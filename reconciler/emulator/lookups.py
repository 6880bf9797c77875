"""Shared by the storage routes: lookups that answer 403, request-field helpers, item rendering, and
the subtree delete used by both folder and item deletion."""

from __future__ import annotations

import json
from typing import Any

from reconciler.emulator.errors import bad_request, forbidden
from reconciler.emulator.pagination import parse_uuid
from reconciler.emulator.store import Row, Tx
from reconciler.emulator.views import item_view

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
        "timeseries",  # in the SDK's StorageItemType (0.1.211), not in encord-api.md
        "nifti",
        "plainText",
        "pdf",
        "scene",
    }
)
BULK_LIMIT = 1000


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
    """UUIDs of all folders below `root` (None = the organisation root), excluding `root` (one statement)."""
    return tx.subtree_uuids(root)


def render_items(tx: Tx, items: list[Row], *, sign: bool, with_metadata: bool = True) -> list[dict[str, Any]]:
    """Item objects; rows from `Tx.list_items` carry their `data_units`, others are counted here."""
    missing = [i["uuid"] for i in items if "data_units" not in i]
    counts = tx.data_unit_counts(missing) if missing else {}
    return [
        item_view(
            i,
            data_units=i["data_units"] if "data_units" in i else counts.get(i["uuid"], 0),
            sign=sign,
            with_metadata=with_metadata,
        )
        for i in items
    ]


def items_or_403(tx: Tx, item_uuids: list[str]) -> list[Row]:
    """The items, in the order asked for (repeats included), read in one statement; 403 for the first
    one that does not exist."""
    found = tx.items_by_uuid(item_uuids)
    for item_uuid in item_uuids:
        if item_uuid not in found:
            raise forbidden(f"Item {item_uuid} does not exist or you do not have access to it")
    return [found[u] for u in item_uuids]


def metadata_object(value: Any, *, allow_string: bool) -> dict[str, Any]:
    """clientMetadata is JSON text in folder-create and an object in PATCH; both spellings are accepted."""
    if isinstance(value, str) and allow_string:
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("clientMetadata is not valid JSON") from None
    if not isinstance(value, dict):
        raise bad_request("clientMetadata must be a JSON object")
    return value


def text_field(body: dict[str, Any], key: str, *, non_empty: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (non_empty and not value.strip()):
        raise bad_request(f"'{key}' must be a{' non-empty' if non_empty else ''} string")
    return value


def uuid_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"'{key}' must be a list of UUIDs")
    return [parse_uuid(v, key) for v in value]


def refuse_if_linked(tx: Tx, item_uuids: list[str]) -> None:
    if not item_uuids:
        return
    linked = sorted({row["item"] for row in tx.data_rows_for_items(item_uuids)})
    if linked:
        raise bad_request(
            f"{len(linked)} item(s) are used in datasets and cannot be deleted; remove them from the "
            f"datasets first: {', '.join(linked[:10])}"
        )


def delete_folder_tree(tx: Tx, folder_uuid: str) -> tuple[int, int]:
    """Delete a folder with its subfolders, items and upload jobs -> (items removed, folders removed)."""
    folders = [folder_uuid, *subtree(tx, folder_uuid)]
    items = tx.item_uuids_in(folders)
    refuse_if_linked(tx, items)
    tx.delete_items(items)
    tx.delete_jobs_in(folders)
    tx.delete_folders(folders)
    return len(items), len(folders)
