"""The boundary between Encord wire and domain for changes: carry out each change of a plan.

Reading the live workspace is `reader.py`; the metadata schema's wire form is `schema_wire.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from reconciler.config.selection_check import Selection
from reconciler.encord.client import EncordClient
from reconciler.encord.provider_items import unlinked_items
from reconciler.encord.provider_selection import selected_new_items
from reconciler.encord.registrar import Registrar
from reconciler.encord.schema_wire import apply_schema_changes
from reconciler.errors import EncordError, PartialFailure
from reconciler.plan.diff_items import FolderWork
from reconciler.plan.model import Action, Change, Kind, parse_address
from reconciler.registration.desired import DesiredData

log = logging.getLogger("reconciler.provider")

# -- carrying out changes -------------------------------------------------------------------------


@dataclass
class ApplyContext:
    """UUIDs learned during apply, for changes that depend on resources created earlier in the run."""

    folder_uuids: dict[str, str] = field(default_factory=dict)
    dataset_uuids: dict[str, str] = field(default_factory=dict)
    integration_uuids: dict[str, str] = field(default_factory=dict)  # title -> uuid, live or created
    registrar: Registrar | None = None
    data: DesiredData | None = None
    works: dict[str, FolderWork] = field(default_factory=dict)
    gcs: Any = None  # engine.GcsAccess: the bucket side of integrations
    selection: Selection | None = None  # datasets' and splits' rules, for the items registered here
    outcomes: dict[str, str] = field(default_factory=dict)  # address -> what was done, where counts help


class EncordProvider:
    def __init__(self, client: EncordClient) -> None:
        self.client = client

    async def apply_schema(self, changes: list[Change]) -> None:
        """One read-modify-write of the whole document for every schema change in the plan.

        The schema is written by full replacement and has no version to write against, so it is read
        just before the write and read back after it: if another writer replaced the document meanwhile
        (our keys are not as we wrote them), our keys are merged into theirs once more; a second collision
        is an error rather than a silent overwrite. (A write that lands between our read and our write
        cannot be seen: two reconcilers are kept apart by the apply lock.)
        """
        ours = {change.payload["key"] for change in changes}
        document = await self.client.get_metadata_schema()
        for attempt in (1, 2):
            new = apply_schema_changes(document, changes)
            if new == document:
                return
            await self.client.set_metadata_schema(new)
            after = await self.client.get_metadata_schema()
            lost = sorted(k for k in ours if after.get(k) != new.get(k))
            if not lost:
                return
            log.warning("the metadata schema was replaced while it was written (keys %s)", lost)
            if attempt == 2:
                raise EncordError(
                    "the organisation's metadata schema was replaced by another writer while reconciler "
                    f"wrote it, twice (our keys {', '.join(lost)} were lost); run plan and apply again"
                )
            document = after

    async def apply(self, change: Change, ctx: ApplyContext) -> None:
        handler: Callable[[Change, ApplyContext], Awaitable[None]] = {
            Kind.INTEGRATION: self._integration,
            Kind.FOLDER: self._folder,
            Kind.DATASET: self._dataset,
            Kind.DATASET_ITEMS: self._dataset_items,
            Kind.FOLDER_ITEMS: self._folder_items,
            Kind.FOLDER_ITEMS_PRUNE: self._folder_items_prune,
            Kind.BUCKET_CORS: self._bucket,
            Kind.BUCKET_IAM: self._bucket,
        }[change.kind]
        await handler(change, ctx)

    async def _integration(self, change: Change, ctx: ApplyContext) -> None:
        if change.action == Action.CREATE:
            created = await self.client.sandbox_create_integration(
                change.payload["title"], change.payload["provider"]
            )
            ctx.integration_uuids[created.title] = str(created.integration_uuid)
        elif change.action == Action.DELETE:
            await self.client.sandbox_delete_integration(UUID(change.payload["uuid"]))

    async def _folder(self, change: Change, ctx: ApplyContext) -> None:
        _, path = parse_address(change.address)
        p = change.payload
        if change.action == Action.CREATE:
            parent = p.get("parent_uuid") or (
                ctx.folder_uuids.get(p["parent_path"]) if p.get("parent_path") else None
            )
            if p.get("parent_path") and parent is None:
                raise EncordError(f"parent folder {p['parent_path']!r} has no UUID (was it created?)")
            created = await self.client.create_folder(
                p["name"],
                parent=UUID(parent) if parent else None,
                description=p.get("description") or None,
                client_metadata=p.get("client_metadata") or None,
            )
            ctx.folder_uuids[path] = str(created.uuid)
        elif change.action == Action.UPDATE:
            if p.get("move_to") is not None:
                target = p["move_to"]
                parent = target.get("parent_uuid") or (
                    ctx.folder_uuids.get(target["parent_path"]) if target.get("parent_path") else None
                )
                if target.get("parent_path") and parent is None:
                    raise EncordError(
                        f"parent folder {target['parent_path']!r} has no UUID (was it created?)"
                    )
                await self.client.move_folder(UUID(p["uuid"]), UUID(parent) if parent else None)
            fields = p["set"]
            await self.client.update_folder(
                UUID(p["uuid"]),
                name=fields.get("name"),
                description=fields.get("description"),
                client_metadata=fields.get("client_metadata"),
            )
            ctx.folder_uuids[path] = p["uuid"]
        elif change.action == Action.DELETE:
            await self.client.delete_folder(UUID(p["uuid"]))

    async def _dataset(self, change: Change, ctx: ApplyContext) -> None:
        if change.action == Action.CREATE:
            uuid = await self.client.create_dataset(
                change.payload["title"], change.payload.get("description") or None
            )
            ctx.dataset_uuids[change.payload["title"]] = str(uuid)
        elif change.action == Action.DELETE:  # planned as executable on the sandbox only
            await self.client.sandbox_delete_dataset(change.payload["uuid"])

    async def _dataset_items(self, change: Change, ctx: ApplyContext) -> None:
        p = change.payload
        dataset = p.get("dataset_uuid") or ctx.dataset_uuids.get(p["title"])
        if dataset is None:
            raise EncordError(f"dataset {p['title']!r} has no UUID (was it created?)")
        if p.get("unlink"):
            await self.client.remove_data(dataset, list(p["unlink"]))
        link = list(p.get("link") or [])
        if ctx.registrar is not None:
            for path in p.get("link_registered_in") or []:
                link += ctx.registrar.tally.registered.get(path, [])
                # Also what the folder holds unlinked: items an earlier, cancelled apply registered.
                folder_uuid = ctx.folder_uuids.get(path)
                pruned = {uuid for uuid, _ in ctx.works[path].delete} if path in ctx.works else set()
                if folder_uuid is not None:
                    link += [u for u in await unlinked_items(self.client, folder_uuid) if u not in pruned]
        for path in p.get("select_registered_in") or []:
            folder_uuid = ctx.folder_uuids.get(path)
            if ctx.selection is None or folder_uuid is None:
                continue  # a retry of failed files: the next plan matches them
            gone = frozenset(u for u, _ in ctx.works[path].delete) if path in ctx.works else frozenset()
            # Only the items this apply registered: the reviewed plan decided on every other one, with the
            # titles and metadata this apply writes (duplicates and unkeyed items are left out there too).
            new = frozenset(ctx.registrar.tally.registered.get(path, [])) if ctx.registrar else frozenset()
            link += await selected_new_items(
                self.client, ctx.selection, p["title"], path, folder_uuid, gone, only=new
            )
        link = list(dict.fromkeys(link))
        if link:
            await self.client.link_items(dataset, [UUID(u) for u in link])
        done = [f"{len(link)} item(s) linked"] if link or not p.get("unlink") else []
        done += [f"{len(p['unlink'])} item(s) unlinked"] if p.get("unlink") else []
        ctx.outcomes[change.address] = ", ".join(done)

    async def _bucket(self, change: Change, ctx: ApplyContext) -> None:
        """GCS calls block: they run in a worker thread."""
        if ctx.gcs is None:
            raise EncordError(f"{change.address}: no GCS connection in this apply")
        p = change.payload
        if change.kind == Kind.BUCKET_CORS:
            await asyncio.to_thread(ctx.gcs.write_cors, p["bucket"], p["cors"])
        else:
            add = tuple(p["add"]) if p.get("add") else None
            remove = tuple(p["remove"]) if p.get("remove") else None
            await asyncio.to_thread(ctx.gcs.edit_iam, p["bucket"], add, remove)

    def _folder_uuid(self, change: Change, ctx: ApplyContext) -> str:
        p = change.payload
        folder_uuid = p.get("folder_uuid") or ctx.folder_uuids.get(p["folder_path"])
        if folder_uuid is None:
            raise EncordError(f"folder {p['folder_path']!r} has no UUID (was it created?)")
        return str(folder_uuid)

    async def _folder_items(self, change: Change, ctx: ApplyContext) -> None:
        path = change.payload["folder_path"]
        if ctx.registrar is None or ctx.data is None or path not in ctx.works:
            raise EncordError(f"{change.address}: the folder's declared items were not loaded for this apply")
        work, folder = ctx.works[path], ctx.data.folders[path]
        folder_uuid = self._folder_uuid(change, ctx)
        ctx.folder_uuids[path] = folder_uuid  # the datasets that draw from it link what it holds
        missing = sorted({s.integration for s, _ in folder.sources} - ctx.integration_uuids.keys())
        if missing and work.register:
            raise EncordError(f"{change.address}: integration(s) not found in Encord: {', '.join(missing)}")
        await ctx.registrar.update(work)
        await ctx.registrar.register(folder, work, folder_uuid, ctx.integration_uuids)
        failed = [e for e in ctx.registrar.tally.errors if e.folder == path]
        if failed:
            raise PartialFailure(
                f"{len(failed)} of {len(work.register)} file(s) failed to register (listed below); the rest "
                "were registered"
            )

    async def _folder_items_prune(self, change: Change, ctx: ApplyContext) -> None:
        path = change.payload["folder_path"]
        if ctx.registrar is None or path not in ctx.works:
            raise EncordError(f"{change.address}: the folder's declared items were not loaded for this apply")
        await ctx.registrar.delete(self._folder_uuid(change, ctx), [u for u, _ in ctx.works[path].delete])
