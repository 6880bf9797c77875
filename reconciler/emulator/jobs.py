"""Registration of cloud files into a folder (data-upload jobs): spec parsing, per-unit checks, processing.

A job is accepted synchronously (structural problems in the request are a 400) and processed in the
background; a unit is one image, video, audio, text, PDF, NIfTI file, image group, image sequence or
DICOM series. Per-unit problems become `unitErrors`; see README.md for the ignoreErrors semantics.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reconciler.emulator.errors import bad_request
from reconciler.emulator.store import Row, Store, Tx, new_uuid, now_iso
from reconciler.emulator.views import STORAGE_LOCATION_NAME

log = logging.getLogger(__name__)

MAX_URL_BYTES = 16 * 1024

# Top-level spec keys, both spellings (raw JSON specs are snake_case, `dataItems` camelCase).
_LIST_KEYS = {
    "images": "images",
    "videos": "videos",
    "image_groups": "imageGroups",
    "imageGroups": "imageGroups",
    "dicom_series": "dicomSeries",
    "dicomSeries": "dicomSeries",
    "audio": "audio",
    "text": "text",
    "pdf": "pdf",
    "nifti": "nifti",
}
_UNSUPPORTED_LIST_KEYS = {
    "image_groups_from_items",
    "imageGroupsFromItems",
    "time_series",
    "timeSeries",
    "scenes",
}
_FLAG_KEYS = {
    "skip_duplicate_urls": "skipDuplicateUrls",
    "skipDuplicateUrls": "skipDuplicateUrls",
    "upsert_metadata": "upsertMetadata",
    "upsertMetadata": "upsertMetadata",
}
# Simple list -> (item type, media-metadata key, what the error message calls it).
_SIMPLE_KINDS = {
    "images": ("image", "imageMetadata", "an image"),
    "videos": ("video", "videoMetadata", "a video"),
    "audio": ("audio", "audioMetadata", "an audio file"),
    "text": ("plainText", "textMetadata", "a text file"),
    "pdf": ("pdf", "pdfMetadata", "a PDF file"),
    "nifti": ("nifti", None, "a NIfTI file"),
}
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
# Customer-provided media metadata -> item fields (snake_case spellings accepted too).
_MEDIA_FIELDS = {
    "fileSize": "fileSize",
    "mimeType": "mimeType",
    "width": "width",
    "height": "height",
    "fps": "fps",
    "duration": "duration",
    "sampleRate": "audioSampleRate",
    "bitDepth": "audioBitDepth",
    "codec": "audioCodec",
    "numChannels": "audioNumChannels",
}
_FRAME_KEY = re.compile(r"^objectUrl_(\d+)$")

# A private table so results do not depend on the host's /etc/mime.types.
_MIME = mimetypes.MimeTypes()
for _type, _ext in (
    ("application/dicom", ".dcm"),
    ("application/nifti", ".nii"),
    ("image/webp", ".webp"),
    ("audio/flac", ".flac"),
):
    _MIME.add_type(_type, _ext)


def guess_mime(url: str) -> str | None:
    path = urlsplit(url).path
    if path.endswith(".nii.gz"):
        return "application/nifti"
    return _MIME.guess_type(path, strict=False)[0]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _get(entry: dict[str, Any], camel: str, default: Any = None) -> Any:
    """Read a field spelled camelCase or snake_case."""
    if camel in entry:
        return entry[camel]
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return entry.get(snake, default)


@dataclass
class Frame:
    url: str
    title: str | None


@dataclass
class Unit:
    item_type: str
    title: str | None
    frames: list[Frame]
    client_metadata: Any
    metadata_given: bool
    media: dict[str, Any]
    problem: str | None = None

    @property
    def urls(self) -> list[str]:
        return [f.url for f in self.frames]

    @property
    def is_group(self) -> bool:
        return self.item_type in ("imageGroup", "imageSequence", "dicomSeries")


@dataclass
class UploadSpec:
    units: list[Unit] = field(default_factory=list)
    skip_duplicate_urls: bool = False
    upsert_metadata: bool = False


def _media(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    normalised = {_camel(k): v for k, v in raw.items()}
    return {target: normalised[source] for source, target in _MEDIA_FIELDS.items() if source in normalised}


def _frames_from_entry(entry: dict[str, Any], list_key: str) -> list[Frame] | str:
    """Frames of a group: structured `images`/`dicomFiles` ([{url, title}]) or raw `objectUrl_N` keys."""
    structured = entry.get(list_key, entry.get("dicom_files") if list_key == "dicomFiles" else None)
    if structured is not None:
        if not isinstance(structured, list) or not all(isinstance(f, dict) for f in structured):
            return f"'{list_key}' must be a list of objects"
        frames = []
        for frame in structured:
            url = frame.get("url")
            if not isinstance(url, str) or not url:
                return f"every entry of '{list_key}' needs a 'url'"
            frames.append(Frame(url, frame.get("title")))
        return frames
    numbered = sorted((int(m[1]), v) for k, v in entry.items() if (m := _FRAME_KEY.match(k)))
    if any(not isinstance(v, str) or not v for _, v in numbered):
        return "every objectUrl_N must be a non-empty string"
    return [Frame(url, None) for _, url in numbered]


def _unit(list_key: str, entry: Any) -> Unit:
    if not isinstance(entry, dict):
        return Unit("image", None, [], {}, False, {}, problem=f"entries of '{list_key}' must be JSON objects")
    metadata_given = "clientMetadata" in entry or "client_metadata" in entry
    client_metadata = _get(entry, "clientMetadata", {})
    title = _get(entry, "title")
    problem: str | None = None
    if title is not None and not isinstance(title, str):
        title, problem = None, "'title' must be a string"
    if _get(entry, "placeholderItemUuid") is not None:
        problem = "Encord-hosted uploads (placeholderItemUuid) are not supported by the emulator"
    if list_key in _SIMPLE_KINDS:
        item_type, metadata_key, _ = _SIMPLE_KINDS[list_key]
        url = _get(entry, "objectUrl")
        frames = [Frame(url, title)] if isinstance(url, str) and url else []
        media = _media(_get(entry, metadata_key)) if metadata_key else {}
        return Unit(item_type, title, frames, client_metadata, metadata_given, media, problem)
    if list_key == "imageGroups":
        item_type = "imageSequence" if _get(entry, "createVideo", False) is True else "imageGroup"
        found = _frames_from_entry(entry, "images")
    else:
        item_type = "dicomSeries"
        found = _frames_from_entry(entry, "dicomFiles")
    if isinstance(found, str):
        return Unit(item_type, title, [], client_metadata, metadata_given, {}, problem or found)
    return Unit(item_type, title, found, client_metadata, metadata_given, {"frameCount": len(found)}, problem)


def parse_spec(spec: Any) -> UploadSpec:
    """Structure of `externalFiles` / `dataItems`; raises a 400 for anything that is not a spec at all."""
    if not isinstance(spec, dict):
        raise bad_request("The registration spec must be a JSON object")
    parsed = UploadSpec()
    for key, value in spec.items():
        if key in _FLAG_KEYS:
            if not isinstance(value, bool):
                raise bad_request(f"'{key}' must be a boolean")
            setattr(
                parsed,
                "skip_duplicate_urls" if _FLAG_KEYS[key] == "skipDuplicateUrls" else "upsert_metadata",
                value,
            )
        elif key in _LIST_KEYS:
            if not isinstance(value, list):
                raise bad_request(f"'{key}' must be a list")
            parsed.units.extend(_unit(_LIST_KEYS[key], entry) for entry in value)
        elif key in _UNSUPPORTED_LIST_KEYS:
            if value:
                raise bad_request(f"'{key}' is not supported by the emulator")
        else:
            raise bad_request(f"Unknown key {key!r} in the registration spec")
    return parsed


def parse_upload_request(body: Any) -> tuple[UploadSpec, Any]:
    """The job-start body -> (parsed spec, the spec document to store)."""
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    external, items = body.get("externalFiles"), body.get("dataItems")
    if (external is None) == (items is None):
        raise bad_request("Exactly one of 'externalFiles' and 'dataItems' is required")
    document = external if external is not None else items
    return parse_spec(document), document


# -- per-unit checks --------------------------------------------------------------------------------

_PROVIDER_URLS = {
    "gcp": "gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>",
    "aws": "s3://<bucket>/<key> or https://<bucket>.s3.<region>.amazonaws.com/<key>",
    "azure": "https://<account>.blob.core.windows.net/<container>/<key>",
    "otc": "https://<bucket>.obs.<region>.otc.t-systems.com/<key>",
}


def url_matches_provider(url: str, provider: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or not parts.path.strip("/"):  # a bucket (or host) and an object key are both needed
        return False
    if provider == "gcp":
        return parts.scheme == "gs" or (
            parts.scheme == "https" and host in ("storage.googleapis.com", "storage.cloud.google.com")
        )
    if provider == "aws":
        return parts.scheme == "s3" or (parts.scheme == "https" and host.endswith(".amazonaws.com"))
    if provider == "azure":
        return parts.scheme == "https" and host.endswith(".blob.core.windows.net")
    if provider == "otc":
        return parts.scheme == "https" and host.endswith(".otc.t-systems.com")
    return False


def _type_problem(item_type: str, url: str) -> str | None:
    """A file extension that contradicts the declared type; unknown extensions pass (DICOM often has none)."""
    mime = guess_mime(url)
    if mime is None:
        return None
    major = mime.split("/")[0]
    if item_type in ("image", "imageGroup", "imageSequence"):
        ok, wanted = major == "image", "an image"
    elif item_type == "dicomSeries":
        ok, wanted = major not in ("image", "video", "audio", "text"), "a DICOM file"
    elif item_type == "plainText":
        ok, wanted = major == "text" or mime in ("application/json", "application/xml"), "a text file"
    elif item_type == "pdf":
        ok, wanted = mime == "application/pdf", "a PDF file"
    elif item_type == "nifti":
        ok, wanted = mime == "application/nifti", "a NIfTI file"
    else:
        ok, wanted = major == item_type, "a " + item_type
    return None if ok else f"Expected {wanted}, got a file of type {mime}"


def unit_problem(unit: Unit, integration: Row | None) -> str | None:
    if unit.problem is not None:
        return unit.problem
    if not isinstance(unit.client_metadata, dict):
        return "clientMetadata must be a JSON object"
    if not unit.frames:
        return "Missing objectUrl" if not unit.is_group else "No files given (objectUrl_0, objectUrl_1, ...)"
    if unit.is_group and not unit.title:
        return "A title is required for image groups, image sequences and DICOM series"
    if integration is None:
        return "The cloud integration no longer exists"
    for url in unit.urls:
        if len(url.encode()) > MAX_URL_BYTES:
            return f"Object URL longer than {MAX_URL_BYTES} bytes"
        if not url_matches_provider(url, integration["provider"]):
            return (
                f"Object URL {url!r} cannot be read with the {integration['provider'].upper()} integration "
                f"{integration['title']!r}; expected {_PROVIDER_URLS[integration['provider']]}"
            )
        problem = _type_problem(unit.item_type, url)
        if problem is not None:
            return problem
    return None


# -- processing -------------------------------------------------------------------------------------


def _duplicate_key(urls: list[str]) -> tuple[str, ...]:
    return tuple(urls)


def _existing_key(item: Row) -> tuple[str, ...]:
    frames = item["media"].get("frames")
    return _duplicate_key([f["url"] for f in frames] if frames is not None else [item["url"]])


def _new_item(unit: Unit, folder: str, integration: Row, owner: str) -> Row:
    stamp = now_iso()
    first = unit.urls[0]
    media = dict(unit.media)
    if unit.is_group:
        frame_mime = "application/dicom" if unit.item_type == "dicomSeries" else None
        media["frames"] = [
            {
                "url": f.url,
                "title": f.title or urlsplit(f.url).path,
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
        "name": unit.title or urlsplit(first).path,
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


def process_job(tx: Tx, job: Row, owner: str) -> None:
    """Run a PENDING job in one transaction; with unit errors and ignoreErrors=false nothing is kept."""
    spec, _ = parse_upload_request(job["request"])
    integration = tx.integration(job["integration"]) if job["integration"] else None
    folder = job["folder"]
    if tx.folder(folder) is None:
        tx.finish_job(job["uuid"], "ERROR", _result(errors=["The folder was deleted"]))
        return
    index: dict[tuple[str, ...], list[Row]] = {}
    for item in tx.items_in([folder]):
        index.setdefault(_existing_key(item), []).append(item)

    unit_errors: list[Row] = []
    created: list[Row] = []
    upserts: list[tuple[Row, Any]] = []
    for position, unit in enumerate(spec.units):
        problem = unit_problem(unit, integration)
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
        key = _duplicate_key(unit.urls)
        if spec.skip_duplicate_urls and key in index:
            if spec.upsert_metadata and unit.metadata_given:
                upserts.extend((existing, unit.client_metadata) for existing in index[key])
            continue
        item = _new_item(unit, folder, integration, owner)
        created.append(item)
        index.setdefault(key, []).append(item)

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
        for item in created:
            tx.add_item(item)
        for existing, metadata in upserts:
            tx.update_item(existing["uuid"], {"client_metadata": metadata, "last_edited_at": now_iso()})


def job_view(job: Row) -> Row:
    if job["status"] == "PENDING":
        total = len(parse_upload_request(job["request"])[0].units)
        state = _result(unitsPendingCount=total)
    else:
        state = dict(job["result"])
    return {"status": job["status"], **state, "fileName": job["file_name"]}


def cancelled_result(job: Row) -> Row:
    return _result(unitsCancelledCount=len(parse_upload_request(job["request"])[0].units))


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

    def __init__(self, store: Store, owner: str, delay_seconds: float) -> None:
        self._store = store
        self._owner = owner
        self._delay = delay_seconds
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
                        process_job(tx, job, self._owner)
                    except Exception as exc:  # a bug here must not leave pollers hanging
                        log.exception("upload job %s failed", job_uuid)
                        tx.finish_job(job_uuid, "ERROR", _result(errors=[f"internal emulator error: {exc}"]))
        finally:
            done.set()
            if self._runs.get(job_uuid) is not None and self._runs[job_uuid].done is done:
                del self._runs[job_uuid]
