"""A managed folder's items as the plan compares them: plain dicts, checked, not a model per item.

A registered folder may hold a million items, and validating each into `WireItem` cost more than twice
decoding the page (8.5 ms against 3 ms a page of 1,000, measured). So a page is decoded with orjson and
each item checked for the fields the plan reads, with their types; anything else about the item is
ignored, as the models ignore it. Keys are Encord's camelCase; an item that comes snake_case (the models
accept both) goes through `WireItem` and comes out camelCase, so both spellings still read the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from reconciler.encord.wire import MEDIA_FIELDS, WireItem

# Media-metadata name -> the item's camelCase wire key (fileSize -> fileSize, sampleRate -> audioSampleRate).
MEDIA_WIRE_KEYS = tuple((name, WireItem.model_fields[field].alias or field) for name, field in MEDIA_FIELDS)
_MEDIA_NAMES = tuple(name for name, _ in MEDIA_WIRE_KEYS)
_media_values = itemgetter(*(key for _, key in MEDIA_WIRE_KEYS))
_SHARED_MEDIA: dict[tuple[Any, ...], dict[str, Any]] = {}  # distinct media reports -> their one dict
_SHARED_MEDIA_LIMIT = 4096  # beyond it (sizes or durations that differ per item), each item its own
_TEXT = ("uuid", "itemType", "name")  # must be strings
_OPTIONAL_TEXT = ("url", "clientMetadata", "parent")  # strings or null
_FLAGS = ("isTombstone", "isPlaceholder")  # booleans when present


@dataclass(frozen=True, slots=True)
class WireContentPage:
    """§6.1 — a page of whole items, each a dict with camelCase keys, checked as described above."""

    results: list[dict[str, Any]]
    next_page_token: str | None

    @classmethod
    def model_validate_json(cls, json_data: bytes) -> WireContentPage:
        """Decode and check a page; a wrong shape is a ValueError naming the item and the field."""
        try:
            page = orjson.loads(json_data)
        except orjson.JSONDecodeError:
            page = json.loads(
                json_data
            )  # what orjson refuses and Python reads (NaN, integers beyond 64 bits)
        if not isinstance(page, dict) or not isinstance(page.get("results"), list):
            raise ValueError("expected a page object with a `results` list")
        token = page.get("nextPageToken", page.get("next_page_token"))
        if token is not None and not isinstance(token, str):
            raise ValueError("nextPageToken: expected a string")
        return cls([_checked(item, at) for at, item in enumerate(page["results"])], token)


def content_media(item: dict[str, Any]) -> dict[str, Any]:
    """What Encord reports of the item's media, under the media-metadata names (fileSize, sampleRate...).

    Read-only: items that report the same media share one dict (most of a folder's images report just
    their MIME type), which at a million items saves about 300 MB."""
    try:
        values = _media_values(item)  # one C call when every key is there, as Encord sends them (null or not)
    except KeyError:
        values = tuple(item.get(key) for _, key in MEDIA_WIRE_KEYS)
    if values.count(None) == len(values):
        return {}
    try:
        shared = _SHARED_MEDIA.get(values)
    except TypeError:  # a value that is not a JSON scalar cannot be a key: this item's own dict
        return _media_dict(values)
    if shared is None:
        shared = _media_dict(values)
        if len(_SHARED_MEDIA) < _SHARED_MEDIA_LIMIT:
            _SHARED_MEDIA[values] = shared
    return shared


def _media_dict(values: tuple[Any, ...]) -> dict[str, Any]:
    return {name: value for name, value in zip(_MEDIA_NAMES, values, strict=True) if value is not None}


# Every field `_checked` looks at, read in one C call when all are there (as Encord sends them)
_CHECKED_FIELDS = itemgetter(*_TEXT, *_OPTIONAL_TEXT, *_FLAGS)


def _checked(item: Any, at: int) -> dict[str, Any]:
    if type(item) is dict:
        try:
            uuid, item_type, name, url, metadata, parent, tombstone, placeholder = _CHECKED_FIELDS(item)
        except KeyError:
            pass  # a field left out: the checks below say what is wrong, if anything
        else:
            if (
                type(uuid) is str
                and type(item_type) is str
                and type(name) is str
                and (url is None or type(url) is str)
                and (metadata is None or type(metadata) is str)
                and (parent is None or type(parent) is str)
                and type(tombstone) is bool
                and type(placeholder) is bool
            ):
                return item  # the usual item, checked without a loop
    if not isinstance(item, dict):
        raise ValueError(f"results[{at}]: expected an object")
    if "itemType" not in item and "item_type" in item:  # snake_case: the models' lenient reading
        return WireItem.model_validate(item).model_dump(by_alias=True, mode="json")
    for key in _TEXT:
        if not isinstance(item.get(key), str):
            raise ValueError(f"results[{at}].{key}: expected a string")
    for key in _OPTIONAL_TEXT:
        if not isinstance(item.get(key, ""), str | None):
            raise ValueError(f"results[{at}].{key}: expected a string or null")
    for key in _FLAGS:
        if not isinstance(item.get(key, False), bool):
            raise ValueError(f"results[{at}].{key}: expected true or false")
    return item
