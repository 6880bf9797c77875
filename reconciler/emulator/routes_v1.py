"""v1 RPC ("querier") routes: `POST /public` and `POST /public/user`.

Envelope in: `{"query_type", "query_method", "values": {"uid", "payload"}}` with the resource named by the
`ResourceType`/`ResourceID` headers. Envelope out: `{"status": 200, "response": ...}`; errors use the
one-element-list form, always with HTTP 200 as the SDK's querier expects from the legacy API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from reconciler.emulator.context import emulator
from reconciler.emulator.errors import RpcError
from reconciler.emulator.responses import JSONResponse
from reconciler.emulator.routes_v2 import like_pattern
from reconciler.emulator.store import Row, Tx, now_iso
from reconciler.emulator.store_reads import DATA_ROW_COLUMNS, DATA_ROW_ITEM_COLUMNS
from reconciler.emulator.views import (
    DATA_TYPE,
    DATASET_TYPE_BY_INT,
    data_row_view,
    data_row_views,
    dataset_storage_location,
)

_ITEM_LOCATION = len(DATA_ROW_COLUMNS) + DATA_ROW_ITEM_COLUMNS.index("storage_location")

Handler = Callable[[Tx, Row, Any, Any], Any]


def _payload_dict(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise RpcError("INVALID_ARGUMENTS_ERROR", "payload must be an object")
    return payload


def _access_settings(payload: dict[str, Any]) -> dict[str, Any]:
    settings = payload.get("dataset_access_settings") or {}
    return settings if isinstance(settings, dict) else {}


def get_dataset(tx: Tx, dataset: Row, _uid: Any, payload: Any) -> Any:
    """One statement reads every data row joined with its item (only the first without `fetch_rows`)."""
    settings = _access_settings(_payload_dict(payload))
    with_metadata = settings.get("fetch_client_metadata") is True
    fetch_rows = settings.get("fetch_rows", True) is not False
    found = tx.data_row_tuples(dataset["uuid"], first_only=not fetch_rows, with_metadata=with_metadata)
    rows = data_row_views(found, with_metadata=with_metadata) if fetch_rows else []
    # the dataset's type: the location of its first linked item
    location = dataset_storage_location(found[0][_ITEM_LOCATION] if found else None)
    return {
        "dataset_hash": dataset["uuid"],
        "title": dataset["title"],
        "description": dataset["description"],
        "dataset_type": DATASET_TYPE_BY_INT[location or 0],
        "backing_folder_uuid": dataset["backing_folder"],
        "data_rows": rows,
    }


def _iso(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise RpcError("INVALID_ARGUMENTS_ERROR", f"{name} must be an ISO-8601 datetime") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def list_data_rows(tx: Tx, dataset: Row, _uid: Any, payload: Any) -> Any:
    filters = _payload_dict(payload)
    with_metadata = _access_settings(filters).get("fetch_client_metadata") is True
    before, after = (
        _iso(filters.get("created_before"), "created_before"),
        _iso(filters.get("created_after"), "created_after"),
    )
    title_like = like_pattern(filters["title_like"]) if filters.get("title_like") else None
    data_types = filters.get("data_types")
    data_hashes = filters.get("data_hashes")
    out = []
    for row, item in tx.data_rows_with_items(dataset["uuid"], with_metadata=with_metadata):
        created = datetime.fromisoformat(row["created_at"])
        if (
            (filters.get("title_eq") is not None and item["name"] != filters["title_eq"])
            or (title_like is not None and not title_like.match(item["name"]))
            or (before is not None and created >= before)
            or (after is not None and created <= after)
            or (data_types is not None and DATA_TYPE[item["item_type"]] not in data_types)
            or (data_hashes is not None and row["data_hash"] not in data_hashes)
        ):
            continue
        out.append(data_row_view(row, item, with_metadata=with_metadata))
    return out


def link_items(tx: Tx, dataset: Row, _uid: Any, payload: Any) -> Any:
    body = _payload_dict(payload)
    item_uuids = body.get("item_uuids")
    behaviour = body.get("duplicates_behavior", "SKIP")
    if not isinstance(item_uuids, list) or not all(isinstance(u, str) for u in item_uuids):
        raise RpcError("INVALID_ARGUMENTS_ERROR", "item_uuids must be a list of UUID strings")
    if behaviour not in ("SKIP", "FAIL", "DUPLICATE"):
        raise RpcError("INVALID_ARGUMENTS_ERROR", "duplicates_behavior must be SKIP, FAIL or DUPLICATE")
    found = tx.items_by_uuid([u.lower() for u in item_uuids])
    missing = [u for u in item_uuids if u.lower() not in found]
    if missing:
        raise RpcError(
            "INVALID_ARGUMENTS_ERROR", f"Storage items not found or not accessible: {', '.join(missing)}"
        )
    items = [found[u.lower()] for u in item_uuids]
    linked = tx.linked_item_uuids(dataset["uuid"])
    duplicates = [i["uuid"] for i in items if i["uuid"] in linked]
    if duplicates and behaviour == "FAIL":
        raise RpcError(
            "INVALID_ARGUMENTS_ERROR", f"Items already linked to the dataset: {', '.join(duplicates)}"
        )
    to_link = []
    for item in items:
        if behaviour == "SKIP" and item["uuid"] in linked:
            continue
        linked.add(item["uuid"])
        to_link.append(item)
    rows = tx.add_data_rows(dataset["uuid"], [i["uuid"] for i in to_link])
    if rows:
        tx.touch_dataset(dataset["uuid"])
    return [data_row_view(r, i, with_metadata=False) for r, i in zip(rows, to_link, strict=True)]


def delete_data(tx: Tx, dataset: Row, uid: Any, _payload: Any) -> Any:
    hashes = [uid] if isinstance(uid, str) else uid
    if not isinstance(hashes, list):
        raise RpcError("INVALID_ARGUMENTS_ERROR", "uid must be a data hash or a list of them")
    found = tx.data_rows_by_hash([str(h) for h in hashes])
    rows = [found.get(str(h)) for h in hashes]
    if any(row is None or row["dataset"] != dataset["uuid"] for row in rows):
        raise RpcError("RESOURCE_NOT_FOUND_ERROR", "Some data hashes are not part of this dataset")
    tx.delete_data_rows([str(h) for h in hashes])
    tx.touch_dataset(dataset["uuid"])
    return True


def _data_row_in(tx: Tx, dataset: Row, uid: Any) -> tuple[Row, Row]:
    row = tx.data_row(str(uid))
    item = tx.item(row["item"]) if row is not None else None
    if row is None or item is None or row["dataset"] != dataset["uuid"]:
        raise RpcError("RESOURCE_NOT_FOUND_ERROR", f"Data row {uid} not found in this dataset")
    return row, item


def get_data_row(tx: Tx, dataset: Row, uid: Any, payload: Any) -> Any:
    row, item = _data_row_in(tx, dataset, uid)
    additional = _payload_dict(payload).get("additional_data") or {}
    return data_row_view(row, item, with_metadata=additional.get("client_metadata") is True)


def save_data_row(tx: Tx, dataset: Row, uid: Any, payload: Any) -> Any:
    """`DataRow.save()`: title and client metadata live on the backing storage item."""
    row, item = _data_row_in(tx, dataset, uid)
    changes = _payload_dict(payload)
    updates: Row = {}
    if "data_title" in changes:
        if not isinstance(changes["data_title"], str) or not changes["data_title"]:
            raise RpcError("INVALID_ARGUMENTS_ERROR", "data_title must be a non-empty string")
        updates["name"] = changes["data_title"]
    if "client_metadata" in changes:
        if not isinstance(changes["client_metadata"], dict):
            raise RpcError("INVALID_ARGUMENTS_ERROR", "client_metadata must be an object")
        updates["client_metadata"] = changes["client_metadata"]
    if updates:
        tx.update_item(item["uuid"], {**updates, "last_edited_at": now_iso()})
    updated = tx.item(item["uuid"])
    assert updated is not None
    return {
        "updated_fields": sorted(k for k in ("data_title", "client_metadata") if k in changes),
        "data_row": data_row_view(row, updated, with_metadata=True),
    }


DATASET_HANDLERS: dict[tuple[str, str], Handler] = {
    ("dataset", "GET"): get_dataset,
    ("datarows", "GET"): list_data_rows,
    ("datasetlinkitems", "POST"): link_items,
    ("video", "DELETE"): delete_data,
    ("datarow", "GET"): get_data_row,
    ("datarow", "POST"): save_data_row,
}


def _dispatch(request: Request, envelope: Any) -> Any:
    if not isinstance(envelope, dict) or not isinstance(envelope.get("values"), dict):
        raise RpcError("INVALID_ARGUMENTS_ERROR", "Malformed RPC envelope")
    key = (str(envelope.get("query_type")), str(envelope.get("query_method")))
    handler = DATASET_HANDLERS.get(key)
    if handler is None or request.url.path != "/public":
        raise RpcError("METHOD_NOT_ALLOWED_ERROR", f"{key[0]} {key[1]} is not supported by the emulator")
    if request.headers.get("resourcetype") != "dataset":
        raise RpcError("INVALID_ARGUMENTS_ERROR", f"{key[0]} needs ResourceType: dataset")
    values = envelope["values"]
    with emulator(request).store.tx() as tx:
        dataset = tx.dataset(request.headers.get("resourceid", "").lower())
        if dataset is None:
            raise RpcError(
                "RESOURCE_NOT_FOUND_ERROR", f"Dataset {request.headers.get('resourceid')} not found"
            )
        return handler(tx, dataset, values.get("uid"), values.get("payload"))


async def rpc(request: Request) -> JSONResponse:
    try:
        envelope = json.loads(await request.body())
    except ValueError:
        return JSONResponse(RpcError("INVALID_ARGUMENTS_ERROR", "Body is not JSON").envelope())
    try:
        return JSONResponse({"status": 200, "response": _dispatch(request, envelope)})
    except RpcError as exc:
        return JSONResponse(exc.envelope())


ROUTES: list[BaseRoute] = [
    Route("/public", rpc, methods=["POST"]),
    Route("/public/user", rpc, methods=["POST"]),
]
