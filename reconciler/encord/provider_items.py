"""Items at the wire boundary: read a managed folder's items, and register, update and delete them.

Registration goes through upload jobs (§7): `dataItems` in the SDK's structured form, always with
`skipDuplicateUrls`, several jobs in flight, each long-polled until it ends. Every job id is written to
the journal before it is polled, so an interrupted apply resumes the same jobs instead of starting new
ones. Per-file errors come back with the URLs and the place in the config they were declared.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import orjson

from reconciler.encord import upload_wire as upload
from reconciler.encord.client import EncordClient
from reconciler.encord.upload_wire import WireModel
from reconciler.encord.wire import WireItem, WireUploadJob
from reconciler.encord.wire_content import content_media
from reconciler.errors import (
    EncordAmbiguousError,
    EncordNotFoundError,
    EncordPermissionError,
    EncordRateLimitError,
    EncordServerError,
    EncordTransportError,
)
from reconciler.interrupt import GracefulStop, unless_stopped
from reconciler.journal import JobJournal
from reconciler.live import FolderContents, LiveEntry
from reconciler.registration.entry import Entry

log = logging.getLogger("reconciler.provider")

GROUP_ITEM_TYPES = frozenset({"imageGroup", "imageSequence", "dicomSeries", "group"})
POLL_SECONDS = 60  # how long one long-poll may be held by the server
POLL_FAILURES = (
    3  # consecutive failed polls of one job before giving up (the SDK's LONG_POLLING_RESPONSE_RETRY_N)
)
POLL_FAILURE_PAUSE_SECONDS = 10.0
GROUP_BATCH = 1000  # groups whose frames are read at once (each one request)
FINISHED = frozenset({"DONE", "ERROR", "CANCELLED"})

# Single-file data type -> (DataUploadItems list, its item model, the item's media-metadata field).
_FILE_TYPES: dict[str, tuple[str, Callable[..., WireModel], str | None]] = {
    "image": ("images", upload.UploadImage, "image_metadata"),
    "video": ("videos", upload.UploadVideo, "video_metadata"),
    "audio": ("audio", upload.UploadAudio, "audio_metadata"),
    "text": ("text", upload.UploadText, "text_metadata"),
    "pdf": ("pdf", upload.UploadPdf, "pdf_metadata"),
    "nifti": ("nifti", upload.UploadNifti, None),
}


def decode_metadata(raw: str | None) -> dict[str, Any]:
    """Encord sends clientMetadata as a JSON string; anything that is not an object is kept visibly."""
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)  # several times faster: a managed folder may hold a million items
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and Python reads (NaN, integers beyond 64 bits)
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {"_unparsed": raw}
    return value if isinstance(value, dict) else {"_value": value}


# -- reading ----------------------------------------------------------------------------------------


class Slot(Protocol):
    """What bounds requests in flight: an `asyncio.Semaphore`, or a place of the reader's gate."""

    async def __aenter__(self) -> object: ...
    async def __aexit__(self, *exc: object) -> object: ...


async def read_contents(client: EncordClient, folder_uuid: str, semaphore: Slot) -> FolderContents:
    """A folder's items keyed by URL (groups: by their frames' URLs, read with one request per group)."""
    contents = FolderContents(folder_uuid=folder_uuid)
    groups: list[WireItem] = []
    async with semaphore:
        async for page in client.iter_content_items(UUID(folder_uuid)):
            for item in page:
                if item.get("isTombstone") or item.get("isPlaceholder"):
                    continue
                if item["itemType"] in GROUP_ITEM_TYPES:
                    groups.append(WireItem.model_validate(item))  # few: each costs a request anyway
                elif url := item.get("url"):
                    _add(contents, (url,), item)
                else:
                    contents.unkeyed.append(item["uuid"])

    async def frames(item: WireItem) -> tuple[WireItem, tuple[str, ...]]:
        urls: list[str] = []
        async with semaphore:
            async for page in client.iter_child_items(UUID(folder_uuid), item.uuid):
                urls.extend(child.url or "" for child in page)
        return item, tuple(urls)

    for start in range(0, len(groups), GROUP_BATCH):  # a bounded number of tasks at a time
        batch = groups[start : start + GROUP_BATCH]
        for group, urls in await asyncio.gather(*(frames(g) for g in batch)):
            if urls and all(urls):
                _add(contents, urls, group.model_dump(by_alias=True, mode="json"))
            else:
                contents.unkeyed.append(str(group.uuid))
    return contents


def _add(contents: FolderContents, key: tuple[str, ...], item: dict[str, Any]) -> None:
    """One live entry from a checked camelCase item (`wire_content`)."""
    if key in contents.items:
        contents.duplicates.append(item["uuid"])
        return
    contents.items[key] = LiveEntry(  # by position: a keyword call costs more, a million times
        item["uuid"],
        sys.intern(item["itemType"]),  # a handful of values
        item["name"],
        decode_metadata(item.get("clientMetadata")),
        content_media(item) or None,
    )


async def unlinked_items(client: EncordClient, folder_uuid: str) -> list[str]:
    """A folder's own items that no data row uses: what a dataset drawing from the folder still has to
    link, whoever registered them (this apply, or an earlier one that was cancelled before linking)."""
    found: list[str] = []
    async for page in client.iter_item_refs(UUID(folder_uuid)):
        found.extend(
            i["uuid"]
            for i in page
            if not i.get("backedDataUnitsCount") and not (i.get("isTombstone") or i.get("isPlaceholder"))
        )
    return found


async def folder_usage(client: EncordClient, folder_uuid: str) -> dict[str, int]:
    """A folder's own items, item uuid -> how many data rows (in any dataset) use it."""
    usage: dict[str, int] = {}
    async for page in client.iter_item_refs(UUID(folder_uuid)):
        for item in page:
            usage[item["uuid"]] = item.get("backedDataUnitsCount", 0)
    return usage


# -- registering ------------------------------------------------------------------------------------


def data_item(entry: Entry) -> tuple[str, WireModel]:
    """One entry as the SDK's `DataUploadItems` carries it: (the list's field name, the item model)."""
    metadata = entry.client_metadata or {}
    title = entry.title
    if entry.type in _FILE_TYPES:
        list_name, model, media_field = _FILE_TYPES[entry.type]
        media = {media_field: entry.media} if media_field and entry.media is not None else {}
        return list_name, model(object_url=entry.urls[0], title=title, client_metadata=metadata, **media)
    if entry.type == "dicom_series":
        files = [upload.UploadDicomFile(url=url, title=None) for url in entry.urls]
        return "dicom_series", upload.UploadDicomSeries(
            dicom_files=files, title=title, client_metadata=metadata
        )
    images = [upload.UploadImageGroupImage(url=url) for url in entry.urls]
    group = upload.UploadImageGroup(
        images=images, title=title, client_metadata=metadata, create_video=entry.type == "image_sequence"
    )
    return "image_groups", group


def upload_items(entries: Iterable[Entry]) -> upload.DataUploadItems:
    """The `dataItems` of one job, as the SDK's `DataUploadItems(...).to_dict()` would send it."""
    lists: dict[str, list[WireModel]] = {}
    for entry in entries:
        name, item = data_item(entry)
        lists.setdefault(name, []).append(item)
    # skipDuplicateUrls makes a repeated registration harmless; metadata changes go through the bulk
    # item update instead of upsertMetadata.
    return upload.DataUploadItems.model_validate({**lists, "skip_duplicate_urls": True})


def registration_file(entries: Iterable[Entry]) -> dict[str, Any]:
    """Videos the SDK's structured form cannot carry (a key-frame `config`), as the JSON registration file
    the SDK's spec-file path passes through verbatim: each entry as declared."""
    videos = []
    for entry in entries:
        video: dict[str, Any] = {"objectUrl": entry.urls[0]}
        video |= {"title": entry.title} if entry.title is not None else {}
        video |= {"clientMetadata": entry.client_metadata} if entry.client_metadata is not None else {}
        video |= {"videoMetadata": entry.media} if entry.media is not None else {}
        video |= {"config": entry.config} if entry.config is not None else {}
        videos.append(video)
    return {"videos": videos, "skip_duplicate_urls": True}


@dataclass(frozen=True)
class JobSpec:
    """One upload job to start: a folder, an integration and a batch of entries."""

    folder_path: str
    folder_uuid: str
    integration_uuid: str
    ignore_errors: bool
    entries: list[Entry]
    as_file: bool = False  # sent as a registration file (`externalFiles`), not `dataItems`


@dataclass
class FileError:
    folder: str
    urls: list[str]
    error: str
    where: str
    job: str


@dataclass
class RegistrationTally:
    """What the registration part of an apply did, for progress, the summary and the report file."""

    total: int = 0
    done: int = 0
    failed: int = 0
    jobs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)  # folder path -> new item uuids
    gone: list[str] = field(default_factory=list)  # journaled jobs that could not be read any more


Tick = Callable[[RegistrationTally], None]


def _record(
    tally: RegistrationTally,
    folder_path: str,
    job: str,
    state: WireUploadJob,
    where_of: Callable[[str], str],
    units: int,
) -> None:
    tally.registered.setdefault(folder_path, []).extend(str(i.item_uuid) for i in state.items_with_names)
    failed = state.units_error_count + state.units_cancelled_count
    if state.status != "DONE":  # an ERROR or CANCELLED job may not count its units: none of them is done
        failed = max(failed, units - state.units_done_count)
    tally.failed += failed
    tally.done += max(units - failed, 0)
    tally.jobs.append(
        {
            "job": job,
            "folder": folder_path,
            "status": state.status,
            "units": units,
            "done": state.units_done_count,
            "failed": failed,
        }
    )
    for err in state.unit_errors:
        where = where_of(err.object_urls[0]) if err.object_urls else folder_path
        tally.errors.append(FileError(folder_path, list(err.object_urls), err.error, where, job))
    if state.status == "ERROR" and not state.unit_errors:
        message = "; ".join(state.errors) or "the job ended in ERROR"
        tally.errors.append(FileError(folder_path, [], message, folder_path, job))


async def poll_until_finished(
    client: EncordClient, folder_uuid: str, job: str, stop: GracefulStop | None = None
) -> WireUploadJob:
    """Long-poll until the job ends. A transient failure (after the client's own retries) is tried again a
    few times, as the SDK does: giving up on a running job would only leave it for the next apply. A stop
    (SIGTERM) drops the poll: the job is journaled, and the next apply resumes it."""
    failures = 0
    while True:
        try:
            poll = client.get_upload_job(UUID(folder_uuid), UUID(job), timeout_seconds=POLL_SECONDS)
            state = await unless_stopped(stop, poll)
        except (EncordServerError, EncordTransportError, EncordRateLimitError):
            failures += 1
            if failures >= POLL_FAILURES:
                raise
            await asyncio.sleep(POLL_FAILURE_PAUSE_SECONDS)
            continue
        failures = 0
        if state.status in FINISHED:
            return state


async def run_job(
    client: EncordClient,
    spec: JobSpec,
    journal: JobJournal,
    tally: RegistrationTally,
    where_of: Callable[[str], str],
    tick: Tick,
    stop: GracefulStop | None = None,
) -> None:
    units = len(spec.entries)
    # On record before the start: if its answer is lost (a cancelled run), the next apply knows a job may
    # be running. The journal may be a GCS object: its writes run in a worker thread.
    intent = await asyncio.to_thread(journal.intent, spec.folder_uuid, spec.folder_path, units)
    try:
        job = await client.start_upload_job(
            UUID(spec.folder_uuid),
            data_items=None if spec.as_file else upload_items(spec.entries),
            external_files=registration_file(spec.entries) if spec.as_file else None,
            integration_uuid=UUID(spec.integration_uuid),
            ignore_errors=spec.ignore_errors,
        )
    except EncordAmbiguousError:
        raise  # the job may have started: the intent stays on record
    except BaseException:
        await asyncio.to_thread(journal.abandoned, intent)  # refused, or never sent: no job
        raise
    await asyncio.to_thread(journal.started, str(job), spec.folder_uuid, spec.folder_path, units, intent)
    state = await poll_until_finished(client, spec.folder_uuid, str(job), stop)
    _record(tally, spec.folder_path, str(job), state, where_of, units)
    await asyncio.to_thread(journal.finished, str(job))
    tick(tally)


async def resume_jobs(
    client: EncordClient, journal: JobJournal, tally: RegistrationTally, where_of: Callable[[str], str]
) -> None:
    """Poll the jobs an interrupted apply left running, until each ends; then forget them. A job whose id
    never came back cannot be polled: said once, then forgotten (its files are registered again, skipping
    the URLs the folder holds by then)."""
    for unknown in journal.unknown():
        log.warning(
            "an interrupted apply may have started an upload job of %d item(s) for folder %s whose id never "
            "came back; it cannot be waited for: what it registered is kept, the rest is registered again",
            unknown.units,
            unknown.folder_path,
        )
    journal.forget_unknown()
    for pending in journal.pending():
        try:
            state = await poll_until_finished(client, pending.folder_uuid, pending.job)
        except (EncordNotFoundError, EncordPermissionError) as exc:
            # The job (or its folder) is gone, or belongs to another organisation: nothing to wait for.
            # Whatever it registered is live now, and the plan that follows registers the rest.
            log.warning("upload job %s from %s cannot be read any more (%s); forgetting it", pending.job,
                        journal.path, exc)  # fmt: skip
            tally.gone.append(pending.job)
            journal.finished(pending.job)
            continue
        _record(tally, pending.folder_path, pending.job, state, where_of, pending.units)
        journal.finished(pending.job)
