"""One declared registration entry, whatever source it came from: the unit the plan works on.

An entry is one image, video, audio, text, PDF or NIfTI file, or one image group, image sequence or
DICOM series (its frames' URLs in order). Within a folder an entry is identified by its URLs.
Entries are kept lean (slots, tuples) because a folder may declare a million of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Data types as the config names them -> Encord's storage item type (§6.1).
ITEM_TYPES = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "text": "plainText",
    "pdf": "pdf",
    "nifti": "nifti",
    "image_group": "imageGroup",
    "image_sequence": "imageSequence",
    "dicom_series": "dicomSeries",
}
DATA_TYPES = {item_type: data_type for data_type, item_type in ITEM_TYPES.items()}
GROUP_TYPES = frozenset({"image_group", "image_sequence", "dicom_series"})

# The media-metadata object each single-file type may carry (JSON registration key, camelCase).
MEDIA_KEYS = {
    "image": "imageMetadata",
    "video": "videoMetadata",
    "audio": "audioMetadata",
    "text": "textMetadata",
    "pdf": "pdfMetadata",
}

# Encord's limits (../shared/encord-api.md §7.9).
MAX_URL_BYTES = 16 * 1024
MAX_TITLE_CHARS = 300
MAX_URLS_PER_FILE = 1_000_000
MAX_ITEMS_PER_FILE = 500_000
MAX_CSV_ENTRIES = 10_000


@dataclass(slots=True)  # not frozen: a frozen dataclass is ~5x slower to build, and there are millions
class Entry:
    """A declared item. `title` and `client_metadata` are None when the source does not declare them:
    then reconciler leaves them to Encord and never compares them."""

    type: str  # a key of ITEM_TYPES
    urls: tuple[str, ...]  # one URL, or the frames of a group in order
    where: str  # where it is declared: `file:/images/3` (JSON pointer), `file:12` (CSV line), or its URL
    title: str | None = None
    client_metadata: dict[str, Any] | None = None
    media: dict[str, Any] | None = None  # imageMetadata, videoMetadata, ... as declared
    config: dict[str, Any] | None = None  # a video's key-frame config, as declared (JSON sources only)

    @property
    def is_group(self) -> bool:
        return self.type in GROUP_TYPES

    @property
    def item_type(self) -> str:
        return ITEM_TYPES[self.type]


@dataclass
class SourceEntries:
    """What one data source declares, and the problems found reading it (each naming file and entry)."""

    display: str  # the source as the user wrote it, for messages: a path or gs://bucket/prefix
    integration: str
    entries: list[Entry]
    problems: list[str]
