"""Wire models: Encord's JSON as it travels, parsed leniently (camelCase or snake_case, unknown keys ignored).

The client returns these; the provider translates them into the domain (`reconciler.live`). Field facts are
in ../shared/encord-api.md (sections noted per model).
"""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from typing import Any, NotRequired
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class WireIntegration(WireModel):
    """§3.1 — `{"integrationUuid", "title"}`."""

    integration_uuid: UUID
    title: str


class WirePathElement(WireModel):
    uuid: UUID
    parent_uuid: UUID | None = None
    name: str
    synced_dataset_hash: UUID | None = None


class WireFolder(WireModel):
    """§5.1 — clientMetadata arrives as a JSON-encoded string (or null)."""

    uuid: UUID
    parent: UUID | None
    name: str
    description: str = ""
    client_metadata: str | None = None
    owner: str = ""
    created_at: datetime | None = None
    last_edited_at: datetime | None = None
    user_role: str | None = None
    synced_dataset_hash: UUID | None = None
    path_to_root: list[WirePathElement] = Field(default_factory=list)


# media-metadata wire name -> WireItem field
MEDIA_FIELDS = (
    ("fileSize", "file_size"),
    ("mimeType", "mime_type"),
    ("duration", "duration"),
    ("fps", "fps"),
    ("height", "height"),
    ("width", "width"),
    ("sampleRate", "audio_sample_rate"),
    ("bitDepth", "audio_bit_depth"),
    ("codec", "audio_codec"),
    ("numChannels", "audio_num_channels"),
)


_MEDIA_NAMES = tuple(name for name, _ in MEDIA_FIELDS)
_media_values = attrgetter(*(field for _, field in MEDIA_FIELDS))  # one C call per item, not ten getattr


class WireItem(WireModel):
    """§6.1 — only the fields reconciler reads; the rest are ignored."""

    uuid: UUID
    parent: UUID
    item_type: str
    name: str
    client_metadata: str = "{}"
    url: str | None = None
    integration_hash: UUID | None = None
    storage_location: str | None = None
    is_tombstone: bool = False
    is_placeholder: bool = False
    backed_data_units_count: int = 0  # data rows (in any dataset) that use the item
    # What Encord reports of the item's media (from the file, or from the metadata it was registered with).
    file_size: int | None = None
    mime_type: str | None = None
    duration: float | None = None
    fps: float | None = None
    height: int | None = None
    width: int | None = None
    audio_sample_rate: int | None = None
    audio_bit_depth: int | None = None
    audio_codec: str | None = None
    audio_num_channels: int | None = None

    def media(self) -> dict[str, Any]:
        """The reported fields under their media-metadata names (fileSize, sampleRate, ...)."""
        return {
            name: value
            for name, value in zip(_MEDIA_NAMES, _media_values(self), strict=True)
            if value is not None
        }


class WireUnitError(WireModel):
    object_urls: list[str] = Field(default_factory=list)
    error: str = ""
    subtask_uuid: UUID | None = None
    action_description: str = ""


class WireItemWithName(WireModel):
    item_uuid: UUID
    name: str


class WireUploadJob(WireModel):
    """§7.2 — status is upper-case: PENDING, DONE, ERROR, CANCELLED."""

    status: str
    items_with_names: list[WireItemWithName] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    units_pending_count: int = 0
    units_done_count: int = 0
    units_error_count: int = 0
    units_cancelled_count: int = 0
    unit_errors: list[WireUnitError] = Field(default_factory=list)
    file_name: str | None = None


class WireDatasetInfo(WireModel):
    """§8.2 — one entry of `GET datasets/list`."""

    dataset_uuid: UUID = Field(validation_alias=AliasChoices("datasetUuid", "dataset_uuid", "datasetHash"))
    title: str
    description: str = ""
    created_at: datetime | None = None
    last_edited_at: datetime | None = None
    user_role: str | None = None
    storage_location: int | None = None
    backing_folder_uuid: UUID | None = None


class WireDataRow(BaseModel):
    """§8.3 — v1 data rows are snake_case, read as plain keys."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    data_hash: str
    data_title: str
    data_type: str
    backing_item_uuid: UUID | None = None
    file_link: str | None = None
    client_metadata: dict[str, Any] | None = None


class WireDataset(BaseModel):
    """§8.3 — v1 `dataset` GET response."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    dataset_hash: str
    title: str
    description: str = ""
    dataset_type: str | None = None
    backing_folder_uuid: UUID | None = None
    data_rows: list[WireDataRow] = Field(default_factory=list)


# -- lean models: bulk pages validated straight from the response bytes -----------------------------
# A no-change plan of a large workspace reads hundreds of thousands of items and data rows; these keep
# only what the plan compares (identities and flags), so a page costs one Rust-side parse and no
# per-object Python work. Strings stay strings: Encord writes UUIDs in one canonical (lower-case) form.


_NEXT_PAGE_TOKEN = AliasChoices("nextPageToken", "next_page_token")


class _Lean(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WireFolderPage(_Lean):
    """§5.4 — a page of folders (few per workspace, so whole folder objects)."""

    results: list[WireFolder]
    next_page_token: str | None = Field(default=None, validation_alias=_NEXT_PAGE_TOKEN)


class WireItemPage(_Lean):
    """§6.1 — a page of whole items (a managed folder's, compared entry by entry), validated at once."""

    results: list[WireItem]
    next_page_token: str | None = Field(default=None, validation_alias=_NEXT_PAGE_TOKEN)


class ItemRef(TypedDict):
    """§6.1 — an item's identity, where it lives, and whether it counts, under its wire names.

    A dict, not a model: a plan reads a million of these, and validating into dicts costs about 40%
    less than building a model per item. Absent flags mean False, an absent count 0 (`.get`)."""

    uuid: str
    parent: str
    isTombstone: NotRequired[bool]
    isPlaceholder: NotRequired[bool]
    backedDataUnitsCount: NotRequired[int]


class ItemRefPage(_Lean):
    results: list[ItemRef]
    next_page_token: str | None = Field(default=None, validation_alias=_NEXT_PAGE_TOKEN)


class DataRowRef(TypedDict):
    """§8.3 — a data row's hash and the storage item behind it (a dict, as `ItemRef`: a million rows)."""

    data_hash: str
    backing_item_uuid: NotRequired[str | None]
    storage_location: NotRequired[int | None]  # 0: CORD_STORAGE, Encord-hosted (SDK StorageLocation)


class DatasetRows(_Lean):
    dataset_hash: str
    title: str
    data_rows: list[DataRowRef] = Field(default_factory=list)


class DatasetRowsEnvelope(_Lean):
    """The v1 envelope around a `dataset` GET."""

    status: int
    response: DatasetRows | None = None
