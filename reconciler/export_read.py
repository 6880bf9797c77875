"""What `reconciler export` reads: every folder's items and every dataset's rows, and what it infers
from them that the API does not say (a dataset's folders, an integration's provider)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from reconciler.defaults import DEFAULT_CONCURRENCY
from reconciler.encord.client import EncordClient
from reconciler.encord.provider_items import GROUP_BATCH, GROUP_ITEM_TYPES, decode_metadata
from reconciler.encord.reader import ReadScope, read_live
from reconciler.encord.upload_wire import MEDIA_MODELS, snake_to_camel
from reconciler.live import LiveState
from reconciler.plan.diff_datasets import desired_items
from reconciler.registration.entry import DATA_TYPES
from reconciler.registration.validate import readable, split_url

PROVIDERS = ("gcp", "aws", "azure", "otc")
PROVIDER_BY_LOCATION = {"gcp": "gcp", "s3": "aws", "azure": "azure", "openTelekom": "otc"}  # storageLocation
FolderRef = str | dict[str, Any]


# -- reading ----------------------------------------------------------------------------------------


def complete_media(item_type: str, reported: dict[str, Any]) -> dict[str, Any] | None:
    """The media metadata to declare for an item: every field its type's model needs, as Encord reports
    them, or None when it reports fewer (a PDF's page count never is). Encord does not say whether they
    were declared at registration or read from the file; either way they describe it."""
    model = MEDIA_MODELS.get(DATA_TYPES.get(item_type, ""))
    if model is None:
        return None
    names = [snake_to_camel(name) for name in model.model_fields]
    return {name: reported[name] for name in names} if all(name in reported for name in names) else None


@dataclass(slots=True)
class ExportItem:
    uuid: str
    item_type: str
    title: str
    client_metadata: dict[str, Any]
    urls: tuple[str, ...]  # its URL, or a group's frame URLs in order; () when it has none to key it by
    integration: str | None  # the integration's uuid
    location: str | None  # Encord's storageLocation
    media: dict[str, Any] | None = None  # media metadata, when Encord reports every field its type needs


@dataclass
class ExportRead:
    live: LiveState  # with every dataset's linked items
    items: dict[str, list[ExportItem]]  # folder path -> the items directly in it


async def read_for_export(
    client: EncordClient, *, with_items: bool, concurrency: int = DEFAULT_CONCURRENCY
) -> ExportRead:
    """Everything an export needs; groups' frames (one request per group) only `with_items`."""
    live = await read_live(client, ReadScope(), concurrency=concurrency)
    if live.datasets:
        titles = frozenset(live.datasets)
        scope = ReadScope(integrations=False, schema=False, folders=False, dataset_items_for=titles)
        linked = await read_live(client, scope, concurrency=concurrency)
        live = live.model_copy(update={"datasets": linked.datasets})
    semaphore = asyncio.Semaphore(concurrency)
    paths = sorted(live.folders)
    read = await asyncio.gather(*(_items(client, live.folders[p].uuid, with_items, semaphore) for p in paths))
    return ExportRead(live, dict(zip(paths, read, strict=True)))


async def _items(
    client: EncordClient, folder_uuid: str, with_items: bool, semaphore: asyncio.Semaphore
) -> list[ExportItem]:
    items: list[ExportItem] = []
    async with semaphore:
        async for page in client.iter_items(UUID(folder_uuid)):
            for w in page:
                if w.is_tombstone or w.is_placeholder:
                    continue  # as read_live: never linked or compared
                urls = (w.url,) if w.url and w.item_type not in GROUP_ITEM_TYPES else ()
                integration = str(w.integration_hash) if w.integration_hash else None
                metadata = decode_metadata(w.client_metadata)
                location = w.storage_location
                media = complete_media(w.item_type, w.media())
                items.append(
                    ExportItem(str(w.uuid), w.item_type, w.name, metadata, urls, integration, location, media)
                )

    async def frames(item: ExportItem) -> None:
        urls: list[str] = []
        async with semaphore:
            async for page in client.iter_child_items(UUID(folder_uuid), UUID(item.uuid)):
                urls.extend(child.url or "" for child in page)
        item.urls = tuple(urls) if urls and all(urls) else ()  # keyed as read_contents keys groups

    groups = [i for i in items if i.item_type in GROUP_ITEM_TYPES] if with_items else []
    for start in range(0, len(groups), GROUP_BATCH):
        await asyncio.gather(*(frames(g) for g in groups[start : start + GROUP_BATCH]))
    return items


# -- inferring what the API does not say --------------------------------------------------------------


def infer_folders(
    folder_items: Mapping[str, Collection[str]], linked: Collection[str]
) -> tuple[list[FolderRef] | None, str]:
    """The fewest folder references (recursive where a whole subtree is linked) whose items are exactly
    `linked`; or None, and why no set of folders is."""
    wanted = set(linked)
    if not wanted:
        return None, "it holds no items of any folder"
    items = {path: set(uuids) for path, uuids in folder_items.items()}
    outside = len(wanted - set().union(*items.values()))
    if outside:
        return None, f"{outside} of its {len(wanted)} items are in no folder exported here (or hidden)"
    hits = {path: len(uuids & wanted) for path, uuids in items.items()}
    partial = sorted(p for p, uuids in items.items() if 0 < hits[p] < len(uuids))
    if partial:
        more = f" (and part of {len(partial) - 1} more folder(s))" if len(partial) > 1 else ""
        first = partial[0]
        return None, f"it holds {hits[first]} of the {len(items[first])} items of {first}{more}"
    children: dict[str, list[str]] = defaultdict(list)
    for path in items:
        children[path.rpartition("/")[0]].append(path)
    whole: dict[str, bool] = {}  # every item of the subtree is linked
    some: dict[str, bool] = {}  # some item of the subtree is linked
    for path in sorted(items, key=lambda p: -p.count("/")):
        kids = children.get(path, [])
        whole[path] = hits[path] == len(items[path]) and all(whole[k] for k in kids)
        some[path] = hits[path] > 0 or any(some[k] for k in kids)
    refs: list[FolderRef] = []

    def select(path: str) -> None:
        if whole[path] and some[path]:
            refs.append(path)
        elif some[path]:
            refs.extend([{"path": path, "recursive": False}] if hits[path] else [])
            for kid in sorted(children.get(path, [])):
                select(kid)

    for root in sorted(children.get("", [])):
        select(root)
    pairs = [(r, True) if isinstance(r, str) else (r["path"], False) for r in refs]
    if desired_items(LiveState.model_construct(folder_items=cast(Any, items)), pairs) != wanted:  # as plan
        return None, "its items cannot be expressed by folders"
    return refs, ""


def infer_provider(items: Iterable[ExportItem]) -> str | None:
    """The provider that reads every URL of an integration's items (else the one their storage location
    names). Encord's API does not report an integration's provider."""
    fits, located, seen = dict.fromkeys(PROVIDERS, True), set(), False
    for item in items:
        if item.location in PROVIDER_BY_LOCATION:
            located.add(PROVIDER_BY_LOCATION[item.location])
        for url in item.urls:
            seen, parts = True, split_url(url)
            for provider in PROVIDERS:
                fits[provider] = fits[provider] and readable(provider, *parts)[0]
    readers = [p for p in PROVIDERS if fits[p]] if seen else []
    by_location = [p for p in PROVIDERS if p in located]
    return next((p for p in readers if p in located), None) or next(iter(readers + by_location), None)
