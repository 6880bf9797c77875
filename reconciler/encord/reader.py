"""Reading the live workspace: wire listings in, `reconciler.live.LiveState` out.

Which listing serves what, and why (encord-api.md §5, §6, §8):

* The folder tree: `GET storage/search/folders` (the SDK's `find_storage_folders`), the recursive search
  from the top level, 1,000 folders a page. Paths are built from the `parent` UUIDs. One chain of pages
  for the whole tree, where listing each folder's children costs a request per folder.
* Items a dataset draws from: the item listings (`StorageFolder.find_items`, every item type named, own
  or recursive) with the fewest expected pages that cover every folder the plan needs, chosen over the
  whole tree at once (`listings.py` states the rule), so datasets that share folders share listings and
  the count of requests follows the pages, not how the config names folders. Each item is attributed to
  its folder by its `parent`; one of a folder nobody needs is dropped on arrival. Pages are validated as
  identities only (`wire.ItemRef`), never as whole items, and without client metadata.
* Folders that declare `data`: their own listing with client metadata, and each group's frames (the
  plan compares titles, metadata and frame URLs there), in `provider_items.read_contents`.
* Datasets: the list (not paged), then the v1 `dataset` GET of only the datasets whose links the plan
  compares, each data row kept as its hash and backing item (`wire.DataRowRef`).

The reads overlap: the dataset list and dataset reads run beside the folder tree, and item listings start
as soon as the tree is known. Requests in flight are bounded by one gate (`concurrency`) in which the
multi-page item listings go before single dataset reads, so the critical path is the longest chain, not
the sum of the phases.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from reconciler.defaults import DEFAULT_CONCURRENCY, DEFAULT_PAGE_SIZE
from reconciler.encord.client import EncordClient
from reconciler.encord.listings import choose_listings
from reconciler.encord.provider_items import decode_metadata, read_contents
from reconciler.encord.schema_wire import schema_key_from_wire
from reconciler.encord.wire import WireFolder
from reconciler.live import FolderContents, FolderIndex, LiveDataset, LiveFolder, LiveIntegration, LiveState
from reconciler.registration.entry import GROUP_TYPES, ITEM_TYPES
from reconciler.selection.rules import Candidate

T = TypeVar("T")

GROUP_ITEM_TYPES = frozenset(ITEM_TYPES[t] for t in GROUP_TYPES)  # Encord's names

# A data row's storage_location for files Encord stores itself (the SDK's StorageLocation.CORD_STORAGE).
CORD_STORAGE = 0

# Who goes first when the gate is full: listings that may run to many pages, then single reads.
CHAINS, SINGLES = 0, 1


@dataclass(frozen=True)
class ReadScope:
    """What to read: only the sections the config manages, and items only where a dataset needs them."""

    integrations: bool = True
    schema: bool = True
    folders: bool = True
    datasets: bool = True
    item_folders: tuple[tuple[str, bool], ...] = ()  # (path, recursive)
    content_folders: frozenset[str] = frozenset()  # folders whose items are declared: read with metadata
    # folders membership rules draw from: their items are read as candidates (title, type, URL), and with
    # clientMetadata only below `metadata_folders` (a rule's `where`, a split's `group_by`)
    candidate_folders: tuple[tuple[str, bool], ...] = ()
    metadata_folders: tuple[tuple[str, bool], ...] = ()
    dataset_items_for: frozenset[str] = frozenset()  # dataset titles whose linked items matter
    # when set, every dataset not titled in it is pruned: its links are read too
    pruned_datasets_except: frozenset[str] | None = None

    def reads_links_of(self, title: str) -> bool:
        pruned = self.pruned_datasets_except is not None and title not in self.pruned_datasets_except
        return title in self.dataset_items_for or pruned


class Gate:
    """At most `limit` holders at once; waiters are served by priority, then in arrival order."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), waiter))
        try:
            await waiter  # the releaser handed its place over
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    @asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    def slot(self, priority: int) -> GateSlot:
        return GateSlot(self, priority)


class GateSlot:
    """`async with` one place of the gate, reusable by any number of tasks (a semaphore's interface)."""

    def __init__(self, gate: Gate, priority: int) -> None:
        self._gate, self._priority = gate, priority

    async def __aenter__(self) -> None:
        await self._gate.acquire(self._priority)

    async def __aexit__(self, *exc: object) -> None:
        self._gate.release()


async def read_live(
    client: EncordClient, scope: ReadScope, *, concurrency: int = DEFAULT_CONCURRENCY
) -> LiveState:
    gate = Gate(concurrency)
    ambiguities: list[str] = []

    async def single(call: Callable[[], Awaitable[T]]) -> T:
        async with gate.hold(SINGLES):
            return await call()

    async def integrations() -> dict[str, LiveIntegration]:
        found: dict[str, LiveIntegration] = {}
        if scope.integrations or scope.content_folders:
            for integ in await single(client.list_cloud_integrations):
                if integ.title in found:
                    ambiguities.append(
                        f"two cloud integrations are titled {integ.title!r}; reconciler matches by title"
                    )
                found[integ.title] = LiveIntegration(uuid=str(integ.integration_uuid), title=integ.title)
        return found

    async def schema() -> dict[str, Any]:
        return await single(client.get_metadata_schema) if scope.schema else {}

    async def datasets() -> dict[str, LiveDataset]:
        if not scope.datasets:
            return {}
        found: dict[str, LiveDataset] = {}
        for info in await single(client.list_datasets):
            if info.title in found:
                ambiguities.append(f"two datasets are titled {info.title!r}; reconciler matches by title")
            found[info.title] = LiveDataset(
                uuid=str(info.dataset_uuid), title=info.title, description=info.description or ""
            )

        async def links(ds: LiveDataset) -> None:
            rows = await single(lambda: client.dataset_rows(ds.uuid))
            linked = {item: r["data_hash"] for r in rows.data_rows if (item := r.get("backing_item_uuid"))}
            hosted = sorted(
                item
                for r in rows.data_rows
                if (item := r.get("backing_item_uuid")) and r.get("storage_location") == CORD_STORAGE
            )
            found[ds.title] = ds.model_copy(update={"linked_items": linked, "hosted_items": hosted})

        await asyncio.gather(*(links(d) for d in list(found.values()) if scope.reads_links_of(d.title)))
        return found

    async def tree_and_items() -> tuple[
        dict[str, LiveFolder], dict[str, list[str]], dict[str, FolderContents], dict[str, list[Candidate]]
    ]:
        if not (scope.folders or scope.item_folders or scope.content_folders):
            return {}, {}, {}, {}
        async with gate.hold(CHAINS):
            wire = [f async for page in client.iter_folder_tree() for f in page]
        folders = build_tree(wire, ambiguities)
        managed = sorted(p for p in scope.content_folders if p in folders)
        read, (items, candidates) = await asyncio.gather(
            asyncio.gather(*(_contents(client, folders[p], gate) for p in managed)),
            _item_refs(client, folders, scope, gate),
        )
        contents = dict(read)
        for path, c in contents.items():
            items[path] = sorted([i.uuid for i in c.items.values()] + c.unkeyed + c.duplicates)
        for path in FolderIndex(folders).paths_in(scope.candidate_folders) & contents.keys():
            candidates[path] = content_candidates(path, contents[path])
        return folders, items, contents, candidates

    (integ, schema_doc, found_datasets, (folders, folder_items, contents, candidates)) = await asyncio.gather(
        integrations(), schema(), datasets(), tree_and_items()
    )
    return LiveState(
        integrations=integ,
        schema_doc=schema_doc,
        schema_keys={k: schema_key_from_wire(v) for k, v in schema_doc.items()},
        folders=folders,
        folder_items=folder_items,
        contents=contents,
        candidates=candidates,
        datasets=found_datasets,
        ambiguities=sorted(ambiguities),  # the reads ran side by side: an order that does not vary
    )


async def _contents(client: EncordClient, folder: LiveFolder, gate: Gate) -> tuple[str, FolderContents]:
    # the listing and each group's frames take a place of the gate, so a folder's groups read in parallel
    return folder.path, await read_contents(client, folder.uuid, gate.slot(CHAINS))


def path_segment(name: str) -> str:
    """A live folder name as one segment of a path: a `/` in the name (Encord allows it; the config
    cannot declare it) is written `%2F`, so `raw/cams` the folder never reads as `raw` > `cams`."""
    return name.replace("/", "%2F")


def build_tree(wire: Iterable[WireFolder], ambiguities: list[str]) -> dict[str, LiveFolder]:
    """Paths from parent UUIDs, walked from the top level down. Of two folders with one path the first in
    name order (then creation, then UUID) is kept and the other, with its subtree, left out and reported.
    A legacy dataset's mirror folder belongs to that dataset, not to us; a folder whose parent is not
    visible is not part of the tree."""
    children: dict[UUID | None, list[WireFolder]] = defaultdict(list)
    for folder in wire:
        children[folder.parent].append(folder)
    folders: dict[str, LiveFolder] = {}
    level: list[tuple[str | None, UUID | None]] = [(None, None)]
    while level:
        next_level: list[tuple[str | None, UUID | None]] = []
        for parent_path, parent_uuid in level:
            kids = sorted(children.get(parent_uuid, ()), key=_listing_order)
            for child in kids:
                if child.synced_dataset_hash is not None:
                    continue
                name = path_segment(child.name)
                path = f"{parent_path}/{name}" if parent_path else name
                if path in folders:
                    ambiguities.append(f"two live folders have the path {path!r}; rename one in Encord")
                    continue
                folders[path] = _live_folder(child, path)
                next_level.append((path, child.uuid))
        level = next_level
    return folders


def _listing_order(folder: WireFolder) -> tuple[str, str, str]:
    created = folder.created_at.isoformat() if folder.created_at else ""
    return folder.name, created, str(folder.uuid)


def _live_folder(wire: WireFolder, path: str) -> LiveFolder:
    return LiveFolder(
        uuid=str(wire.uuid),
        path=path,
        parent_uuid=str(wire.parent) if wire.parent else None,
        name=wire.name,
        description=wire.description or "",
        client_metadata=decode_metadata(wire.client_metadata),
    )


def listing_plan(
    folders: dict[str, LiveFolder],
    item_folders: Iterable[tuple[str, bool]],
    skip: Iterable[str],
    page_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[set[str], list[tuple[str, bool]]]:
    """The folders whose items are needed (less those read whole, `skip`), and the listings with the
    fewest expected pages that cover them (`listings.choose_listings`)."""
    skipped = set(skip)
    needed = FolderIndex(folders).paths_in(item_folders) - skipped
    return needed, choose_listings(folders.keys(), needed, skipped & folders.keys(), page_size)


async def _item_refs(
    client: EncordClient, folders: dict[str, LiveFolder], scope: ReadScope, gate: Gate
) -> tuple[dict[str, list[str]], dict[str, list[Candidate]]]:
    """Each needed folder's item uuids; and, for folders membership rules draw from, their candidates."""
    needed, listings = listing_plan(folders, scope.item_folders, scope.content_folders, client.page_size)
    index = FolderIndex(folders)
    wanted = index.paths_in(scope.candidate_folders) & needed
    with_metadata = index.paths_in(scope.metadata_folders) & wanted
    path_of = {folders[p].uuid: p for p in needed}
    found: dict[str, list[str]] = {p: [] for p in needed}
    candidates: dict[str, list[Candidate]] = {p: [] for p in wanted}

    def serves(path: str, recursive: bool, among: set[str]) -> bool:
        return path in among or (recursive and any(p.startswith(path + "/") for p in among))

    async def listing(path: str, recursive: bool) -> None:
        async with gate.hold(CHAINS):
            if not serves(path, recursive, wanted):
                async for page in client.iter_item_refs(UUID(folders[path].uuid), recursive=recursive):
                    for item in page:
                        owner = path_of.get(item["parent"])
                        if owner is not None and not (item.get("isTombstone") or item.get("isPlaceholder")):
                            found[owner].append(item["uuid"])
                return
            metadata = serves(path, recursive, with_metadata)
            uuid = UUID(folders[path].uuid)
            async for facts in client.iter_item_facts(uuid, recursive=recursive, metadata=metadata):
                for fact in facts:
                    owner = path_of.get(fact.get("parent") or "")
                    if owner is None or fact.get("isTombstone") or fact.get("isPlaceholder"):
                        continue
                    found[owner].append(fact["uuid"])
                    if owner in wanted:
                        candidates[owner].append(facts_candidate(fact, owner, owner in with_metadata))

    await asyncio.gather(*(listing(p, rec) for p, rec in listings))
    for uuids in found.values():
        uuids.sort()
    return found, candidates


def facts_candidate(fact: dict[str, Any], folder: str, metadata: bool) -> Candidate:
    """A listed item (`iter_item_facts`) as rules see it; its metadata parsed only when a rule needs it."""
    parsed = decode_metadata(fact.get("clientMetadata")) if metadata else {}
    return Candidate(fact["uuid"], folder, fact["name"], fact.get("url"), fact["itemType"], parsed)


def content_candidates(path: str, contents: FolderContents) -> list[Candidate]:
    """A managed folder's items as rules see them (read whole already, metadata included). Items with no
    URL to key them by are not candidates: the plan counts them apart."""
    out = []
    for key, entry in contents.items.items():
        url = key[0] if len(key) == 1 and entry.item_type not in GROUP_ITEM_TYPES else None
        out.append(Candidate(entry.uuid, path, entry.title, url, entry.item_type, entry.client_metadata))
    return out
