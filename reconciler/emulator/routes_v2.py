"""v2 organisation-level routes (user, integrations, metadata schema, datasets) and the sandbox routes."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reconciler.emulator.context import caller_key_id, emulator, json_body, json_object
from reconciler.emulator.errors import bad_request, forbidden
from reconciler.emulator.pagination import parse_uuid, query_bool
from reconciler.emulator.responses import JSONResponse
from reconciler.emulator.schema import validate_legacy_schema, validate_schema
from reconciler.emulator.store import Row, new_uuid, now_iso
from reconciler.emulator.views import dataset_list_view, dataset_storage_location

PROVIDERS = ("gcp", "aws", "azure", "otc")
SCHEMA_V2 = "metadata_schema_v2"
SCHEMA_LEGACY = "metadata_schema_legacy"


async def bearer_token(request: Request) -> JSONResponse:
    key_id = caller_key_id(request)
    assert key_id is not None  # the auth middleware admits only authenticated callers
    token = secrets.token_urlsafe(32)
    with emulator(request).store.tx() as tx:
        tx.add_token(token, key_id)
    return JSONResponse({"token": token})


# -- cloud integrations -----------------------------------------------------------------------------


async def list_integrations(request: Request) -> JSONResponse:
    params = request.query_params
    wanted_uuids = {parse_uuid(u, "filterIntegrationUuids") for u in params.getlist("filterIntegrationUuids")}
    wanted_titles = set(params.getlist("filterIntegrationTitles"))
    query_bool(params, "includeOrgAccess")  # the single user is organisation admin: same answer either way
    with emulator(request).store.tx() as tx:
        rows = tx.integrations()
    rows = [
        r
        for r in rows
        if (not wanted_uuids or r["uuid"] in wanted_uuids)
        and (not wanted_titles or r["title"] in wanted_titles)
    ]
    return JSONResponse({"result": [{"integrationUuid": r["uuid"], "title": r["title"]} for r in rows]})


async def sandbox_create_integration(request: Request) -> JSONResponse:
    body = await json_object(request)
    title, provider = body.get("title"), body.get("provider")
    if not isinstance(title, str) or not title.strip():
        raise bad_request("'title' must be a non-empty string")
    if provider not in PROVIDERS:
        raise bad_request(f"'provider' must be one of {', '.join(PROVIDERS)}")
    with emulator(request).store.tx() as tx:
        if tx.integration_by_title(title) is not None:
            raise bad_request(f"A cloud integration titled {title!r} already exists")
        row = tx.add_integration(title, provider)
    return JSONResponse({"integrationUuid": row["uuid"], "title": row["title"], "provider": row["provider"]})


async def sandbox_delete_integration(request: Request) -> Response:
    with emulator(request).store.tx() as tx:
        integration_uuid = parse_uuid(request.path_params["integration"], "Integration")
        if tx.integration(integration_uuid) is None:
            raise forbidden(f"Cloud integration {integration_uuid} does not exist")
        tx.delete_integration(integration_uuid)
    return Response(status_code=204)


async def sandbox_delete_dataset(request: Request) -> Response:
    """Emulator-only (Encord's API cannot delete datasets): the dataset and its data rows go; the storage
    items they use, and a mirror dataset's backing folder, stay."""
    with emulator(request).store.tx() as tx:
        dataset_uuid = parse_uuid(request.path_params["dataset"], "Dataset")
        if tx.dataset(dataset_uuid) is None:
            raise forbidden(f"Dataset {dataset_uuid} does not exist")
        tx.delete_dataset(dataset_uuid)
    return Response(status_code=204)


# -- metadata schema --------------------------------------------------------------------------------


async def get_schema(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        return JSONResponse(tx.get_setting(SCHEMA_V2))


async def set_schema(request: Request) -> JSONResponse:
    document = validate_schema(await json_body(request))
    with emulator(request).store.tx() as tx:
        tx.put_setting(SCHEMA_V2, document)
    return JSONResponse(None)


async def get_legacy_schema(request: Request) -> JSONResponse:
    with emulator(request).store.tx() as tx:
        return JSONResponse(tx.get_setting(SCHEMA_LEGACY))


async def set_legacy_schema(request: Request) -> JSONResponse:
    document = validate_legacy_schema(await json_body(request))
    with emulator(request).store.tx() as tx:
        previous = tx.get_setting(SCHEMA_LEGACY)
        stamp = now_iso()
        stored = {
            "uuid": previous["uuid"] if previous else new_uuid(),
            "metadataSchema": document,
            "organisationId": 1,
            "createdAt": previous["createdAt"] if previous else stamp,
            "updatedAt": stamp,
        }
        tx.put_setting(SCHEMA_LEGACY, stored)
    return JSONResponse(stored["uuid"])


# -- datasets ---------------------------------------------------------------------------------------


async def create_dataset(request: Request) -> JSONResponse:
    body = await json_object(request)
    title, description = body.get("title"), body.get("description", "")
    if not isinstance(title, str) or not title.strip():
        raise bad_request("'title' must be a non-empty string")
    if not isinstance(description, str):
        raise bad_request("'description' must be a string")
    em = emulator(request)
    stamp = now_iso()
    dataset_uuid = new_uuid()
    backing_folder: str | None = None
    with em.store.tx() as tx:
        if body.get("createBackingFolder", True) is True:
            # A legacy "mirror" dataset: a root folder tied to the dataset via syncedDatasetHash.
            backing_folder = new_uuid()
            tx.add_folder(
                {
                    "uuid": backing_folder,
                    "parent": None,
                    "name": title,
                    "description": description,
                    "client_metadata": {},
                    "owner": em.user_email,
                    "created_at": stamp,
                    "last_edited_at": stamp,
                    "synced_dataset_hash": dataset_uuid,
                }
            )
        tx.add_dataset(
            {
                "uuid": dataset_uuid,
                "title": title,
                "description": description,
                "created_at": stamp,
                "last_edited_at": stamp,
                "backing_folder": backing_folder,
            }
        )
    return JSONResponse({"datasetUuid": dataset_uuid, "backingFolderUuid": backing_folder})


def like_pattern(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (`%`, `_`) as a case-insensitive regular expression."""
    translated = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{translated}$", re.IGNORECASE | re.DOTALL)


def _query_datetime(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"{name} must be an ISO-8601 datetime, got {raw!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _dataset_matches(dataset: Row, request: Request) -> bool:
    params = request.query_params
    checks = (
        ("titleEq", lambda v: dataset["title"] == v),
        ("titleLike", lambda v: like_pattern(v).match(dataset["title"]) is not None),
        ("descriptionEq", lambda v: dataset["description"] == v),
        ("descriptionLike", lambda v: like_pattern(v).match(dataset["description"]) is not None),
    )
    if not all(check(params[name]) for name, check in checks if name in params):
        return False
    created = datetime.fromisoformat(dataset["created_at"])
    edited = datetime.fromisoformat(dataset["last_edited_at"])
    bounds = (
        ("createdBefore", created, True),
        ("createdAfter", created, False),
        ("editedBefore", edited, True),
        ("editedAfter", edited, False),
    )
    for name, value, before in bounds:
        bound = _query_datetime(params.get(name), name)
        if bound is not None and (value >= bound if before else value <= bound):
            return False
    return True


async def list_datasets(request: Request) -> JSONResponse:
    query_bool(request.query_params, "includeOrgAccess")
    with emulator(request).store.tx() as tx:
        datasets = tx.datasets_with_location()  # one statement, whatever the number of datasets
    result = [
        dataset_list_view(dataset, dataset_storage_location(location))
        for dataset, location in datasets
        if _dataset_matches(dataset, request)
    ]
    return JSONResponse({"result": result})


ROUTES: list[BaseRoute] = [
    Route("/v2/public/user/bearer-token", bearer_token, methods=["GET"]),
    Route("/v2/public/cloud-integrations", list_integrations, methods=["GET"]),
    Route("/v2/public/organisation/client-metadata-schema-v2", get_schema, methods=["GET"]),
    Route("/v2/public/organisation/client-metadata-schema-v2", set_schema, methods=["POST"]),
    Route("/v2/public/organisation/client-metadata-schema", get_legacy_schema, methods=["GET"]),
    Route("/v2/public/organisation/client-metadata-schema", set_legacy_schema, methods=["POST"]),
    Route("/v2/public/datasets", create_dataset, methods=["POST"]),
    Route("/v2/public/datasets/list", list_datasets, methods=["GET"]),
    Route("/sandbox/cloud-integrations", sandbox_create_integration, methods=["POST"]),
    Route("/sandbox/cloud-integrations/{integration}", sandbox_delete_integration, methods=["DELETE"]),
    Route("/sandbox/datasets/{dataset}", sandbox_delete_dataset, methods=["DELETE"]),
]
