"""A managed folder's items read as checked dicts (reconciler/encord/wire_content.py): the same fields as
`WireItem` reads, in either spelling, and a wrong shape refused with the item and the field named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.encord.wire import WireItem
from reconciler.encord.wire_content import WireContentPage, content_media

ITEM = {
    "uuid": "6f1d2c1e-9a7b-4c8e-8f00-000000000001",
    "parent": "6f1d2c1e-9a7b-4c8e-8f00-000000000002",
    "itemType": "video",
    "name": "clip 1",
    "clientMetadata": '{"camera": "front"}',
    "url": "gs://b/clip1.mp4",
    "isTombstone": False,
    "fileSize": 1200,
    "mimeType": "video/mp4",
    "fps": 25.0,
    "audioSampleRate": None,
    "someFieldWeIgnore": {"nested": True},
}


def page(*items: Any, token: str | None = "next") -> bytes:
    return json.dumps({"results": list(items), "nextPageToken": token}).encode()


def test_a_camel_case_item_reads_as_the_model_reads_it() -> None:
    read = WireContentPage.model_validate_json(page(ITEM))
    assert read.next_page_token == "next"
    [item] = read.results
    model = WireItem.model_validate(ITEM)
    assert (item["uuid"], item["itemType"], item["name"], item["url"]) == (
        str(model.uuid),
        model.item_type,
        model.name,
        model.url,
    )
    assert content_media(item) == model.media() == {"fileSize": 1200, "mimeType": "video/mp4", "fps": 25.0}


def test_a_snake_case_item_is_read_through_the_model_and_comes_out_camel_case() -> None:
    snake = {
        "uuid": ITEM["uuid"],
        "parent": ITEM["parent"],
        "item_type": "image",
        "name": "a",
        "url": "gs://b/a",
    }
    snake |= {"file_size": 7, "client_metadata": "{}"}
    [item] = WireContentPage.model_validate_json(page(snake, token=None)).results
    assert (
        item["itemType"] == "image" and item["url"] == "gs://b/a" and content_media(item) == {"fileSize": 7}
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uuid": 5}, "results[1].uuid: expected a string"),
        ({"name": None}, "results[1].name: expected a string"),
        ({"url": 3}, "results[1].url: expected a string or null"),
        ({"isTombstone": "no"}, "results[1].isTombstone: expected true or false"),
    ],
)
def test_a_wrong_field_is_refused_naming_the_item_and_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        WireContentPage.model_validate_json(page(ITEM, {**ITEM, **change}))


def test_a_page_without_results_is_refused() -> None:
    with pytest.raises(ValueError, match="results"):
        WireContentPage.model_validate_json(b'{"items": []}')
