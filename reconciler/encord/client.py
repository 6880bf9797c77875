"""Async Encord client over httpx: v2 REST and v1 RPC, signed exactly as the official SDK signs.

Every method returns wire models from `reconciler.encord.wire` or plain JSON values, pages through
every list, and raises only `reconciler.errors.EncordError` subclasses.

Requests match what encord==0.1.211 sends for the same operation — method, path, query parameters
(and their order), JSON body bytes — with these written-down differences:

* a path prefix in `domain` is kept for v2 as well (the SDK's `urljoin` drops it for v2 only);
* `User-Agent` is `reconciler/<version> httpx/<version>`; httpx adds its own default headers;
* `move_folder` does not re-GET the folder afterwards (the SDK's `move_to_folder` does);
* `update_folder` with nothing to change GETs the folder (the SDK sends nothing);
* `delete_items` sends at most 1,000 items per request (the SDK sends any number in one);
  `patch_items_bulk` chunks by 1,000 as the SDK's `Bundle` does;
* retries follow `retry.py` / `_http.py`, not urllib3 (see those modules).

Modules: `_client_base.py` (construction, paging, create-once), `client_items.py` (items and upload
jobs), this module (integrations, metadata schema, folders, datasets).

Idempotency: creates (`create_folder`, `create_dataset`, `start_upload_job`,
`sandbox_create_integration`) are never repeated blindly. After an ambiguous failure (5xx, or a
timeout/drop after the request may have been sent) a folder or dataset is looked up (against a
snapshot taken before the create) and the create is repeated only when it certainly did not happen.
An upload job cannot be looked up, so it is not repeated: `EncordAmbiguousError` tells the user
that re-running apply is safe with `skip_duplicate_urls`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from reconciler.encord._answers import Decode
from reconciler.encord._client_base import parse_uuid, parse_wire, seg
from reconciler.encord._http import AmbiguousFailure, Retry
from reconciler.encord.client_items import ItemsClient
from reconciler.encord.wire import (
    DatasetRows,
    DatasetRowsEnvelope,
    WireDataRow,
    WireDataset,
    WireDatasetInfo,
    WireFolder,
    WireFolderPage,
    WireIntegration,
)
from reconciler.errors import (
    EncordAmbiguousError,
    EncordInvalidArgumentError,
    EncordNotFoundError,
    EncordServerError,
)

__all__ = ["LINK_CHUNK", "EncordClient"]

LINK_CHUNK = 1000  # like STORAGE_BUNDLE_CREATE_LIMIT


class EncordClient(ItemsClient):
    """The Encord client: construction and plumbing in `_client_base.ClientBase`, items and upload jobs
    in `client_items.ItemsClient`, everything else below."""

    # -- cloud integrations (§3) ------------------------------------------------------------------
    async def list_cloud_integrations(self) -> list[WireIntegration]:
        data = await self._v2("GET", "cloud-integrations", query=[("includeOrgAccess", False)])
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise EncordServerError("GET cloud-integrations: expected an object with `result`")
        return [parse_wire(WireIntegration, x, "cloud integration") for x in data["result"]]

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
        return parse_wire(WireIntegration, data, "sandbox integration")

    async def sandbox_delete_integration(self, integration_uuid: UUID) -> None:
        """Emulator-only extension (`DELETE /sandbox/cloud-integrations/{uuid}`)."""
        await self._signed(
            "DELETE", f"/sandbox/cloud-integrations/{seg(integration_uuid)}", gone_ok_after_retry=True
        )

    async def sandbox_delete_dataset(self, dataset_hash: str) -> None:
        """Emulator-only extension (`DELETE /sandbox/datasets/{hash}`): Encord cannot delete datasets."""
        await self._signed("DELETE", f"/sandbox/datasets/{seg(dataset_hash)}", gone_ok_after_retry=True)

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
        return "storage/folders" if parent is None else f"storage/folders/{seg(parent)}/folders"

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
            folders.extend(parse_wire(WireFolder, x, "folder") for x in page)
        return folders

    async def iter_folder_tree(self) -> AsyncIterator[list[WireFolder]]:
        """Every folder of the workspace, a page at a time, in no tree order (paths are built from the
        `parent` UUIDs): `GET storage/search/folders`, the recursive search from the top level, as the
        SDK's `find_storage_folders` sends it. One chain of pages (1,000 folders each) for the whole tree,
        where listing each folder's children would cost a request per folder."""

        def query(token: str | None) -> list[tuple[str, Any]]:
            return [
                ("isRecursive", False),  # the SDK always sends it; the search route is recursive anyway
                ("order", "name"),
                ("desc", False),
                ("pageToken", token),
                ("pageSize", self._page_size),
            ]

        async for page in self._lean_pages("storage/search/folders", query, WireFolderPage):
            yield page.results

    async def get_folder(self, folder_uuid: UUID) -> WireFolder:
        return parse_wire(WireFolder, await self._v2("GET", f"storage/folders/{seg(folder_uuid)}"), "folder")

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

        async def count_same() -> int:
            return len(await self._named_folders(parent, name))

        where = f" in folder {parent}" if parent is not None else " at the top of Files"
        data = await self._create_once(
            f"folder {name!r}{where}", "storage/folders", body, read_back, count_same
        )
        return data if isinstance(data, WireFolder) else parse_wire(WireFolder, data, "folder")

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
        data = await self._v2("PATCH", f"storage/folders/{seg(folder_uuid)}", payload=body)
        return parse_wire(WireFolder, data, "folder")

    async def move_folder(self, folder_uuid: UUID, new_parent: UUID | None) -> None:
        body: dict[str, Any] = {"folderUuids": [str(folder_uuid)]}
        if new_parent is not None:  # to the root: newParentUuid omitted entirely
            body["newParentUuid"] = str(new_parent)
        await self._v2("POST", "storage/folders/move", payload=body)

    async def delete_folder(self, folder_uuid: UUID) -> None:
        # Repeatable; a 404/403 after an ambiguous earlier attempt means the earlier attempt deleted it.
        await self._v2("DELETE", f"storage/folders/{seg(folder_uuid)}", gone_ok_after_retry=True)

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

        async def count_same() -> int:
            return len([d for d in await self.list_datasets(title_eq=title) if d.title == title])

        data = await self._create_once(f"dataset {title!r}", "datasets", body, read_back, count_same)
        if isinstance(data, UUID):
            return data
        if not isinstance(data, dict):
            raise EncordServerError("POST datasets: expected an object with `datasetUuid`")
        return parse_uuid(data.get("datasetUuid", data.get("datasetHash")), "dataset id")

    async def list_datasets(self, *, title_eq: str | None = None) -> list[WireDatasetInfo]:
        # DatasetsWithUserRolesListParams order: titleEq ... includeOrgAccess.
        data = await self._v2(
            "GET", "datasets/list", query=[("titleEq", title_eq), ("includeOrgAccess", False)]
        )
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise EncordServerError("GET datasets/list: expected an object with `result`")
        return [parse_wire(WireDatasetInfo, x, "dataset") for x in data["result"]]

    async def _read_dataset(self, dataset_hash: str, decode: Decode | None = None) -> Any:
        # 0.1.211 sends DatasetAccessSettings as a dataclass dict: fetch_client_metadata and fetch_rows.
        data = await self._v1(
            "dataset",
            "GET",
            uid=None,
            payload={"dataset_access_settings": {"fetch_client_metadata": False, "fetch_rows": True}},
            resource_type="dataset",
            resource_id=dataset_hash,
            decode=decode,
        )
        if not data:  # an empty `response`: no such dataset
            raise EncordNotFoundError(f"dataset {dataset_hash} not found")
        return data

    async def get_dataset(self, dataset_hash: str) -> WireDataset:
        return parse_wire(WireDataset, await self._read_dataset(dataset_hash), "dataset")

    async def dataset_rows(self, dataset_hash: str) -> DatasetRows:
        """The `dataset` GET of `get_dataset`, keeping only each data row's hash and backing item."""

        def decode(body: bytes) -> DatasetRows:
            envelope = DatasetRowsEnvelope.model_validate_json(body)
            if envelope.status != 200 or envelope.response is None:
                raise ValueError("not a successful dataset envelope")
            return envelope.response

        data = await self._read_dataset(dataset_hash, decode)
        return data if isinstance(data, DatasetRows) else parse_wire(DatasetRows, data, "dataset")

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
            rows.extend(parse_wire(WireDataRow, x, "data row") for x in data)
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
