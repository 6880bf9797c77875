"""The upload-job body reconciler sends is the one the pinned SDK sends for the same entries.

Two checks, both against encord==0.1.211's own models:

* **The models** (`reconciler/encord/upload_wire.py` against `encord.orm.storage`): every field of every
  model under `DataUploadItems`, in order, with its wire name, whether it is required, its default and its
  type. A new SDK release that adds, renames or re-types a field fails here first, naming it.
* **The bytes**: for a corpus covering every data type apply registers (images, videos, audio, text, PDF,
  NIfTI, image groups, image sequences, DICOM series) with titles, client metadata (nested, unicode,
  nulls) and every kind of media metadata (declared in snake_case and in camelCase), the SDK builds
  `DataUploadItems` from its own DTOs, written here independently of reconciler, and calls
  `add_private_data_to_folder_start`; reconciler builds the same job from `Entry` objects with
  `upload_items` and `EncordClient.start_upload_job`. The emulator's request log must hold the same
  request (body, and so `Content-Digest`: the same bytes). See test_request_parity.py for the rules.

The one written-down difference (parity.ALLOWED_DIFFERENCES has none for this operation): reconciler
refuses a media-metadata key the SDK's model does not know, where the SDK drops it silently; that is a
refusal before any request, so no body differs.
"""

from __future__ import annotations

import types
import typing
from typing import Any
from uuid import UUID

import pytest
from encord.orm import storage as sdk_storage
from pydantic import BaseModel

from reconciler.encord import upload_wire
from reconciler.encord.client import EncordClient
from reconciler.encord.provider_items import upload_items
from reconciler.registration.entry import Entry
from tests.fidelity.parity import RUN, Parity, World

pytestmark = pytest.mark.fidelity

# reconciler's model -> the SDK's.
PAIRS: dict[type[BaseModel], str] = {
    upload_wire.ImageMetadata: "CustomerProvidedImageMetadata",
    upload_wire.VideoMetadata: "CustomerProvidedVideoMetadata",
    upload_wire.AudioMetadata: "CustomerProvidedAudioMetadata",
    upload_wire.TextMetadata: "CustomerProvidedTextMetadata",
    upload_wire.PdfMetadata: "CustomerProvidedPdfMetadata",
    upload_wire.DicomFileMetadata: "CustomerProvidedDicomSeriesDicomFileMetadata",
    upload_wire.LineChannelSettings: "TimeSeriesLineChannelViewSettings",
    upload_wire.PointsChannelSettings: "TimeSeriesPointsChannelViewSettings",
    upload_wire.TimeSeriesViewSettings: "TimeSeriesViewSettings",
    upload_wire.UploadImage: "DataUploadImage",
    upload_wire.UploadVideo: "DataUploadVideo",
    upload_wire.UploadNifti: "DataUploadNifti",
    upload_wire.UploadImageGroupImage: "DataUploadImageGroupImage",
    upload_wire.UploadImageGroup: "DataUploadImageGroup",
    upload_wire.UploadImageGroupFromItems: "DataUploadImageGroupFromItems",
    upload_wire.UploadDicomFile: "DataUploadDicomSeriesDicomFile",
    upload_wire.UploadDicomSeries: "DataUploadDicomSeries",
    upload_wire.UploadText: "DataUploadText",
    upload_wire.UploadPdf: "DataUploadPDF",
    upload_wire.UploadAudio: "DataUploadAudio",
    upload_wire.UploadTimeSeries: "DataUploadTimeSeries",
    upload_wire.UploadScene: "DataUploadScene",
    upload_wire.DataUploadItems: "DataUploadItems",
    upload_wire.PostUploadJobParams: "PostUploadJobParams",
}
_SDK_NAMES = {sdk_name: ours.__name__ for ours, sdk_name in PAIRS.items()}


def _type_name(annotation: Any) -> str:
    """A type, spelt the same for both sides: SDK classes by our name for them, Optional as `| None`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(sorted(_type_name(a) for a in args))
    if origin is typing.Literal:
        return f"Literal{list(args)}"
    if origin is dict and args == (str, Any):
        return "dict"  # the SDK's bare `Dict` is the same type
    if origin is not None:
        name = {dict: "dict", list: "list"}.get(origin, getattr(origin, "__name__", str(origin)))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name
    if annotation is typing.Dict or annotation is dict:  # noqa: UP006 - the SDK's bare `Dict`
        return "dict"
    name = getattr(annotation, "__name__", str(annotation))
    return _SDK_NAMES.get(name, name)


def _fields(model: type[BaseModel]) -> list[tuple[str, str | None, bool, Any, str, Any]]:
    found = []
    for name, info in model.model_fields.items():
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        constraints = sorted(str(m) for m in info.metadata)
        found.append(
            (name, info.alias, info.is_required(), default, _type_name(info.annotation), constraints)
        )
    return found


@pytest.mark.parametrize("ours", list(PAIRS), ids=lambda m: m.__name__)
def test_each_wire_model_has_the_sdk_models_fields(ours: type[BaseModel]) -> None:
    theirs = getattr(sdk_storage, PAIRS[ours])
    assert _fields(ours) == _fields(theirs)


# -- the bytes --------------------------------------------------------------------------------------------

IMAGE_MEDIA = {"mime_type": "image/jpeg", "file_size": 1024, "height": 480, "width": 640}
VIDEO_MEDIA = {
    "fps": 29.97,
    "duration": 12.5,
    "width": 1920,
    "height": 1080,
    "fileSize": 10**9,
    "mimeType": "video/mp4",
}
AUDIO_MEDIA = {
    "duration": 3.25,
    "file_size": 2048,
    "mime_type": "audio/mpeg",
    "sample_rate": 44100,
    "bit_depth": 16,
    "codec": "mp3",
    "num_channels": 2,
}
TEXT_MEDIA = {"fileSize": 12, "mimeType": "text/plain"}
PDF_MEDIA = {"file_size": 4096, "num_pages": 3}
METADATA = {"split": "train", "ü": [1.5, None, True], "nested": {"k": None}, "n": 0}


def _url(name: str) -> str:
    return f"s3://parity-bucket/{RUN}/upload/{name}"


# (data type, URLs, title, clientMetadata, media metadata as declared)
CORPUS: list[tuple[str, tuple[str, ...], str | None, dict[str, Any] | None, dict[str, Any] | None]] = [
    ("image", (_url("plain.jpg"),), None, None, None),
    ("image", (_url("titled é.jpg"),), "Titled é / ü", METADATA, None),
    ("image", (_url("media.png"),), None, {"camera": "front"}, IMAGE_MEDIA),
    (
        "image",
        (_url("camel.png"),),
        "camel",
        None,
        {"mimeType": "image/png", "fileSize": 1, "height": 2, "width": 3},
    ),
    ("video", (_url("clip.mp4"),), "clip", METADATA, VIDEO_MEDIA),
    ("video", (_url("bare.mp4"),), None, None, None),
    ("audio", (_url("sound.mp3"),), None, {"lang": "en"}, AUDIO_MEDIA),
    ("text", (_url("notes.txt"),), "notes", None, TEXT_MEDIA),
    ("pdf", (_url("paper.pdf"),), None, None, PDF_MEDIA),
    ("nifti", (_url("brain.nii.gz"),), "brain", {"subject": 7}, None),
    ("image_group", tuple(_url(f"g/{n}.jpg") for n in range(3)), "a group", METADATA, None),
    ("image_sequence", tuple(_url(f"s/{n}.jpg") for n in range(2)), "a sequence", None, None),
    ("dicom_series", tuple(_url(f"d/{n}") for n in range(2)), "a series", {"modality": "CT"}, None),
]


def _snake(media: dict[str, Any]) -> dict[str, Any]:
    return {"".join("_" + c.lower() if c.isupper() else c for c in k): v for k, v in media.items()}


def sdk_items(corpus: list[Any]) -> Any:
    """The corpus as a user of the SDK writes it: the SDK's DTOs, by hand."""
    s = sdk_storage
    items = s.DataUploadItems(skip_duplicate_urls=True)
    single = {
        "image": (items.images, s.DataUploadImage, "image_metadata", s.CustomerProvidedImageMetadata),
        "video": (items.videos, s.DataUploadVideo, "video_metadata", s.CustomerProvidedVideoMetadata),
        "audio": (items.audio, s.DataUploadAudio, "audio_metadata", s.CustomerProvidedAudioMetadata),
        "text": (items.text, s.DataUploadText, "text_metadata", s.CustomerProvidedTextMetadata),
        "pdf": (items.pdf, s.DataUploadPDF, "pdf_metadata", s.CustomerProvidedPdfMetadata),
        "nifti": (items.nifti, s.DataUploadNifti, None, None),
    }
    for data_type, urls, title, metadata, media in corpus:
        if data_type in single:
            target, dto, media_field, media_dto = single[data_type]
            extra = {media_field: media_dto(**_snake(media))} if media else {}
            target.append(dto(object_url=urls[0], title=title, client_metadata=metadata or {}, **extra))
        elif data_type == "dicom_series":
            files = [s.DataUploadDicomSeriesDicomFile(url=u, title=None) for u in urls]
            items.dicom_series.append(
                s.DataUploadDicomSeries(dicom_files=files, title=title, client_metadata=metadata or {})
            )
        else:
            items.image_groups.append(
                s.DataUploadImageGroup(
                    images=[s.DataUploadImageGroupImage(url=u) for u in urls],
                    title=title,
                    client_metadata=metadata or {},
                    create_video=data_type == "image_sequence",
                )
            )
    return items


def our_entries(corpus: list[Any]) -> list[Entry]:
    return [
        Entry(data_type, urls, f"corpus:{n}", title, metadata, media)
        for n, (data_type, urls, title, metadata, media) in enumerate(corpus)
    ]


def test_the_body_equals_the_sdk_to_dict_offline() -> None:
    assert upload_wire.wire_body(upload_items(our_entries(CORPUS))) == sdk_items(CORPUS).to_dict()


async def test_starting_a_job_with_data_items_sends_what_the_sdk_sends(
    parity: Parity, sdk: Any, ours: EncordClient, world: World
) -> None:
    target = await ours.create_folder("data-items", parent=world.shared)
    folder = sdk.get_storage_folder(target.uuid)
    items = sdk_items(CORPUS)
    started: list[UUID] = []
    theirs = parity.sdk(
        lambda: started.append(
            folder.add_private_data_to_folder_start(str(world.integration), items, ignore_errors=True)
        )
    )
    mine = await parity.ours(
        ours.start_upload_job(
            target.uuid,
            data_items=upload_items(our_entries(CORPUS)),
            integration_uuid=world.integration,
            ignore_errors=True,
        )
    )
    parity.assert_same("start_upload_job_data_items", theirs, mine)
    # The SDK's job registered every entry, and the SDK reads all of them back.
    state = folder.add_private_data_to_folder_get_result(started[0], timeout_seconds=10)
    assert (state.status.value, state.units_done_count, state.unit_errors) == ("DONE", len(CORPUS), [])
    assert len(list(folder.list_items())) == len(CORPUS)
