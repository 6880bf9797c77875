"""Registration specs (`externalFiles` / `dataItems`): parsing into units, and the per-unit checks.

A unit is one image, video, audio, text, PDF, NIfTI file, image group, image sequence or DICOM series.
Structural problems of the request are a 400 (`specs_items.parse_upload_request`, which builds on this
module); problems of one unit are found by `unit_problem` and become that unit's `unitErrors` entry when
the job is processed (`jobs.py`).
"""

from __future__ import annotations

import functools
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ValidationError

from reconciler.emulator.bucket_files import GCS_HOSTS, BucketFiles
from reconciler.emulator.errors import bad_request, validation_message
from reconciler.emulator.store import Row
from reconciler.encord.upload_wire import MEDIA_MODELS
from reconciler.registration.mediatypes import mime_suffix

MAX_URL_BYTES = 16 * 1024

# A registration file's (`externalFiles`) list keys, as Encord documents them.
_LIST_KEYS = {
    "images": "images",
    "videos": "videos",
    "image_groups": "imageGroups",
    "dicom_series": "dicomSeries",
    "audio": "audio",
    "text": "text",
    "pdf": "pdf",
    "nifti": "nifti",
}
_UNSUPPORTED_LIST_KEYS = {"time_series", "scenes"}
_FLAG_KEYS = {  # either spelling: a raw file is passed through verbatim, and both are seen in the wild
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
_ENTRY_KEYS = {"objectUrl", "title", "clientMetadata"}
_GROUP_KEYS = {
    "imageGroups": {"title", "clientMetadata", "createVideo"},
    "dicomSeries": {"title", "clientMetadata"},
}
_KEYFRAME_MODES = ("frame", "seconds")
_MEDIA_TYPE = {"imageMetadata": "image", "videoMetadata": "video", "audioMetadata": "audio",
               "textMetadata": "text", "pdfMetadata": "pdf"}  # fmt: skip
_SNAKE_MEDIA = {key: re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key) for key in _MEDIA_TYPE}
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


@functools.lru_cache(maxsize=8192)
def split_url(url: str) -> SplitResult:
    """`urlsplit`, cached: a job looks at each URL several times (checks, MIME type, default name)."""
    return urlsplit(url)


def guess_mime(url: str) -> str | None:
    path = split_url(url).path
    if path.endswith(".nii.gz"):
        return "application/nifti"
    if ":" in path or path[-7:].lower() == ".nii.gz":  # a colon reads as a scheme to mimetypes, and
        return _MIME.guess_type(path, strict=False)[0]  # mime_suffix keeps .NII.GZ whole: guessed as is
    return _guess_name("file" + mime_suffix(path))  # once per suffix pair, not once per file


@functools.lru_cache(maxsize=4096)
def _guess_name(name: str) -> str | None:
    return _MIME.guess_type(name, strict=False)[0]


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


# Media-metadata fields (the SDK's names) -> the storage item's fields they are stored as.
MEDIA_TO_ITEM = {
    "file_size": "fileSize",
    "mime_type": "mimeType",
    "width": "width",
    "height": "height",
    "fps": "fps",
    "duration": "duration",
    "sample_rate": "audioSampleRate",
    "bit_depth": "audioBitDepth",
    "codec": "audioCodec",
    "num_channels": "audioNumChannels",
    "num_pages": "numPages",
}


def item_media(metadata: BaseModel | None) -> dict[str, Any]:
    """A validated media-metadata model as the item's fields."""
    if metadata is None:
        return {}
    values = metadata.model_dump()
    return {MEDIA_TO_ITEM[name]: value for name, value in values.items() if name in MEDIA_TO_ITEM}


def _raw_media(where: str, key: str, raw: Any, data_type: str) -> dict[str, Any]:
    """A registration file's media metadata: the SDK's model, either spelling inside (the casing of
    Encord's documented examples is UNCONFIRMED), otherwise a 400 naming the field."""
    try:
        return item_media(MEDIA_MODELS[data_type].model_validate(raw))
    except ValidationError as error:
        raise bad_request(validation_message(error, "registration file", f"{where}.{key}")) from None


def _keyframe_config(where: str, raw: Any) -> None:
    """A video's key-frame `config` (documented: `sampling_rate`, `keyframe_mode`); accepted, not used."""
    if not isinstance(raw, dict) or set(raw) - {"sampling_rate", "keyframe_mode"}:
        raise bad_request(f"{where}.config: must be an object with sampling_rate and keyframe_mode")
    rate, mode = raw.get("sampling_rate"), raw.get("keyframe_mode")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0):
        raise bad_request(f"{where}.config.sampling_rate: must be a number, 0 or more")
    if mode is not None and mode not in _KEYFRAME_MODES:
        raise bad_request(f"{where}.config.keyframe_mode: must be one of {', '.join(_KEYFRAME_MODES)}")


def _frames(entry: dict[str, Any]) -> list[Frame] | str:
    """A group's frames from its `objectUrl_N` keys, ordered by N."""
    numbered = sorted((int(m[1]), v) for k, v in entry.items() if (m := _FRAME_KEY.match(k)))
    if any(not isinstance(v, str) or not v for _, v in numbered):
        return "every objectUrl_N must be a non-empty string"
    return [Frame(url, None) for _, url in numbered]


def _single_unit(list_key: str, where: str, entry: dict[str, Any], title: str | None) -> Unit:
    item_type, media_key, _ = _SIMPLE_KINDS[list_key]
    media: dict[str, Any] = {}
    for key, value in entry.items():
        if media_key is not None and key in (media_key, _SNAKE_MEDIA[media_key]):
            media = _raw_media(where, key, value, _MEDIA_TYPE[media_key])
        elif key == "config" and list_key == "videos":
            _keyframe_config(where, value)
        elif key not in _ENTRY_KEYS:
            raise bad_request(f"{where}: unknown key {key!r} in a registration file's {list_key}")
    url = entry.get("objectUrl")
    frames = [Frame(url, title)] if isinstance(url, str) and url else []
    return Unit(item_type, title, frames, entry.get("clientMetadata", {}), "clientMetadata" in entry, media)


def _unit(list_key: str, where: str, entry: Any) -> Unit:
    """One entry of a registration file; a key Encord does not document there is a 400."""
    if not isinstance(entry, dict):
        raise bad_request(f"{where}: entries of a registration file must be JSON objects")
    title = entry.get("title")
    problem: str | None = None
    if title is not None and not isinstance(title, str):
        title, problem = None, "'title' must be a string"
    if list_key in _SIMPLE_KINDS:
        unit = _single_unit(list_key, where, entry, title)
        unit.problem = problem
        return unit
    for key in entry:
        if key not in _GROUP_KEYS[list_key] and not _FRAME_KEY.match(key):
            raise bad_request(
                f"{where}: unknown key {key!r} in a registration file's group (frames: objectUrl_N)"
            )
    if list_key == "imageGroups":
        item_type = "imageSequence" if entry.get("createVideo", False) is True else "imageGroup"
    else:
        item_type = "dicomSeries"
    metadata, given = entry.get("clientMetadata", {}), "clientMetadata" in entry
    found = _frames(entry)
    if isinstance(found, str):
        return Unit(item_type, title, [], metadata, given, {}, problem or found)
    return Unit(item_type, title, found, metadata, given, {"frameCount": len(found)}, problem)


def parse_spec(spec: Any) -> UploadSpec:
    """A registration file (`externalFiles`); raises a 400 for anything Encord does not document."""
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
            parsed.units.extend(_unit(_LIST_KEYS[key], f"{key}[{n}]", entry) for n, entry in enumerate(value))
        elif key in _UNSUPPORTED_LIST_KEYS:
            if value:
                raise bad_request(f"'{key}' is not supported by the emulator")
        else:
            raise bad_request(f"Unknown key {key!r} in the registration spec")
    return parsed


# -- per-unit checks --------------------------------------------------------------------------------

_PROVIDER_URLS = {
    "gcp": "gs://<bucket>/<key> or https://storage.googleapis.com/<bucket>/<key>",
    "aws": "s3://<bucket>/<key> or https://<bucket>.s3.<region>.amazonaws.com/<key>",
    "azure": "https://<account>.blob.core.windows.net/<container>/<key>",
    "otc": "https://<bucket>.obs.<region>.otc.t-systems.com/<key>",
}


def url_matches_provider(url: str, provider: str) -> bool:
    parts = split_url(url)
    host = (parts.hostname or "").lower()
    if not host or not parts.path.strip("/"):  # a bucket (or host) and an object key are both needed
        return False
    if provider == "gcp":
        return parts.scheme == "gs" or (parts.scheme == "https" and host in GCS_HOSTS)
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


def unit_problem(unit: Unit, integration: Row | None, buckets: BucketFiles | None = None) -> str | None:
    """Why this unit cannot be registered, or None. `buckets`: the sandbox's buckets, local directories."""
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
        missing = buckets.missing(url) if buckets else None
        if missing is not None:
            return (
                f"Failed to read {url} with the {integration['provider'].upper()} integration "
                f"{integration['title']!r}: 404 {missing}"
            )
    return None
