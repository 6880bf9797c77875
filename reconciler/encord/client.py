"""Async Encord client over httpx: v2 REST and v1 RPC, signed exactly as the official SDK signs.

CONTRACT (filled in by the client work; the provider codes against these signatures):
every method returns wire models from `reconciler.encord.wire` or plain JSON values, pages through
every list, and raises only `reconciler.errors.EncordError` subclasses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx

from reconciler.encord.auth import Auth
from reconciler.encord.wire import (
    WireDataRow,
    WireDataset,
    WireDatasetInfo,
    WireFolder,
    WireIntegration,
    WireItem,
    WireUploadJob,
)


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
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> EncordClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError

    # -- cloud integrations (§3) ------------------------------------------------------------------
    async def list_cloud_integrations(self) -> list[WireIntegration]:
        raise NotImplementedError

    async def sandbox_create_integration(self, title: str, provider: str) -> WireIntegration:
        """Emulator-only extension (`POST /sandbox/cloud-integrations`); Encord has no such route."""
        raise NotImplementedError

    async def sandbox_delete_integration(self, integration_uuid: UUID) -> None:
        """Emulator-only extension (`DELETE /sandbox/cloud-integrations/{uuid}`)."""
        raise NotImplementedError

    # -- metadata schema (§4) ---------------------------------------------------------------------
    async def get_metadata_schema(self) -> dict[str, Any]:
        """The raw v2 schema document; `{}` when the organisation has none (server answers null)."""
        raise NotImplementedError

    async def set_metadata_schema(self, schema: dict[str, Any]) -> None:
        """Full replacement of the schema document."""
        raise NotImplementedError

    # -- folders (§5) -----------------------------------------------------------------------------
    async def list_folders(self, parent: UUID | None = None) -> list[WireFolder]:
        """Direct children of `parent` (root level when None), every page."""
        raise NotImplementedError

    async def get_folder(self, folder_uuid: UUID) -> WireFolder:
        raise NotImplementedError

    async def create_folder(
        self,
        name: str,
        *,
        parent: UUID | None = None,
        description: str | None = None,
        client_metadata: dict[str, Any] | None = None,
    ) -> WireFolder:
        """Not idempotent: after an ambiguous failure, reads back (by parent and name) before retrying."""
        raise NotImplementedError

    async def update_folder(
        self,
        folder_uuid: UUID,
        *,
        name: str | None = None,
        description: str | None = None,
        client_metadata: dict[str, Any] | None = None,
    ) -> WireFolder:
        raise NotImplementedError

    async def move_folder(self, folder_uuid: UUID, new_parent: UUID | None) -> None:
        raise NotImplementedError

    async def delete_folder(self, folder_uuid: UUID) -> None:
        raise NotImplementedError

    # -- items (§6) -------------------------------------------------------------------------------
    def iter_items(self, folder_uuid: UUID, *, recursive: bool = False) -> AsyncIterator[list[WireItem]]:
        """Items of a folder, one page at a time."""
        raise NotImplementedError

    async def list_items(self, folder_uuid: UUID, *, recursive: bool = False) -> list[WireItem]:
        raise NotImplementedError

    async def update_item(
        self, folder_uuid: UUID, item_uuid: UUID, *, client_metadata: dict[str, Any]
    ) -> WireItem:
        raise NotImplementedError

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
        raise NotImplementedError

    async def get_upload_job(self, folder_uuid: UUID, job_uuid: UUID, *, timeout_seconds: int = 60) -> WireUploadJob:
        raise NotImplementedError

    # -- datasets (§8) ----------------------------------------------------------------------------
    async def create_dataset(self, title: str, description: str | None = None) -> UUID:
        """Not idempotent: after an ambiguous failure, reads back (by exact title) before retrying."""
        raise NotImplementedError

    async def list_datasets(self) -> list[WireDatasetInfo]:
        raise NotImplementedError

    async def get_dataset(self, dataset_hash: str) -> WireDataset:
        raise NotImplementedError

    async def link_items(self, dataset_hash: str, item_uuids: list[UUID]) -> list[WireDataRow]:
        """v1 `datasetlinkitems` with duplicates_behavior SKIP; chunked to 1000 per call."""
        raise NotImplementedError

    async def remove_data(self, dataset_hash: str, data_hashes: list[str]) -> None:
        """v1 `video` DELETE."""
        raise NotImplementedError
