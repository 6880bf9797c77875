"""The job-start body, validated as the service validates it: with the SDK's own models, by wire name only.

`PostUploadJobParams` and `DataUploadItems` (reconciler/encord/upload_wire.py mirrors encord 0.1.211 field
for field) refuse what the SDK's models refuse: a missing or mistyped field, a wrong `externalFileType`,
incomplete media metadata. They also refuse what the SDK could never send: an unknown field, a snake_case
spelling, a field the models no longer have. Each is a 400 naming the field, as a validation error of the
service would. So nothing is stored that the SDK could not read back.

This module sits above specs.py (the units, the registration file, the per-unit checks) and imports
from it, never the other way round.

The models are shared with the client that builds the bodies; what keeps both honest is outside them:
tests/fidelity/test_upload_parity.py pins the models to the SDK's, and tests/emulator/test_strict_jobs.py
sends the emulator every shape the SDK produces and a set the SDK's models refuse.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.emulator.errors import bad_request, validation_message
from reconciler.emulator.specs import Frame, Unit, UploadSpec, item_media, parse_spec
from reconciler.encord import upload_wire as wire

_NOT_SUPPORTED = {
    "image_groups_from_items": "imageGroupsFromItems",
    "time_series": "timeSeries",
    "scenes": "scenes",
}


def parse_upload_request(body: Any) -> tuple[UploadSpec, Any]:
    """The job-start body -> (parsed spec, the spec document to store). The body is validated whole;
    `dataItems` by the SDK's models, `externalFiles` as a registration file (specs.py)."""
    params = parse_job_params(body)
    if (params.external_files is None) == (params.data_items is None):
        raise bad_request("Exactly one of 'externalFiles' and 'dataItems' is required")
    if params.data_items is not None:
        return units_from_items(params.data_items), body["dataItems"]
    return parse_spec(params.external_files), body["externalFiles"]


def parse_job_params(body: Any) -> wire.PostUploadJobParams:
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    try:
        return wire.read_wire(wire.PostUploadJobParams, body)
    except ValidationError as error:
        raise bad_request(validation_message(error, "upload job")) from None


def _placeholder(model: BaseModel) -> str | None:
    if getattr(model, "placeholder_item_uuid", None) is not None:
        return "Encord-hosted uploads (placeholderItemUuid) are not supported by the emulator"
    return None


# Single-file list -> (item type, its media-metadata field).
_SINGLE = {
    "videos": ("video", "video_metadata"),
    "images": ("image", "image_metadata"),
    "audio": ("audio", "audio_metadata"),
    "nifti": ("nifti", None),
    "text": ("plainText", "text_metadata"),
    "pdf": ("pdf", "pdf_metadata"),
}


def _single(item_type: str, entry: Any, media_field: str | None) -> Unit:
    media = item_media(getattr(entry, media_field)) if media_field else {}
    given = "client_metadata" in entry.model_fields_set
    frames = [Frame(entry.object_url, entry.title)]
    return Unit(item_type, entry.title, frames, entry.client_metadata, given, media, _placeholder(entry))


def _group(item_type: str, group: Any, files: list[Any]) -> Unit:
    frames = [Frame(file.url, file.title) for file in files]
    problem = next((p for p in map(_placeholder, files) if p), None)
    given = "client_metadata" in group.model_fields_set
    media = {"frameCount": len(frames)}
    return Unit(item_type, group.title, frames, group.client_metadata, given, media, problem)


def units_from_items(items: wire.DataUploadItems) -> UploadSpec:
    """The units of a validated `dataItems`, in the order of its lists (the SDK's field order)."""
    spec = UploadSpec(skip_duplicate_urls=items.skip_duplicate_urls, upsert_metadata=items.upsert_metadata)
    for name in wire.DataUploadItems.model_fields:
        entries = getattr(items, name)
        if name in _NOT_SUPPORTED and entries:
            raise bad_request(f"'{_NOT_SUPPORTED[name]}' is not supported by the emulator")
        if name in _SINGLE:
            item_type, media_field = _SINGLE[name]
            spec.units.extend(_single(item_type, entry, media_field) for entry in entries)
        elif name == "image_groups":
            spec.units.extend(
                _group("imageSequence" if g.create_video else "imageGroup", g, g.images) for g in entries
            )
        elif name == "dicom_series":
            spec.units.extend(_group("dicomSeries", series, series.dicom_files) for series in entries)
    return spec
