"""The one boundary between Encord wire and domain: read the live workspace, carry out changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from reconciler.encord.client import EncordClient
from reconciler.encord.provider_items import decode_metadata, read_contents
from reconciler.encord.registrar import Registrar
from reconciler.encord.wire import WireFolder
from reconciler.errors import EncordError, PartialFailure
from reconciler.live import LiveDataset, LiveFolder, LiveIntegration, LiveSchemaKey, LiveState
from reconciler.plan.diff_items import FolderWork
from reconciler.plan.model import Action, Change, Kind, parse_address
from reconciler.registration.desired import DesiredData

log = logging.getLogger("reconciler.provider")

T = TypeVar("T")

# The SDK writes every scalar as a `variant` with a hint; these are the hints it knows.
VARIANT_HINTS = {"number", "varchar", "text", "boolean", "datetime", "uuid"}


# -- metadata schema: wire <-> domain ------------------------------------------------------------


def schema_key_from_wire(option: Any) -> LiveSchemaKey:
    if not isinstance(option, dict):
        return LiveSchemaKey(type=None)
    ty = option.get("ty")
    if ty == "tombstone":
        previous = option.get("deleted_ty")
        inner = schema_key_from_wire(previous) if previous else LiveSchemaKey(type=None)
        return inner.model_copy(update={"deleted": True})
    if ty == "variant":
        return LiveSchemaKey(type=str(option.get("hint") or "text"))
    if ty == "enum":
        return LiveSchemaKey(type="enum", values=tuple(sorted(option.get("values") or [])))
    if ty == "embedding":
        return LiveSchemaKey(type="embedding", size=option.get("size"))
    return LiveSchemaKey(type=str(ty) if ty else None)


def schema_option_to_wire(shape: dict[str, Any]) -> dict[str, Any]:
    """A domain shape (`{"type": ..., "values"?, "size"?}`) as the SDK would write it."""
    ty = shape["type"]
    if ty == "enum":
        return {"ty": "enum", "values": sorted(shape["values"])}
    if ty == "embedding":
        return {"ty": "embedding", "size": shape["size"], "api": None}
    if ty in VARIANT_HINTS:
        return {"ty": "variant", "hint": ty}
    return {"ty": ty}


def tombstone(option: Any) -> dict[str, Any]:
    return {"ty": "tombstone", "deleted_ty": option if isinstance(option, dict) else None}


def apply_schema_changes(document: dict[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """The new full schema document: declared keys changed, every other key left exactly as it was."""
    new = dict(document)
    for change in changes:
        key = change.payload["key"]
        if change.action == Action.DELETE:
            current = new.get(key)
            if isinstance(current, dict) and current.get("ty") != "tombstone":
                new[key] = tombstone(current)
        else:
            new[key] = schema_option_to_wire(change.payload["shape"])
    return new


# -- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadScope:
    """What to read: only the sections the config manages, and items only where a dataset needs them."""

    integrations: bool = True
    schema: bool = True
    folders: bool = True
    datasets: bool = True
    item_folders: tuple[tuple[str, bool], ...] = ()  # (path, recursive)
    content_folders: frozenset[str] = frozenset()  # folders whose items are declared: read with metadata
    dataset_items_for: frozenset[str] = frozenset()  # dataset titles whose linked items matter


async def _bounded(limit: int, jobs: Iterable[Awaitable[T]]) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with semaphore:
            return await job

    return await asyncio.gather(*(run(j) for j in jobs))


async def read_live(client: EncordClient, scope: ReadScope, *, concurrency: int = 8) -> LiveState:
    ambiguities: list[str] = []
    integrations: dict[str, LiveIntegration] = {}
    schema_doc: dict[str, Any] = {}
    folders: dict[str, LiveFolder] = {}
    if scope.integrations or scope.content_folders:
        for integ in await client.list_cloud_integrations():
            if integ.title in integrations:
                ambiguities.append(
                    f"two cloud integrations are titled {integ.title!r}; reconciler matches by title"
                )
            integrations[integ.title] = LiveIntegration(uuid=str(integ.integration_uuid), title=integ.title)
    if scope.schema:
        schema_doc = await client.get_metadata_schema()
    if scope.folders or scope.item_folders or scope.content_folders:
        folders = await _read_folders(client, concurrency, ambiguities)
    semaphore = asyncio.Semaphore(concurrency)
    content_paths = sorted(p for p in scope.content_folders if p in folders)
    read = await asyncio.gather(*(read_contents(client, folders[p].uuid, semaphore) for p in content_paths))
    contents = dict(zip(content_paths, read, strict=True))
    folder_items: dict[str, list[str]] = {
        path: sorted([i.uuid for i in c.items.values()] + c.unkeyed + c.duplicates)
        for path, c in contents.items()
    }
    if scope.item_folders:
        wanted = [
            path
            for path in folders
            if path not in contents
            and any(path == p or (rec and path.startswith(p + "/")) for p, rec in scope.item_folders)
        ]
        listed = await _bounded(concurrency, (client.list_items(UUID(folders[p].uuid)) for p in wanted))
        for path, items in zip(wanted, listed, strict=True):
            folder_items[path] = sorted(
                str(i.uuid) for i in items if not i.is_tombstone and not i.is_placeholder
            )
    datasets: dict[str, LiveDataset] = {}
    if scope.datasets:
        infos = await client.list_datasets()
        for info in infos:
            if info.title in datasets:
                ambiguities.append(f"two datasets are titled {info.title!r}; reconciler matches by title")
            datasets[info.title] = LiveDataset(
                uuid=str(info.dataset_uuid), title=info.title, description=info.description or ""
            )
        wanted_ds = [d for d in datasets.values() if d.title in scope.dataset_items_for]
        fetched = await _bounded(concurrency, (client.get_dataset(d.uuid) for d in wanted_ds))
        for ds, full in zip(wanted_ds, fetched, strict=True):
            linked = {str(r.backing_item_uuid): r.data_hash for r in full.data_rows if r.backing_item_uuid}
            datasets[ds.title] = ds.model_copy(update={"linked_items": linked})
    return LiveState(
        integrations=integrations,
        schema_doc=schema_doc,
        schema_keys={k: schema_key_from_wire(v) for k, v in schema_doc.items()},
        folders=folders,
        folder_items=folder_items,
        contents=contents,
        datasets=datasets,
        ambiguities=ambiguities,
    )


def path_segment(name: str) -> str:
    """A live folder name as one segment of a path: a `/` in the name (Encord allows it; the config
    cannot declare it) is written `%2F`, so `raw/cams` the folder never reads as `raw` > `cams`."""
    return name.replace("/", "%2F")


async def _read_folders(
    client: EncordClient, concurrency: int, ambiguities: list[str]
) -> dict[str, LiveFolder]:
    """The whole tree, level by level, each level's listings in parallel."""
    folders: dict[str, LiveFolder] = {}
    level: list[tuple[str | None, UUID | None]] = [(None, None)]
    while level:
        listings = await _bounded(concurrency, (client.list_folders(uuid) for _, uuid in level))
        next_level: list[tuple[str | None, UUID | None]] = []
        for (parent_path, _), children in zip(level, listings, strict=True):
            for child in children:
                if child.synced_dataset_hash is not None:
                    continue  # a legacy dataset's mirror folder belongs to that dataset, not to us
                name = path_segment(child.name)
                path = f"{parent_path}/{name}" if parent_path else name
                if path in folders:
                    ambiguities.append(f"two live folders have the path {path!r}; rename one in Encord")
                    continue
                folders[path] = _live_folder(child, path)
                next_level.append((path, child.uuid))
        level = next_level
    return folders


def _live_folder(wire: WireFolder, path: str) -> LiveFolder:
    return LiveFolder(
        uuid=str(wire.uuid),
        path=path,
        parent_uuid=str(wire.parent) if wire.parent else None,
        name=wire.name,
        description=wire.description or "",
        client_metadata=decode_metadata(wire.client_metadata),
    )


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

    async def _dataset_items(self, change: Change, ctx: ApplyContext) -> None:
        p = change.payload
        dataset = p.get("dataset_uuid") or ctx.dataset_uuids.get(p["title"])
        if dataset is None:
            raise EncordError(f"dataset {p['title']!r} has no UUID (was it created?)")
        if p.get("unlink"):
            await self.client.remove_data(dataset, list(p["unlink"]))
        link = [UUID(u) for u in p.get("link") or []]
        if ctx.registrar is not None:
            for path in p.get("link_registered_in") or []:
                link += [UUID(u) for u in ctx.registrar.tally.registered.get(path, [])]
        if link:
            await self.client.link_items(dataset, link)

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
