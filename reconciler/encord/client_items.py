"""Item and upload-job operations of `EncordClient` (encord-api.md §6, §7); see client.py for the rules
every operation follows (SDK-exact requests, paging, retries, errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from reconciler.encord._client_base import ClientBase, parse_uuid, parse_wire, seg
from reconciler.encord._http import AmbiguousFailure, Retry
from reconciler.encord.upload_wire import DataUploadItems, PostUploadJobParams, wire_body
from reconciler.encord.wire import (
    ItemRef,
    ItemRefPage,
    WireItem,
    WireItemPage,
    WireUploadJob,
)
from reconciler.encord.wire_content import WireContentPage
from reconciler.errors import EncordAmbiguousError, EncordInvalidArgumentError

# Every `itemType` (§6.1, and the SDK 0.1.211 StorageItemType enum, which adds `timeseries`), in the
# enum's order: the recursive listing must name types, and must not miss any.
ITEM_TYPES = (
    "video",
    "image",
    "group",
    "imageGroup",
    "imageSequence",
    "dicomFile",
    "dicomSeries",
    "audio",
    "timeseries",
    "nifti",
    "plainText",
    "pdf",
    "scene",
)
BULK_CHUNK = 1000  # items per patch-bulk / delete request: the SDK's STORAGE_BUNDLE_CREATE_LIMIT
_ITEM_PATCH_FIELDS = ("name", "description", "clientMetadata")  # PatchItemPayload order
_UPLOAD_POLL_GRACE_SECONDS = 30.0


class ItemsClient(ClientBase):
    """Storage items (§6) and data-upload jobs (§7)."""

    # -- items (§6) -------------------------------------------------------------------------------
    def _items_query(self, recursive: bool) -> Callable[[str | None], list[tuple[str, Any]]]:
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

        return query

    async def iter_items(
        self, folder_uuid: UUID, *, recursive: bool = False
    ) -> AsyncIterator[list[WireItem]]:
        """Items of a folder, one page at a time."""
        # One validation per page, straight from the bytes: a managed folder may hold a million items.
        path = f"storage/folders/{seg(folder_uuid)}/items"
        async for page in self._lean_pages(path, self._items_query(recursive), WireItemPage):
            yield page.results

    async def iter_content_items(self, folder_uuid: UUID) -> AsyncIterator[list[dict[str, Any]]]:
        """A folder's own items, as `iter_items` reads them (the same request), each a checked camelCase
        dict (`wire_content`): what the plan compares with declared entries, a million at a time."""
        path = f"storage/folders/{seg(folder_uuid)}/items"
        async for page in self._lean_pages(path, self._items_query(False), WireContentPage):
            yield page.results

    async def iter_item_refs(
        self, folder_uuid: UUID, *, recursive: bool = False
    ) -> AsyncIterator[list[ItemRef]]:
        """The items of a folder (with `recursive`, of its whole subtree), a page of identities at a time:
        uuid, parent folder, tombstone and placeholder flags, data rows using it. No client metadata.

        The recursive form is the SDK's `StorageFolder.find_items`, which needs a search or item types:
        every item type is named, so nothing is filtered out. One chain of pages for a subtree, where
        listing each folder would cost a request per folder; items are attributed by their `parent`."""

        path = f"storage/folders/{seg(folder_uuid)}/items"
        async for page in self._lean_pages(path, self._refs_query(recursive, False), ItemRefPage):
            yield page.results

    async def iter_item_facts(
        self, folder_uuid: UUID, *, recursive: bool = False, metadata: bool = False
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """As `iter_item_refs`, with what membership rules look at: `name`, `itemType`, `url`, and the
        `clientMetadata` string only when `metadata` (the one listing flag that changes). Each item is a
        checked camelCase dict (`wire_content`): a rule may read 200,000 items, and a model each costs
        twice the decoding."""
        path = f"storage/folders/{seg(folder_uuid)}/items"
        async for page in self._lean_pages(path, self._refs_query(recursive, metadata), WireContentPage):
            yield page.results

    def _refs_query(self, recursive: bool, metadata: bool) -> Callable[[str | None], list[tuple[str, Any]]]:
        def query(token: str | None) -> list[tuple[str, Any]]:
            return [  # ListItemsParams field order
                ("isRecursive", recursive),
                ("itemTypes", list(ITEM_TYPES) if recursive else None),
                ("order", "name"),
                ("desc", False),
                ("pageToken", token),
                ("pageSize", self._page_size),
                ("signUrls", False),
                ("includeClientMetadata", metadata),
                # As the SDK's `list_items(include_client_metadata=False)` sends it; `find_items` does not.
                ("clientMetadataAsSignedUrl", None if recursive else False),
            ]

        return query

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
            f"storage/folders/{seg(folder_uuid)}/items/{seg(item_uuid)}",
            payload={"clientMetadata": client_metadata},
        )
        return parse_wire(WireItem, data, "item")

    async def iter_child_items(self, folder_uuid: UUID, item_uuid: UUID) -> AsyncIterator[list[WireItem]]:
        """The frames of an image group / image sequence / DICOM series, in frame order, a page at a time.

        As `StorageItem.get_child_items` (0.1.211): `GET …/items/{item}/child-items?signUrls=False`,
        nothing else; the SDK reads one page. Should the server send a `nextPageToken`, it is followed
        with `pageToken` added. Other item types have no children (the SDK does not even ask).
        """

        def query(token: str | None) -> list[tuple[str, Any]]:
            return [("signUrls", False), ("pageToken", token)]  # GetChildItemsParams; None is dropped

        path = f"storage/folders/{seg(folder_uuid)}/items/{seg(item_uuid)}/child-items"
        async for page in self._pages(path, query):
            yield [parse_wire(WireItem, x, "child item") for x in page]

    async def patch_items_bulk(self, patches: Mapping[UUID, Mapping[str, Any]]) -> None:
        """`PATCH storage/items/patch-bulk` `{"itemPatches": {uuid: patch}}`, at most 1,000 per request.

        A patch uses the wire names `name`, `description`, `clientMetadata` (a JSON object); None values
        are left out and an empty patch sends nothing, as the SDK's `StorageItem.update(bundle=...)`.
        """
        bodies: dict[str, dict[str, Any]] = {}
        for item_uuid, patch in patches.items():
            unknown = sorted(set(patch) - set(_ITEM_PATCH_FIELDS))
            if unknown:
                raise EncordInvalidArgumentError(
                    f"item {item_uuid}: cannot patch {', '.join(unknown)}; "
                    f"expected any of {', '.join(_ITEM_PATCH_FIELDS)}"
                )
            body = {k: patch[k] for k in _ITEM_PATCH_FIELDS if patch.get(k) is not None}
            if body:
                bodies[str(item_uuid)] = body
        entries = list(bodies.items())
        for start in range(0, len(entries), BULK_CHUNK):
            chunk = dict(entries[start : start + BULK_CHUNK])
            await self._v2("PATCH", "storage/items/patch-bulk", payload={"itemPatches": chunk})

    async def delete_items(
        self, folder_uuid: UUID, item_uuids: Sequence[UUID], *, remove_unused_frames: bool = True
    ) -> None:
        """`POST …/items/delete` `{"childUuids", "removeUnusedFrames"}`, at most 1,000 items per request.

        The items must be direct children of the folder. The SDK sends any number in one request; the
        chunks keep each request (and the server's transaction behind it) bounded, and a failure leaves
        at most one chunk undone. After an ambiguous failure, a 403/404 on the retry means done.
        """
        path = f"storage/folders/{seg(folder_uuid)}/items/delete"
        for start in range(0, len(item_uuids), BULK_CHUNK):
            chunk = [str(u) for u in item_uuids[start : start + BULK_CHUNK]]
            payload = {"childUuids": chunk, "removeUnusedFrames": remove_unused_frames}
            await self._v2("POST", path, payload=payload, gone_ok_after_retry=True)

    # -- upload jobs (§7) -------------------------------------------------------------------------
    async def start_upload_job(
        self,
        folder_uuid: UUID,
        *,
        external_files: dict[str, Any] | None = None,
        data_items: DataUploadItems | None = None,
        integration_uuid: UUID | None = None,
        ignore_errors: bool = False,
        file_name: str | None = None,
    ) -> UUID:
        """Start a registration job: `data_items` (the SDK's structured form) or `external_files` (a JSON
        registration spec, passed through verbatim, snake_case keys and all)."""
        if (external_files is None) == (data_items is None):
            raise EncordInvalidArgumentError(
                "start_upload_job needs exactly one of external_files or data_items"
            )
        params = PostUploadJobParams(
            data_items=data_items,
            external_files=external_files,
            integration_hash=integration_uuid,
            ignore_errors=ignore_errors,
            file_name=file_name,
        )
        body = wire_body(params)
        path = f"storage/folders/{seg(folder_uuid)}/data-upload-jobs"
        try:
            data = await self._v2("POST", path, payload=body, retry=Retry.NEVER)
        except AmbiguousFailure as amb:
            # An upload job cannot be looked up without its id, so it is never repeated here.
            raise EncordAmbiguousError(
                f"starting the registration job for folder {folder_uuid} failed, but a job may have started "
                f"anyway ({amb.error}). Check the folder in Encord; re-running apply is safe when the "
                "registration spec sets skip_duplicate_urls"
            ) from None
        return parse_uuid(data, "upload job id")

    async def get_upload_job(
        self, folder_uuid: UUID, job_uuid: UUID, *, timeout_seconds: int = 60
    ) -> WireUploadJob:
        data = await self._v2(
            "GET",
            f"storage/folders/{seg(folder_uuid)}/data-upload-jobs/{seg(job_uuid)}",
            query=[("timeoutSeconds", timeout_seconds)],
            read_timeout=timeout_seconds + _UPLOAD_POLL_GRACE_SECONDS,
        )
        return parse_wire(WireUploadJob, data, "upload job state")
