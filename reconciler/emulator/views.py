"""Wire shapes: stored rows -> JSON as the real service emits it (camelCase v2, snake_case v1).

Every key the SDK declares as required-but-nullable is always present.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from reconciler.emulator.store import Row, Tx
from reconciler.emulator.store_reads import DATA_ROW_COLUMNS, DATA_ROW_ITEM_COLUMNS
from reconciler.emulator.store_sql import load_json

# Integration provider -> v2 `storageLocation` name and v1 `StorageLocation` int / `dataset_type` string.
STORAGE_LOCATION_NAME = {"gcp": "gcp", "aws": "s3", "azure": "azure", "otc": "openTelekom"}
STORAGE_LOCATION_INT = {"gcp": 2, "aws": 1, "azure": 3, "otc": 4}
DATASET_TYPE_BY_INT = {0: "CORD_STORAGE", 1: "AWS_S3", 2: "GCP_STR", 3: "AZURE_STR", 4: "S3_COMPATIBLE_STR"}
_LOCATION_INT_BY_NAME = {STORAGE_LOCATION_NAME[p]: i for p, i in STORAGE_LOCATION_INT.items()}

# The item's media fields, in wire order (`item_view` spells them out, for speed).
MEDIA_KEYS = (
    "fileSize",
    "mimeType",
    "duration",
    "fps",
    "height",
    "width",
    "dicomInstanceUid",
    "dicomStudyUid",
    "dicomSeriesUid",
    "frameCount",
    "audioSampleRate",
    "audioBitDepth",
    "audioCodec",
    "audioNumChannels",
)

_MEDIA_PARTS_PER_PAGE = 256  # distinct media texts remembered while a page is rendered
# The media fields a data row shows, in `data_row_views`' order.
_DATA_ROW_MEDIA = ("width", "height", "fileSize", "mimeType", "fps", "duration", "frames")

# v2 item type -> v1 data row `data_type`.
DATA_TYPE = {
    "image": "IMAGE",
    "video": "VIDEO",
    "imageGroup": "IMG_GROUP",
    "imageSequence": "IMG_GROUP",
    "dicomSeries": "DICOM",
    "audio": "AUDIO",
    "plainText": "PLAIN_TEXT",
    "pdf": "PDF",
    "nifti": "NIFTI",
    # the SDK's DataType also knows these (0.1.211): a data row of any storage item has a type
    "dicomFile": "DICOM",
    "group": "GROUP",
    "scene": "SCENE",
    "timeseries": "TIME_SERIES",
}


def _path_element(folder: Row) -> dict[str, Any]:
    return {
        "uuid": folder["uuid"],
        "parentUuid": folder["parent"],
        "name": folder["name"],
        "syncedDatasetHash": folder["synced_dataset_hash"],
    }


def path_to_root(tx: Tx, folder: Row) -> list[dict[str, Any]]:
    """Ancestors of `folder`, nearest first, excluding the folder itself (root folders: `[]`)."""
    return [_path_element(a) for a in tx.ancestors([folder["uuid"]])[folder["uuid"]]]


def _folder_view(folder: Row, ancestors: list[Row]) -> dict[str, Any]:
    return {
        "uuid": folder["uuid"],
        "parent": folder["parent"],
        "name": folder["name"],
        "description": folder["description"],
        # Stored as JSON text, which the wire carries as is.
        "clientMetadata": folder["client_metadata"],
        "owner": folder["owner"],
        "createdAt": folder["created_at"],
        "lastEditedAt": folder["last_edited_at"],
        "userRole": "admin",
        "syncedDatasetHash": folder["synced_dataset_hash"],
        "pathToRoot": [_path_element(a) for a in ancestors],
        "folderType": "generic",
        "integrationHash": None,
        "remoteUrl": None,
    }


def folder_views(tx: Tx, folders: list[Row]) -> list[dict[str, Any]]:
    """Folder objects; every folder's path to the root comes from one statement."""
    ancestors = tx.ancestors([f["uuid"] for f in folders])
    return [_folder_view(f, ancestors[f["uuid"]]) for f in folders]


def folder_view(tx: Tx, folder: Row) -> dict[str, Any]:
    return folder_views(tx, [folder])[0]


def signed_url(url: str | None) -> str | None:
    """A plausible, non-functional signed HTTPS URL for an object URL."""
    if url is None:
        return None
    parts = urlsplit(url)
    key = quote(parts.path.lstrip("/"))
    if parts.scheme == "gs":
        return f"https://storage.googleapis.com/{parts.netloc}/{key}?X-Goog-Signature=emulator"
    if parts.scheme == "s3":
        return f"https://{parts.netloc}.s3.amazonaws.com/{key}?X-Amz-Signature=emulator"
    return f"{url}{'&' if parts.query else '?'}signature=emulator"


def item_view(
    item: Row, *, data_units: int, sign: bool = False, with_metadata: bool = True
) -> dict[str, Any]:
    """One item object from a row dict (`media` decoded or as stored); listings use `item_views`."""
    return item_views(
        [*item, "data_units"], [(*item.values(), data_units)], sign=sign, with_metadata=with_metadata
    )[0]


def item_views(
    columns: Sequence[str], rows: Iterable[tuple[Any, ...]], *, sign: bool, with_metadata: bool
) -> list[dict[str, Any]]:
    """The item objects (§6.1) of rows given as tuples and their column names, with a `data_units` column:
    a listing renders SQLite's tuples straight, without a dict per row in between. `media` may be the
    stored JSON text or already decoded."""
    at = {name: i for i, name in enumerate(columns)}
    if "client_metadata" not in at:
        with_metadata = False
    metadata = at["client_metadata"] if with_metadata else -1
    uuid, parent, item_type, name, url = at["uuid"], at["parent"], at["item_type"], at["name"], at["url"]
    owner, created, edited = at["owner"], at["created_at"], at["last_edited_at"]
    location, integration, media_at, units = (
        at["storage_location"],
        at["integration_hash"],
        at["media"],
        at["data_units"],
    )
    views = []
    # The media fields of a stored media text: most items of a page share one (an image's MIME type), so
    # each distinct text is decoded once per page.
    media_parts: dict[Any, dict[str, Any]] = {}
    for row in rows:
        stored = row[media_at]
        part = media_parts.get(stored) if isinstance(stored, str) else None
        if part is None:
            media = (stored if isinstance(stored, dict) else load_json(stored)).get
            part = {key: media(key) for key in MEDIA_KEYS}
            if isinstance(stored, str) and len(media_parts) < _MEDIA_PARTS_PER_PAGE:
                media_parts[stored] = part
        views.append(
            {
                "uuid": row[uuid],
                "parent": row[parent],
                "itemType": row[item_type],
                "name": row[name],
                "description": "",
                "clientMetadata": row[metadata] if with_metadata else "{}",
                "owner": row[owner],
                "createdAt": row[created],
                "lastEditedAt": row[edited],
                "isTombstone": False,
                "isPlaceholder": False,
                "backedDataUnitsCount": row[units],
                "storageLocation": row[location],
                "integrationHash": row[integration],
                "url": row[url],
                "signedUrl": signed_url(row[url]) if sign else None,
                **part,
            }
        )
    return views


GROUP_ITEM_TYPES = frozenset({"group", "imageGroup", "imageSequence", "dicomSeries"})


def child_item_view(group: Row, frame: Row, *, sign: bool = False) -> dict[str, Any]:
    """A frame of a group as a storage item of its own (`child-items`).

    Frames are stored inside their group (`media.frames`), so the item is synthesised: its UUID is the
    frame's stored hash (stable), the rest comes from the frame and its group; no metadata of its own.
    """
    return item_view(
        {
            **group,
            "uuid": frame["hash"],
            "item_type": "dicomFile" if group["item_type"] == "dicomSeries" else "image",
            "name": frame["title"],
            "url": frame["url"],
            "client_metadata": "{}",
            "media": {"mimeType": frame.get("mimeType")},
        },
        data_units=0,
        sign=sign,
    )


def data_row_view(row: Row, item: Row, *, with_metadata: bool) -> dict[str, Any]:
    """One data row object (v1) from a data row and its item, as dicts (`media` decoded or as stored)."""
    values = (*(row[c] for c in DATA_ROW_COLUMNS), *(item[c] for c in DATA_ROW_ITEM_COLUMNS))
    meta = (item["client_metadata"],) if with_metadata else ()
    return data_row_views([(*values, *meta)], with_metadata=with_metadata)[0]


def data_row_views(rows: Iterable[Sequence[Any]], *, with_metadata: bool) -> list[dict[str, Any]]:
    """The data row objects (v1) of joined rows as `Reads.data_row_tuples` returns them: a dataset read
    renders SQLite's tuples straight, each distinct media text decoded once."""
    views = []
    media_parts: dict[Any, tuple[Any, ...]] = {}
    for (
        data_hash,
        _dataset,
        _item,
        created,
        edited,
        uuid,
        name,
        item_type,
        url,
        location,
        stored,
        *meta,
    ) in rows:
        part = media_parts.get(stored) if isinstance(stored, str) else None
        if part is None:
            media = (stored if isinstance(stored, dict) else load_json(stored)).get
            part = tuple(media(key) for key in _DATA_ROW_MEDIA)
            if isinstance(stored, str) and len(media_parts) < _MEDIA_PARTS_PER_PAGE:
                media_parts[stored] = part
        width, height, file_size, mime_type, fps, duration, frames = part
        data_type = DATA_TYPE[item_type]
        storage_location = _LOCATION_INT_BY_NAME.get(location, 0)
        view: dict[str, Any] = {
            "data_hash": data_hash,
            "data_title": name,
            "data_type": data_type,
            "created_at": created,
            "last_edited_at": edited,
            "width": width,
            "height": height,
            "file_link": url,
            "file_size": file_size,
            "file_type": mime_type,
            "storage_location": storage_location,
            "frames_per_second": fps,
            "duration": duration,
            "backing_item_uuid": uuid,
            "is_optimised_image_group": item_type == "imageSequence" if data_type == "IMG_GROUP" else None,
        }
        if with_metadata:
            view["client_metadata"] = load_json(meta[0])
        if frames is not None and item_type in ("imageGroup", "imageSequence"):
            view["images_data"] = [
                {
                    "title": frame["title"],
                    "file_link": frame["url"],
                    "file_type": frame["mimeType"],
                    "file_size": None,
                    "image_hash": frame["hash"],
                    "storage_location": storage_location,
                    "created_at": created,
                    "last_edited_at": edited,
                    "height": None,
                    "width": None,
                }
                for frame in frames
            ]
        views.append(view)
    return views


def dataset_storage_location(first_item_location: str | None) -> int | None:
    """Datasets have no location of their own; the emulator reports that of the first linked item
    (its v2 `storageLocation` name; None: the dataset has no items)."""
    return _LOCATION_INT_BY_NAME.get(first_item_location) if first_item_location is not None else None


def dataset_list_view(dataset: Row, location: int | None) -> dict[str, Any]:
    return {
        "datasetUuid": dataset["uuid"],
        "title": dataset["title"],
        "description": dataset["description"],
        "createdAt": dataset["created_at"],
        "lastEditedAt": dataset["last_edited_at"],
        "userRole": "admin",
        "storageLocation": location,
        "backingFolderUuid": dataset["backing_folder"],
    }
