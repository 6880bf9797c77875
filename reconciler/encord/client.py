"""Async Encord client over httpx: v2 REST and v1 RPC, signed exactly as the official SDK signs.

Every method returns wire models from `reconciler.encord.wire` or plain JSON values, pages through
every list, and raises only `reconciler.errors.EncordError` subclasses.

Requests match what encord==0.1.211 sends for the same operation — method, path, query parameters
(and their order), JSON body bytes — with these written-down differences:

* a path prefix in `domain` is kept for v2 as well (the SDK's `urljoin` drops it for v2 only);
* `User-Agent` is `reconciler/<version> httpx/<version>`; httpx adds its own default headers;
* `move_folder` does not re-GET the folder afterwards (the SDK's `move_to_folder` does);
* `update_folder` with nothing to change GETs the folder (the SDK sends nothing);
* retries follow `retry.py` / `_http.py`, not urllib3 (see those modules).

Idempotency: creates (`create_folder`, `create_dataset`, `start_upload_job`,
`sandbox_create_integration`) are never repeated blindly. After an ambiguous failure (5xx, or a
timeout/drop after the request may have been sent) a folder or dataset is looked up (against a
snapshot taken before the create) and the create is repeated only when it certainly did not happen.
An upload job cannot be looked up, so it is not repeated: `EncordAmbiguousError` tells the user
that re-running apply is safe with `skip_duplicate_urls`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from reconciler.encord._http import AmbiguousFailure, HttpCore, Retry, _new_trace_id
from reconciler.encord.auth import Auth
from reconciler.encord.retry import RetryPolicy
from reconciler.encord.signing import quote_segment
from reconciler.encord.wire import (
    WireDataRow,
    WireDataset,
    WireDatasetInfo,
    WireFolder,
    WireIntegration,
    WireItem,
    WireUploadJob,
)
from reconciler.errors import (
    EncordAmbiguousError,
    EncordInvalidArgumentError,
    EncordNotFoundError,
    EncordServerError,
)

_log = logging.getLogger("reconciler.encord")

_M = TypeVar("_M", bound=BaseModel)

LINK_CHUNK = 1000  # like STORAGE_BUNDLE_CREATE_LIMIT
_UPLOAD_POLL_GRACE_SECONDS = 30.0


def _seg(value: UUID | str) -> str:
    return quote_segment(str(value))


def _parse(model: type[_M], data: Any, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise EncordServerError(
            f"unexpected {what} from Encord: {exc.error_count()} validation error(s)"
        ) from exc


def _parse_uuid(value: Any, what: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise EncordServerError(f"unexpected {what} from Encord: not a UUID") from None


class EncordClient:
    def __init__(
        self,
        domain: str,
        auth: Auth,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = 180.0,
        max_retries: int = 3,
        backoff_factor: float = 1.5,
        max_connections: int = 16,
        page_size: int = 1000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        trace_id_factory: Callable[[], str] = _new_trace_id,
    ) -> None:
        if not 1 <= page_size <= 1000:
            raise EncordInvalidArgumentError(f"page_size must be between 1 and 1000, got {page_size}")
        if max_retries < 0:
            raise EncordInvalidArgumentError("max_retries must be >= 0")
        self._policy = RetryPolicy(
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            sleep=sleep,
            rng=rng or random.Random(),
        )
        self._http = HttpCore(
            domain,
            auth,
            transport=transport,
            timeout_seconds=timeout_seconds,
            policy=self._policy,
            max_connections=max_connections,
            clock=clock,
            trace_id_factory=trace_id_factory,
        )
        self._page_size = page_size
        # Bounds requests in flight for every transport (httpx.Limits does not apply to ASGITransport).
        self._slots = asyncio.Semaphore(max_connections)

    @property
    def domain(self) -> str:
        return self._http.domain

    def __repr__(self) -> str:
        return f"EncordClient({self._http.domain!r})"

    async def __aenter__(self) -> EncordClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------------
    async def _v2(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._slots:
            return await self._http.v2(method, path, **kwargs)

    async def _signed(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._slots:
            return await self._http.signed(method, path, **kwargs)

    async def _v1(self, query_type: str, query_method: str, **kwargs: Any) -> Any:
        async with self._slots:
            return await self._http.v1(query_type, query_method, **kwargs)

    async def _pages(
        self, path: str, query: Callable[[str | None], list[tuple[str, Any]]]
    ) -> AsyncIterator[list[Any]]:
        """Follow `nextPageToken` until null/absent; "" also ends; a repeating token is an error."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._v2("GET", path, query=query(token))
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise EncordServerError(f"GET {path}: expected a page object with `results`")
            yield page["results"]
            next_token = page.get("nextPageToken", page.get("next_page_token"))
            if next_token is None or next_token == "":
                return
            if not isinstance(next_token, str) or next_token in seen:
                raise EncordServerError(
                    f"GET {path}: the server repeated page token {next_token!r}; stopping"
                )
            seen.add(next_token)
            token = next_token

    # -- cloud integrations (§3) ------------------------------------------------------------------
    async def list_cloud_integrations(self) -> list[WireIntegration]:
        data = await self._v2("GET", "cloud-integrations", query=[("includeOrgAccess", False)])
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise EncordServerError("GET cloud-integrations: expected an object with `result`")
        return [_parse(WireIntegration, x, "cloud integration") for x in data["result"]]

    async def sandbox_create_integration(self, title: str, provider: str) -> WireIntegration:
        """Emulator-only extension (`POST /sandbox/cloud-integrations`); Encord has no such route."""
        try:
            data = await self._signed(
                "POST",
                "/sandbox/cloud-integrations",
                payload={"title": title, "provider": provider},
                retry=Retry.NEVER,
            )
        except AmbiguousFailure as amb:
            raise EncordAmbiguousError(
                f"creating sandbox integration {title!r} may or may not have happened: {amb.error}"
            ) from None
        return _parse(WireIntegration, data, "sandbox integration")

    async def sandbox_delete_integration(self, integration_uuid: UUID) -> None:
        """Emulator-only extension (`DELETE /sandbox/cloud-integrations/{uuid}`)."""
        await self._signed(
            "DELETE", f"/sandbox/cloud-integrations/{_seg(integration_uuid)}", gone_ok_after_retry=True
        )

    # -- metadata schema (§4) ---------------------------------------------------------------------
    async def get_metadata_schema(self) -> dict[str, Any]:
        """The raw v2 schema document; `{}` when the organisation has none (server answers null)."""
        data = await self._v2("GET", "organisation/client-metadata-schema-v2")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise EncordServerError("GET organisation/client-metadata-schema-v2: expected an object or null")
        return data

    async def set_metadata_schema(self, schema: dict[str, Any]) -> None:
        """Full replacement of the schema document."""
        # Sent verbatim: snake_case inner keys, nulls kept (the SDK's schema models are plain pydantic).
        await self._v2("POST", "organisation/client-metadata-schema-v2", payload=schema)

    # -- folders (§5) -----------------------------------------------------------------------------
    def _folders_path(self, parent: UUID | None) -> str:
        return "storage/folders" if parent is None else f"storage/folders/{_seg(parent)}/folders"

    async def list_folders(self, parent: UUID | None = None) -> list[WireFolder]:
        """Direct children of `parent` (root level when None), every page."""

        def query(token: str | None) -> list[tuple[str, Any]]:
            # ListFoldersParams field order, as the SDK's list_storage_folders / list_subfolders send it.
            return [
                ("isRecursive", False),
                ("order", "name"),
                ("desc", False),
                ("pageToken", token),
                ("pageSize", self._page_size),
            ]

        folders: list[WireFolder] = []
        async for page in self._pages(self._folders_path(parent), query):
            folders.extend(_parse(WireFolder, x, "folder") for x in page)
        return folders

    async def get_folder(self, folder_uuid: UUID) -> WireFolder:
        return _parse(WireFolder, await self._v2("GET", f"storage/folders/{_seg(folder_uuid)}"), "folder")

    async def _named_folders(self, parent: UUID | None, name: str) -> dict[UUID, WireFolder]:
        return {f.uuid: f for f in await self.list_folders(parent) if f.name == name}

    async def create_folder(
        self,
        name: str,
        *,
        parent: UUID | None = None,
        description: str | None = None,
        client_metadata: dict[str, Any] | None = None,
    ) -> WireFolder:
        """Not idempotent: after an ambiguous failure, reads back (by parent and name) before retrying."""
        body: dict[str, Any] = {"name": name}  # CreateStorageFolderPayload field order, None omitted
        if description is not None:
            body["description"] = description
        if parent is not None:
            body["parent"] = str(parent)
        if client_metadata is not None:
            try:  # a JSON *string*, as the SDK sends it (json.dumps, default separators)
                body["clientMetadata"] = json.dumps(client_metadata, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise EncordInvalidArgumentError(
                    f"folder {name!r}: client metadata is not JSON: {exc}"
                ) from None
        before = await self._named_folders(parent, name)

        async def read_back() -> WireFolder | None:
            new = {k: v for k, v in (await self._named_folders(parent, name)).items() if k not in before}
            if len(new) > 1:
                raise EncordAmbiguousError(
                    f"creating folder {name!r} failed ambiguously and {len(new)} new folders with that name "
                    "appeared meanwhile; cannot tell which one is ours"
                )
            return next(iter(new.values()), None)

        data = await self._create_once(f"folder {name!r}", "storage/folders", body, read_back)
        return data if isinstance(data, WireFolder) else _parse(WireFolder, data, "folder")

    async def _create_once(
        self,
        what: str,
        path: str,
        body: dict[str, Any],
        read_back: Callable[[], Awaitable[Any | None]],
    ) -> Any:
        """POST a create; after each ambiguous failure, read back and repeat only if it did not happen."""
        rounds = self._policy.max_retries + 1
        for round_ in range(1, rounds + 1):
            try:
                return await self._v2("POST", path, payload=body, retry=Retry.NEVER)
            except AmbiguousFailure as amb:
                last = amb.error
            _log.warning("creating %s failed ambiguously (%s); checking whether it happened", what, last)
            await self._policy.sleep(self._policy.delay(round_))
            found = await read_back()
            if found is not None:
                _log.info("%s was created despite the error; using it", what)
                return found
        raise EncordAmbiguousError(
            f"creating {what} failed {rounds} times and it was not found afterwards; last error: {last}"
        )

    async def update_folder(
        self,
        folder_uuid: UUID,
        *,
        name: str | None = None,
        description: str | None = None,
        client_metadata: dict[str, Any] | None = None,
    ) -> WireFolder:
        body: dict[str, Any] = {}  # PatchFolderPayload order; clientMetadata is an *object* here
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if client_metadata is not None:
            body["clientMetadata"] = client_metadata
        if not body:
            return await self.get_folder(folder_uuid)
        data = await self._v2("PATCH", f"storage/folders/{_seg(folder_uuid)}", payload=body)
        return _parse(WireFolder, data, "folder")

    async def move_folder(self, folder_uuid: UUID, new_parent: UUID | None) -> None:
        body: dict[str, Any] = {"folderUuids": [str(folder_uuid)]}
        if new_parent is not None:  # to the root: newParentUuid omitted entirely
            body["newParentUuid"] = str(new_parent)
        await self._v2("POST", "storage/folders/move", payload=body)

    async def delete_folder(self, folder_uuid: UUID) -> None:
        # Repeatable; a 404/403 after an ambiguous earlier attempt means the earlier attempt deleted it.
        await self._v2("DELETE", f"storage/folders/{_seg(folder_uuid)}", gone_ok_after_retry=True)

    # -- items (§6) -------------------------------------------------------------------------------
    async def iter_items(
        self, folder_uuid: UUID, *, recursive: bool = False
    ) -> AsyncIterator[list[WireItem]]:
        """Items of a folder, one page at a time."""

        def query(token: str | None) -> list[tuple[str, Any]]:
            # ListItemsParams field order, as StorageFolder.list_items (0.1.211) sends it.
            return [
                ("isRecursive", recursive),
                ("order", "name"),
                ("desc", False),
                ("pageToken", token),
                ("pageSize", self._page_size),
                ("signUrls", False),
                ("includeClientMetadata", True),
                ("clientMetadataAsSignedUrl", False),
            ]

        async for page in self._pages(f"storage/folders/{_seg(folder_uuid)}/items", query):
            yield [_parse(WireItem, x, "item") for x in page]

    async def list_items(self, folder_uuid: UUID, *, recursive: bool = False) -> list[WireItem]:
        items: list[WireItem] = []
        async for page in self.iter_items(folder_uuid, recursive=recursive):
            items.extend(page)
        return items

    async def update_item(
        self, folder_uuid: UUID, item_uuid: UUID, *, client_metadata: dict[str, Any]
    ) -> WireItem:
        data = await self._v2(
            "PATCH",
            f"storage/folders/{_seg(folder_uuid)}/items/{_seg(item_uuid)}",
            payload={"clientMetadata": client_metadata},
        )
        return _parse(WireItem, data, "item")

    # -- upload jobs (§7) -------------------------------------------------------------------------
    async def start_upload_job(
        self,
        folder_uuid: UUID,
        *,
        external_files: dict[str, Any] | None = None,
        data_items: dict[str, Any] | None = None,
        integration_uuid: UUID | None = None,
        ignore_errors: bool = False,
        file_name: str | None = None,
    ) -> UUID:
        if (external_files is None) == (data_items is None):
            raise EncordInvalidArgumentError(
                "start_upload_job needs exactly one of external_files or data_items"
            )
        body: dict[str, Any] = {}  # PostUploadJobParams field order, None omitted
        if data_items is not None:
            body["dataItems"] = data_items
        if external_files is not None:
            body["externalFiles"] = external_files  # passed through verbatim (snake_case keys stay)
        if integration_uuid is not None:
            body["integrationHash"] = str(integration_uuid)
        body["ignoreErrors"] = ignore_errors
        if file_name is not None:
            body["fileName"] = file_name
        path = f"storage/folders/{_seg(folder_uuid)}/data-upload-jobs"
        try:
            data = await self._v2("POST", path, payload=body, retry=Retry.NEVER)
        except AmbiguousFailure as amb:
            # An upload job cannot be looked up without its id, so it is never repeated here.
            raise EncordAmbiguousError(
                f"starting the registration job for folder {folder_uuid} failed, but a job may have started "
                f"anyway ({amb.error}). Check the folder in Encord; re-running apply is safe when the "
                "registration spec sets skip_duplicate_urls"
            ) from None
        return _parse_uuid(data, "upload job id")

    async def get_upload_job(
        self, folder_uuid: UUID, job_uuid: UUID, *, timeout_seconds: int = 60
    ) -> WireUploadJob:
        data = await self._v2(
            "GET",
            f"storage/folders/{_seg(folder_uuid)}/data-upload-jobs/{_seg(job_uuid)}",
            query=[("timeoutSeconds", timeout_seconds)],
            read_timeout=timeout_seconds + _UPLOAD_POLL_GRACE_SECONDS,
        )
        return _parse(WireUploadJob, data, "upload job state")

    # -- datasets (§8) ----------------------------------------------------------------------------
    async def create_dataset(self, title: str, description: str | None = None) -> UUID:
        """Not idempotent: after an ambiguous failure, reads back (by exact title) before retrying."""
        body: dict[str, Any] = {"title": title}  # CreateDatasetPayload field order, None omitted
        if description is not None:
            body["description"] = description
        body["createBackingFolder"] = False
        body["legacyCall"] = False
        before = {d.dataset_uuid for d in await self.list_datasets(title_eq=title) if d.title == title}

        async def read_back() -> UUID | None:
            new = {
                d.dataset_uuid for d in await self.list_datasets(title_eq=title) if d.title == title
            } - before
            if len(new) > 1:
                raise EncordAmbiguousError(
                    f"creating dataset {title!r} failed ambiguously and {len(new)} new datasets with that "
                    "title appeared meanwhile; cannot tell which one is ours"
                )
            return next(iter(new), None)

        data = await self._create_once(f"dataset {title!r}", "datasets", body, read_back)
        if isinstance(data, UUID):
            return data
        if not isinstance(data, dict):
            raise EncordServerError("POST datasets: expected an object with `datasetUuid`")
        return _parse_uuid(data.get("datasetUuid", data.get("datasetHash")), "dataset id")

    async def list_datasets(self, *, title_eq: str | None = None) -> list[WireDatasetInfo]:
        # DatasetsWithUserRolesListParams order: titleEq ... includeOrgAccess.
        data = await self._v2(
            "GET", "datasets/list", query=[("titleEq", title_eq), ("includeOrgAccess", False)]
        )
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise EncordServerError("GET datasets/list: expected an object with `result`")
        return [_parse(WireDatasetInfo, x, "dataset") for x in data["result"]]

    async def get_dataset(self, dataset_hash: str) -> WireDataset:
        # 0.1.211 sends DatasetAccessSettings as a dataclass dict: fetch_client_metadata and fetch_rows.
        data = await self._v1(
            "dataset",
            "GET",
            uid=None,
            payload={"dataset_access_settings": {"fetch_client_metadata": False, "fetch_rows": True}},
            resource_type="dataset",
            resource_id=dataset_hash,
        )
        if not data:
            raise EncordNotFoundError(f"dataset {dataset_hash} not found")
        return _parse(WireDataset, data, "dataset")

    async def link_items(self, dataset_hash: str, item_uuids: list[UUID]) -> list[WireDataRow]:
        """v1 `datasetlinkitems` with duplicates_behavior SKIP; chunked to 1000 per call."""
        rows: list[WireDataRow] = []
        for start in range(0, len(item_uuids), LINK_CHUNK):
            chunk = item_uuids[start : start + LINK_CHUNK]
            data = await self._v1(
                "datasetlinkitems",
                "POST",
                uid=dataset_hash,
                payload={"item_uuids": [str(u) for u in chunk], "duplicates_behavior": "SKIP"},
                resource_type="dataset",
                resource_id=dataset_hash,
            )
            if not isinstance(data, list):
                raise EncordServerError(
                    f"linking items to dataset {dataset_hash}: expected a list of data rows"
                )
            rows.extend(_parse(WireDataRow, x, "data row") for x in data)
        return rows

    async def remove_data(self, dataset_hash: str, data_hashes: list[str]) -> None:
        """v1 `video` DELETE."""
        if not data_hashes:
            return
        await self._v1(
            "video",
            "DELETE",
            uid=list(data_hashes),
            payload=None,
            resource_type="dataset",
            resource_id=dataset_hash,
            gone_ok_after_retry=True,
        )
