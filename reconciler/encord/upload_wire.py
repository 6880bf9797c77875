"""The upload-job body, exactly as the pinned SDK's models define it (encord 0.1.211, orm/storage.py).

`DataUploadItems` and every model below it, field for field and in the SDK's order: the names (camelCase
on the wire, the SDK's `snake_to_camel`), which fields are required, their types and defaults, and that a
None is left out (the SDK's `to_dict()` is `model_dump(by_alias=True, exclude_none=True, mode="json")`).
`wire_body` dumps the same way, so the bytes match the SDK's; tests/fidelity/test_upload_parity.py holds
that for every data type.

One difference on purpose: unknown fields are refused here, where the SDK drops them silently. Built from
a declared entry, a dropped field would be a typo the user never hears of; read by the emulator, it is a
body the SDK could not have sent. The emulator validates job bodies with these models and only by alias
(camelCase), as the service would.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

# The SDK's encord.common.utils.HEX_COLOR_PATTERN.
HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
SDK_VERSION = "0.1.211"


def snake_to_camel(name: str) -> str:
    """The SDK's alias generator (encord.common.utils.snake_to_camel), byte for byte."""
    camel = re.sub("([0-9A-Za-z])_(?=[0-9A-Z])", lambda m: m.group(1), name.title())
    return re.sub("(^_*[A-Z])", lambda m: m.group(1).lower(), camel)


class WireModel(BaseModel):
    # Built on first use, not on import: a plan that registers nothing never validates an upload body.
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=snake_to_camel,
        protected_namespaces=(),
        defer_build=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _omitted_nulls(cls, values: Any, info: ValidationInfo) -> Any:
        """Read off the wire (context `wire`), a required field that may be null and is absent was a
        None that `to_dict()` left out: the SDK sends a DICOM file's `title: None` that way."""
        if not (isinstance(values, dict) and info.context and info.context.get("wire")):
            return values
        missing = {alias: None for alias in _required_nullable(cls) if alias not in values}
        return {**values, **missing} if missing else values


_REQUIRED_NULLABLE: dict[type, tuple[str, ...]] = {}


def _required_nullable(model: type[BaseModel]) -> tuple[str, ...]:
    """The aliases of a model's required fields that may be null; once per model (this runs per item
    of an upload job, and reading `model_fields` each time cost a second per 100,000 items)."""
    found = _REQUIRED_NULLABLE.get(model)
    if found is None:
        found = tuple(
            field.alias or name
            for name, field in model.model_fields.items()
            if field.is_required() and _nullable(field.annotation)
        )
        _REQUIRED_NULLABLE[model] = found
    return found


# -- media metadata: "if provided, Encord uses these values instead of scanning the file" --------------


def _nullable(annotation: Any) -> bool:
    return type(None) in get_args(annotation)


class ImageMetadata(WireModel):
    mime_type: str
    file_size: int
    height: int
    width: int


class VideoMetadata(WireModel):
    fps: float
    duration: float
    width: int
    height: int
    file_size: int
    mime_type: str


class AudioMetadata(WireModel):
    duration: float
    file_size: int
    mime_type: str
    sample_rate: int
    bit_depth: int
    codec: str
    num_channels: int


class TextMetadata(WireModel):
    file_size: int
    mime_type: str


class PdfMetadata(WireModel):
    file_size: int
    num_pages: int


class DicomFileMetadata(WireModel):
    # The SDK's docstring lists 22 required tags, but its model does not check them: neither do we.
    tags: dict[str, dict[str, Any] | None]


# -- time-series view settings ---------------------------------------------------------------------------


class _ChannelSettings(WireModel):
    label: Annotated[str | None, Field(min_length=1, max_length=1024)] = None
    color: str | None = None
    hidden: bool = False

    @model_validator(mode="before")
    @classmethod
    def _color(cls, values: Any) -> Any:
        if isinstance(values, dict):
            color = values.get("color")
            if color is not None and (not isinstance(color, str) or HEX_COLOR.fullmatch(color) is None):
                raise ValueError("color must be a 3, 6, or 8 digit hexadecimal color")
        return values


class LineChannelSettings(_ChannelSettings):
    style: Literal["line"] = "line"
    line_width: Annotated[float, Field(ge=0.5, le=6)] = 1.5


class PointsChannelSettings(_ChannelSettings):
    style: Literal["points"] = "points"
    point_radius: Annotated[float, Field(ge=1, le=8)] = 2


class TimeSeriesViewSettings(WireModel):
    channels: dict[str, LineChannelSettings | PointsChannelSettings]

    @model_validator(mode="before")
    @classmethod
    def _channel_count(cls, values: Any) -> Any:
        if (
            isinstance(values, dict)
            and isinstance(values.get("channels"), dict)
            and len(values["channels"]) > 100
        ):
            raise ValueError("channels must contain at most 100 entries")
        return values


# -- items --------------------------------------------------------------------------------------------


class UploadImage(WireModel):
    object_url: str
    title: str | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    external_file_type: Literal["IMAGE"] = "IMAGE"
    image_metadata: ImageMetadata | None = None
    placeholder_item_uuid: UUID | None = None


class UploadVideo(WireModel):
    object_url: str
    title: str | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    external_file_type: Literal["VIDEO"] = "VIDEO"
    video_metadata: VideoMetadata | None = None
    placeholder_item_uuid: UUID | None = None


class UploadNifti(WireModel):
    object_url: str
    title: str | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    external_file_type: Literal["NIFTI"] = "NIFTI"
    placeholder_item_uuid: UUID | None = None


class UploadImageGroupImage(WireModel):
    url: str
    title: str | None = None
    image_metadata: ImageMetadata | None = None
    placeholder_item_uuid: UUID | None = None


class UploadImageGroup(WireModel):
    images: list[UploadImageGroupImage]
    title: str | None  # required, may be null (Encord wants one with a cloud integration)
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    create_video: bool = False  # True: an image sequence
    external_file_type: Literal["IMG_GROUP"] = "IMG_GROUP"


class UploadImageGroupFromItems(WireModel):
    image_items: list[UUID]
    title: str | None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    create_video: bool
    video_url_prefix: str | None = None
    external_file_type: Literal["IMG_GROUP_FROM_ITEMS"] = "IMG_GROUP_FROM_ITEMS"


class UploadDicomFile(WireModel):
    url: str
    title: str | None  # required, may be null
    dicom_metadata: DicomFileMetadata | None = None
    placeholder_item_uuid: UUID | None = None


class UploadDicomSeries(WireModel):
    dicom_files: list[UploadDicomFile]
    title: str | None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    external_file_type: Literal["DICOM"] = "DICOM"


class UploadText(WireModel):
    object_url: str
    title: str | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    external_file_type: Literal["PLAIN_TEXT"] = "PLAIN_TEXT"
    text_metadata: TextMetadata | None = None
    placeholder_item_uuid: UUID | None = None


class UploadPdf(WireModel):
    object_url: str
    title: str | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    pdf_metadata: PdfMetadata | None = None
    external_file_type: Literal["PDF"] = "PDF"
    placeholder_item_uuid: UUID | None = None


class UploadAudio(WireModel):
    object_url: str
    title: str | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    audio_metadata: AudioMetadata | None = None
    external_file_type: Literal["AUDIO"] = "AUDIO"
    placeholder_item_uuid: UUID | None = None


class UploadTimeSeries(WireModel):
    object_url: str
    title: str | None = None
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    settings: TimeSeriesViewSettings | None = None
    external_file_type: Literal["TIMESERIES"] = "TIMESERIES"


class UploadScene(WireModel):
    title: str
    scene: dict[str, Any]
    client_metadata: dict[str, Any] = Field(default_factory=dict)
    external_file_type: Literal["SCENE"] = "SCENE"
    placeholder_item_uuid: UUID | None = None


class DataUploadItems(WireModel):
    videos: list[UploadVideo] = Field(default_factory=list)
    image_groups: list[UploadImageGroup] = Field(default_factory=list)
    dicom_series: list[UploadDicomSeries] = Field(default_factory=list)
    images: list[UploadImage] = Field(default_factory=list)
    image_groups_from_items: list[UploadImageGroupFromItems] = Field(default_factory=list)
    audio: list[UploadAudio] = Field(default_factory=list)
    time_series: list[UploadTimeSeries] = Field(default_factory=list)
    nifti: list[UploadNifti] = Field(default_factory=list)
    text: list[UploadText] = Field(default_factory=list)
    pdf: list[UploadPdf] = Field(default_factory=list)
    scenes: list[UploadScene] = Field(default_factory=list)
    skip_duplicate_urls: bool = False
    upsert_metadata: bool = False  # no effect unless skip_duplicate_urls


class PostUploadJobParams(WireModel):
    """The job-start request body (`POST storage/folders/{uuid}/data-upload-jobs`)."""

    data_items: DataUploadItems | None = None
    external_files: dict[str, Any] | None = None
    integration_hash: UUID | None = None
    ignore_errors: bool = False
    file_name: str | None = None


M = TypeVar("M", bound=WireModel)

# The media-metadata model of each single-file data type (as reconciler's config names the types).
MEDIA_MODELS: dict[str, type[WireModel]] = {
    "image": ImageMetadata,
    "video": VideoMetadata,
    "audio": AudioMetadata,
    "text": TextMetadata,
    "pdf": PdfMetadata,
}


def read_wire(model: type[M], body: Any) -> M:
    """A body as received: by wire name only, with the nulls `to_dict()` leaves out."""
    return model.model_validate(body, by_alias=True, by_name=False, context={"wire": True})


def wire_body(model: WireModel) -> dict[str, Any]:
    """What the SDK's `to_dict()` makes of the same model."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")
