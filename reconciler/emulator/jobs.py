"""Data-upload jobs: processing a registration spec into items, and the background runner.

A job is accepted synchronously (structural problems in the request are a 400, see `specs.py`) and
processed in the background; per-unit problems become `unitErrors`; see README.md for the ignoreErrors
semantics. Processing is set-based, so a job costs the same however many items the folder already holds:
duplicates are looked up by the items' indexed `url_key` (store.py) and new items go in with one
`executemany`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.bucket_files import BucketFiles
from reconciler.emulator.specs import (
    MAX_URL_BYTES,
    Frame,
    Unit,
    UploadSpec,
    guess_mime,
    parse_spec,
    split_url,
    unit_problem,
    url_matches_provider,
)
from reconciler.emulator.specs_items import parse_upload_request
from reconciler.emulator.store import Row, Store, Tx, new_uuid, now_iso, url_key
from reconciler.emulator.views import STORAGE_LOCATION_NAME

# Spec parsing and the per-unit checks live in specs.py; their names stay importable from here.
__all__ = [
    "MAX_URL_BYTES",
    "Frame",
    "JobRunner",
    "Unit",
    "UploadSpec",
    "cancelled_result",
    "guess_mime",
    "job_view",
    "parse_spec",
    "parse_upload_request",
    "process_job",
    "unit_problem",
    "url_matches_provider",
]

log = logging.getLogger(__name__)

_ACTION = {
    "image": "Registering image",
    "video": "Registering video",
    "audio": "Registering audio file",
    "plainText": "Registering text file",
    "pdf": "Registering PDF file",
    "nifti": "Registering NIfTI file",
    "imageGroup": "Registering image group",
    "imageSequence": "Registering image sequence",
    "dicomSeries": "Registering DICOM series",
}


def _new_item(unit: Unit, folder: str, integration: Row, owner: str) -> Row:
    stamp = now_iso()
    first = unit.urls[0]
    media = dict(unit.media)
    if unit.is_group:
        frame_mime = "application/dicom" if unit.item_type == "dicomSeries" else None
        media["frames"] = [
            {
                "url": f.url,
                "title": f.title or split_url(f.url).path,
                "mimeType": frame_mime or guess_mime(f.url),
                "hash": new_uuid(),
            }
            for f in unit.frames
        ]
        url = None
    else:
        media.setdefault("mimeType", guess_mime(first))
        url = first
    return {
        "uuid": new_uuid(),
        "parent": folder,
        "item_type": unit.item_type,
        # Docs: an omitted title defaults to the object's path.
        "name": unit.title or split_url(first).path,
        "url": url,
        "client_metadata": unit.client_metadata,
        "owner": owner,
        "created_at": stamp,
        "last_edited_at": stamp,
        "storage_location": STORAGE_LOCATION_NAME[integration["provider"]],
        "integration_hash": integration["uuid"],
        "media": media,
    }


def _result(**counts: Any) -> Row:
    base: Row = {
        "itemsWithNames": [],
        "errors": [],
        "unitsPendingCount": 0,
        "unitsDoneCount": 0,
        "unitsErrorCount": 0,
        "unitsCancelledCount": 0,
        "unitErrors": [],
    }
    base.update(counts)
    return base


def process_job(tx: Tx, job: Row, owner: str, buckets: BucketFiles | None = None) -> None:
    """Run a PENDING job in one transaction; with unit errors and ignoreErrors=false nothing is kept."""
    spec, _ = parse_upload_request(job["request"])
    integration = tx.integration(job["integration"]) if job["integration"] else None
    folder = job["folder"]
    if tx.folder(folder) is None:
        tx.finish_job(job["uuid"], "ERROR", _result(errors=["The folder was deleted"]))
        return
    problems = [unit_problem(unit, integration, buckets) for unit in spec.units]
    keys = [
        url_key(unit.urls) if problem is None else ""
        for unit, problem in zip(spec.units, problems, strict=True)
    ]
    # key -> UUIDs of the folder's items with that key, then of the items this job creates.
    index = tx.item_uuids_by_url_key(folder, {k for k in keys if k}) if spec.skip_duplicate_urls else {}

    unit_errors: list[Row] = []
    created: list[Row] = []
    upserts: list[tuple[str, Any]] = []
    for position, (unit, problem, key) in enumerate(zip(spec.units, problems, keys, strict=True)):
        if problem is not None:
            unit_errors.append(
                {
                    "objectUrls": unit.urls,
                    "error": problem,
                    "subtaskUuid": str(uuid.uuid5(uuid.UUID(job["uuid"]), str(position))),
                    "actionDescription": _ACTION[unit.item_type],
                }
            )
            continue
        assert integration is not None
        if spec.skip_duplicate_urls and key in index:
            if spec.upsert_metadata and unit.metadata_given:
                upserts.extend((existing, unit.client_metadata) for existing in index[key])
            continue
        item = _new_item(unit, folder, integration, owner)
        created.append(item)
        index.setdefault(key, []).append(item["uuid"])

    errors = [f"{', '.join(e['objectUrls']) or '<no url>'}: {e['error']}" for e in unit_errors]
    good = len(spec.units) - len(unit_errors)
    if unit_errors and not job["ignore_errors"]:
        # The good units are rolled back, so they are reported as cancelled rather than done.
        result = _result(
            errors=errors, unitErrors=unit_errors, unitsErrorCount=len(unit_errors), unitsCancelledCount=good
        )
        tx.finish_job(job["uuid"], "ERROR", result)
        return
    result = _result(
        itemsWithNames=[{"itemUuid": i["uuid"], "name": i["name"]} for i in created],
        errors=errors,
        unitErrors=unit_errors,
        unitsDoneCount=good,
        unitsErrorCount=len(unit_errors),
    )
    if tx.finish_job(job["uuid"], "DONE", result):
        tx.add_items(created)
        tx.set_items_metadata(upserts, now_iso())


def unit_count(request: Row) -> int:
    """How many units a stored job holds: its spec was validated when the job started, so the lists are
    counted, not parsed again (a poll of a pending job would otherwise validate it each time)."""
    document: Any = next(iter(request.values()), {})
    return sum(len(v) for v in document.values() if isinstance(v, list)) if isinstance(document, dict) else 0


def job_view(job: Row) -> Row:
    if job["status"] == "PENDING":
        state = _result(unitsPendingCount=unit_count(job["request"]))
    else:
        state = dict(job["result"])
    return {"status": job["status"], **state, "fileName": job["file_name"]}


def cancelled_result(job: Row) -> Row:
    return _result(unitsCancelledCount=unit_count(job["request"]))


@dataclass
class _Run:
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[None]
    done: asyncio.Event


class JobRunner:
    """Processes jobs as background tasks on whichever event loop serves the request.

    A job still PENDING with no live task (after a restart, or when the loop that started it is gone,
    as with short-lived in-process clients) is picked up again by the next poll; processing is a
    compare-and-set on PENDING, so running it twice is harmless.
    """

    def __init__(
        self, store: Store, owner: str, delay_seconds: float, buckets: Mapping[str, str] | None = None
    ) -> None:
        self._store = store
        self._owner = owner
        self._delay = delay_seconds
        self._buckets = BucketFiles(buckets) if buckets else None
        self._runs: dict[str, _Run] = {}

    def ensure_running(self, job_uuid: str) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        run = self._runs.get(job_uuid)
        if run is None or run.loop is not loop or run.task.done():
            done = asyncio.Event()
            run = _Run(loop, loop.create_task(self._run(job_uuid, done)), done)
            self._runs[job_uuid] = run
        return run.done

    def wake(self, job_uuid: str) -> None:
        run = self._runs.get(job_uuid)
        if run is not None and run.loop is asyncio.get_running_loop():
            run.done.set()

    async def _run(self, job_uuid: str, done: asyncio.Event) -> None:
        try:
            if self._delay > 0:
                await asyncio.sleep(self._delay)
            with self._store.tx() as tx:
                job = tx.job(job_uuid)
                if job is not None and job["status"] == "PENDING":
                    try:
                        if self._buckets is not None:
                            self._buckets.begin_job()
                        process_job(tx, job, self._owner, self._buckets)
                    except Exception as exc:  # a bug here must not leave pollers hanging
                        log.exception("upload job %s failed", job_uuid)
                        tx.finish_job(job_uuid, "ERROR", _result(errors=[f"internal emulator error: {exc}"]))
        finally:
            done.set()
            if self._runs.get(job_uuid) is not None and self._runs[job_uuid].done is done:
                del self._runs[job_uuid]
