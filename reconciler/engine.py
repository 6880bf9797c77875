"""Plan and apply, end to end: read the live workspace, diff, execute, check convergence."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.config.loader import Config
from reconciler.defaults import DEFAULT_CONCURRENCY
from reconciler.encord.client import EncordClient
from reconciler.encord.provider_items import folder_usage
from reconciler.encord.reader import ReadScope, read_live
from reconciler.errors import ConfigError, PlanError
from reconciler.live import FolderIndex, LiveBucket, LiveState
from reconciler.plan.diff import plan_with_work, schema_shape, with_threshold_warnings
from reconciler.plan.diff_buckets import managed_buckets
from reconciler.plan.diff_items import FolderWork
from reconciler.plan.model import Action, BackendRef, Change, Kind, Plan, parse_address
from reconciler.plan.renames import renamed_paths
from reconciler.plan.target import targeted
from reconciler.registration.desired import (
    DesiredData,
    Lister,
    metadata_problems,
    read_bucket_sources,
    read_file_sources,
    validate,
)
from reconciler.state import RecordedState


def read_scope(config: Config, data: DesiredData | None = None, *, sandbox: bool = False) -> ReadScope:
    item_folders: list[tuple[str, bool]] = []
    titles: set[str] = set()
    for ds in config.datasets or []:
        if ds.folders is not None:
            titles.add(ds.title)
            item_folders += [(r.path.strip("/"), r.recursive) for r in ds.folder_refs()]
    selection = config.selection
    candidate_folders = sorted({f for rule in selection.all_rules() for f in rule.folders})
    metadata_folders = sorted(
        {f for rule in selection.all_rules() if rule.conditions for f in rule.folders}
        | {f for split in selection.splits if split.group_by for rule in split.rules for f in rule.folders}
    )
    item_folders += candidate_folders
    titles |= set(selection.datasets) | {title for s in selection.splits for title, _ in s.split.parts}
    content = frozenset(data.folders) if data is not None else frozenset()
    # A folder declared with `renamed_from` is still at its old path: read it there too.
    olds = renamed_paths(config.folders)
    content |= {old for path in content if (old := olds(path)) is not None}
    item_folders += [(old, rec) for path, rec in item_folders if (old := olds(path)) is not None]
    candidate_folders += [(old, rec) for path, rec in candidate_folders if (old := olds(path)) is not None]
    metadata_folders += [(old, rec) for path, rec in metadata_folders if (old := olds(path)) is not None]
    return ReadScope(
        integrations=config.integrations is not None,
        schema=config.schema_keys is not None or bool(content),
        folders=config.folders is not None,
        datasets=config.datasets is not None,
        item_folders=tuple(sorted(set(item_folders))),
        dataset_items_for=frozenset(titles),
        content_folders=content,
        candidate_folders=tuple(candidate_folders),
        metadata_folders=tuple(metadata_folders),
        # the sandbox deletes undeclared datasets: their rows tell what a folder delete may then take
        pruned_datasets_except=(
            frozenset(d.title for d in config.datasets or [])
            if sandbox and config.datasets is not None and config.prune.datasets
            else None
        ),
    )


def plan_scope(plan: Plan) -> ReadScope:
    """What to read to check a saved plan against the live workspace."""
    kinds = {c.kind for c in plan.changes}
    return ReadScope(
        integrations=Kind.INTEGRATION in kinds,
        schema=Kind.SCHEMA_KEY in kinds,
        folders=Kind.FOLDER in kinds,
        datasets=bool(kinds & {Kind.DATASET, Kind.DATASET_ITEMS}),
        dataset_items_for=frozenset(
            parse_address(c.address)[1] for c in plan.changes if c.kind == Kind.DATASET_ITEMS
        ),
        content_folders=frozenset(
            parse_address(c.address)[1]
            for c in plan.changes
            if c.kind in (Kind.FOLDER_ITEMS, Kind.FOLDER_ITEMS_PRUNE)
        ),
    )


class GcsAccess(Protocol):
    """What plan and apply do in GCS (reconciler.backend.Workspace implements it; calls block)."""

    def list_objects(self, bucket: str, prefix: str) -> Iterator[list[str]]: ...
    def read_bucket(self, bucket: str) -> LiveBucket: ...
    def write_cors(self, bucket: str, rules: list[dict[str, Any]]) -> None: ...
    def edit_iam(self, bucket: str, add: tuple[str, str] | None, remove: tuple[str, str] | None) -> None: ...


@dataclass
class Computed:
    """A plan with what stands behind it: the declared data and the item-level work of each folder."""

    plan: Plan
    data: DesiredData | None = None
    works: dict[str, FolderWork] = field(default_factory=dict)
    live: LiveState | None = None


NO_SCHEMA_NOTE = (
    "clientMetadata of {count:,} declared entries is not checked: the organisation has no metadata schema "
    "and the configuration declares none. Declare `metadata_schema:` (`reconciler export` infers one from "
    "the live items) so that types, enum values and key names are checked before anything is sent"
)


def schema_for_validation(config: Config, live: LiveState) -> dict[str, Mapping[str, Any]] | None:
    """The config's schema where it declares one, else the live one (tombstoned keys marked); None when
    there is none at all, so nothing can be checked (an SDK-built workspace is often like that)."""
    declared = declared_schema(config)
    if declared is not None:
        return declared
    if not live.schema_keys:
        return None
    return {key: key_.model_dump(exclude_none=True) for key, key_ in live.schema_keys.items()}


def unchecked_metadata(data: DesiredData) -> list[str]:
    """The one line that says metadata went unchecked for want of a schema (none when no entry has any)."""
    count = sum(1 for folder in data.folders.values() for _, entry in folder.entries if entry.client_metadata)
    return [NO_SCHEMA_NOTE.format(count=count)] if count else []


async def with_buckets(live: LiveState, gcs: GcsAccess | None, buckets: list[str]) -> LiveState:
    """The live state with the bucket side of these buckets read (GCS calls block: worker threads)."""
    if not buckets or gcs is None:
        return live
    read = await asyncio.gather(*(asyncio.to_thread(gcs.read_bucket, b) for b in buckets))
    return live.model_copy(update={"buckets": {b.name: b for b in read}})


def declared_schema(config: Config) -> dict[str, Mapping[str, Any]] | None:
    if config.schema_keys is None:
        return None
    return {key: schema_shape(spec) for key, spec in config.schema_keys.items()}


def load_files(config: Config) -> DesiredData | None:
    """Read every JSON and CSV source, and check them before any request is sent: every problem at
    once. Metadata is checked here against the config's schema; a live-only schema is checked later."""
    data = read_file_sources(config)
    if not data.folders:
        return None
    problems = data.problems + validate(config, data, declared_schema(config))
    if problems:
        raise ConfigError(problems)
    return data


@contextmanager
def spared_by_collector() -> Iterator[Callable[[], None]]:
    """Within: `spare()` moves what is in memory now (the desired data, then the live state) to the
    collector's permanent generation, so later full collections stop walking it again and again (a
    sandbox plan of 100,000 entries: 2.8 s -> 2.4 s). On leaving, all of it goes back to the collector,
    so cyclic garbage frozen along the way is collected, and nothing stays frozen past one computation."""
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


@contextmanager
def fewer_full_collections() -> Iterator[None]:
    """Within: full collections a tenth as often (the oldest generation's threshold 10 -> 100; the young
    ones, where the HTTP stack's garbage dies, unchanged), for building what no freeze has spared yet: a
    million listed entries, the diff's sets (a registration plan over a million listed objects spent
    1.8 s in the collector, then 0.6 s). Not around the reads themselves (a bucket listing runs beside
    them, so they share it then): around them, a sandbox plan of 100,000 entries from a JSON file held its
    in-process emulator's garbage longer (255 -> 302 MB)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def load_buckets(config: Config, data: DesiredData, lister: Lister | None) -> None:
    if not data.has_buckets:
        return
    if lister is None:
        raise ConfigError(["bucket data sources need a GCS connection, which this command does not make"])
    with fewer_full_collections():
        read_bucket_sources(config, data, lister)


async def compute(
    config: Config,
    client: EncordClient,
    backend: BackendRef,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    gcs: GcsAccess | None = None,
    only: dict[str, set[tuple[str, ...]]] | None = None,
    targets: list[str] | None = None,
    recorded: RecordedState | None = None,
) -> Computed:
    """Read the sources and the live workspace, validate every entry, diff. Raises with every problem."""
    with spared_by_collector() as spare:
        data = await asyncio.to_thread(load_files, config)  # before any request
        spare()
        scope = read_scope(config, data, sandbox=backend.kind == "sandbox")  # needs no bucket listing
        live = await _read_both(config, data, gcs, read_live(client, scope, concurrency=concurrency))
        spare()  # the bucket listings' entries too
        buckets = [i.bucket for i in managed_buckets(config.integrations) if i.bucket]
        if buckets and gcs is None:
            raise PlanError("managing bucket CORS and IAM needs a GCS connection")
        live = await with_buckets(live, gcs, buckets)
        if data is not None and data.has_buckets:
            # Now with the bucket listings, and the live schema where the config declares none.
            problems = data.problems + validate(config, data, schema_for_validation(config, live))
            if problems:
                raise ConfigError(problems)
        elif data is not None and config.schema_keys is None:
            # Everything else passed before the reads; only the metadata waited for the live schema.
            schema = schema_for_validation(config, live)
            problems = metadata_problems(data, schema) if schema is not None else []
            if problems:
                raise ConfigError(problems)
        if data is not None and config.schema_keys is None and not live.schema_keys:
            data.notes.extend(unchecked_metadata(data))
        with fewer_full_collections():
            plan, works = plan_with_work(config, live, backend, data, only, recorded)
        plan = await with_folder_usage(plan, client, live, concurrency)
        plan = with_threshold_warnings(plan, config.safety)  # folder deletes now count their items
        return Computed(plan=targeted(plan, targets or []), data=data, works=works, live=live)


class _ListingStopped(Exception):
    """The bucket listing was told to stop: the read beside it failed."""


async def _read_both(
    config: Config, data: DesiredData | None, gcs: GcsAccess | None, reading: Awaitable[LiveState]
) -> LiveState:
    """Encord's reads and the bucket listings at once: they wait on different networks. When one fails
    the other stops (a listing within the pages in flight: a thread cannot be cancelled, so it is told),
    and a mistake in the config is reported before a network error."""
    read_task = asyncio.ensure_future(reading)
    if data is None or not data.has_buckets:
        return await read_task
    stop = threading.Event()

    def lister(bucket: str, prefix: str) -> Iterator[list[str]]:
        if gcs is None:
            return
        for page in gcs.list_objects(bucket, prefix):
            if stop.is_set():
                raise _ListingStopped
            yield page

    listing = asyncio.ensure_future(
        asyncio.to_thread(load_buckets, config, data, lister if gcs is not None else None)
    )
    try:
        await asyncio.wait({read_task, listing}, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        if not (read_task.done() and listing.done()):
            stop.set()
            read_task.cancel()
            await asyncio.wait({read_task, listing})  # the listing ends within the pages in flight
    listed = listing.exception()
    read = None if read_task.cancelled() else read_task.exception()
    if isinstance(listed, ConfigError):
        raise listed  # a mistake in the config first
    if read is not None:
        raise read
    if listed is not None and not isinstance(listed, _ListingStopped):
        raise listed
    return read_task.result()


async def with_folder_usage(plan: Plan, client: EncordClient, live: LiveState, concurrency: int) -> Plan:
    """Say what each folder delete destroys (items, subfolders, dataset links), reading the folders to be
    deleted; a delete Encord would refuse (items used by datasets this plan does not unlink) is a plan
    error, so apply never stops halfway on it."""
    deletes = [c for c in plan.changes if c.kind == Kind.FOLDER and c.action == Action.DELETE]
    if not deletes:
        return plan
    semaphore = asyncio.Semaphore(concurrency)

    async def usage(change: Change) -> dict[str, int]:
        async with semaphore:
            return await folder_usage(client, change.payload["uuid"])

    read = await asyncio.gather(*(usage(c) for c in deletes))
    # the data rows this plan removes first, per item (the datasets it manages unlink them)
    unlinked: dict[str, int] = {}
    for change in plan.changes:
        if change.kind == Kind.DATASET_ITEMS and change.payload.get("unlink"):
            going = set(change.payload["unlink"])
            current = live.datasets.get(change.payload.get("title", ""))
            for item, data_hash in (current.linked_items if current else {}).items():
                if data_hash in going:
                    unlinked[item] = unlinked.get(item, 0) + 1
        elif change.kind == Kind.DATASET and change.action == Action.DELETE and change.executable:
            current = live.datasets.get(change.payload.get("title", ""))
            for item in current.linked_items if current else {}:  # every row goes with the dataset
                unlinked[item] = unlinked.get(item, 0) + 1
    errors = list(plan.errors)
    index = FolderIndex(live.folders)
    changes = {c.address: c for c in plan.changes}
    for change, items in zip(deletes, read, strict=True):
        path = parse_address(change.address)[1]
        linked = sum(1 for rows in items.values() if rows)
        blocked = sum(1 for item, rows in items.items() if rows > unlinked.get(item, 0))
        subfolders = len(index.subtree.get(path, [path])) - 1
        reason = (
            f"not in the configuration: deletes {len(items)} item(s) ({linked} used in datasets) and "
            f"{subfolders} subfolder(s)"
        )
        payload = {**change.payload, "items": len(items), "linked_items": linked, "subfolders": subfolders}
        changes[change.address] = change.model_copy(update={"reason": reason, "payload": payload})
        if blocked:
            errors.append(
                f"{change.address}: {blocked} of its item(s) are used by datasets this plan does not unlink "
                "them from, and Encord refuses to delete linked items: unlink them (declare those datasets "
                "with `folders`), or keep the folder (declare it, or `prune: {folders: none}`)"
            )
    return plan.model_copy(update={"changes": [changes[c.address] for c in plan.changes], "errors": errors})


async def make_plan(
    config: Config,
    client: EncordClient,
    backend: BackendRef,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    gcs: GcsAccess | None = None,
) -> Plan:
    return (await compute(config, client, backend, concurrency=concurrency, gcs=gcs)).plan
