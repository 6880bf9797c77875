"""v2 lists follow nextPageToken until null/absent; "" ends; a repeating token is refused."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest

from reconciler.errors import EncordServerError
from tests.client.conftest import F1, folder_json, item_json, ok


def _uuid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


async def test_folders_follow_tokens_until_null(make_client: Any) -> None:
    pages = {None: ("t1", [1, 2]), "t1": ("t2", [3]), "t2": (None, [4])}

    def handler(request: httpx.Request) -> httpx.Response:
        token, numbers = pages[request.url.params.get("pageToken")]
        return ok({"results": [folder_json(_uuid(n), f"f{n}") for n in numbers], "nextPageToken": token})

    client, rec = make_client(handler, page_size=2)
    async with client:
        folders = await client.list_folders()
    assert [f.name for f in folders] == ["f1", "f2", "f3", "f4"]
    assert rec.targets == [
        "GET /v2/public/storage/folders?isRecursive=False&order=name&desc=False&pageSize=2",
        "GET /v2/public/storage/folders?isRecursive=False&order=name&desc=False&pageToken=t1&pageSize=2",
        "GET /v2/public/storage/folders?isRecursive=False&order=name&desc=False&pageToken=t2&pageSize=2",
    ]


async def test_absent_token_ends(make_client: Any) -> None:
    client, rec = make_client(lambda r: ok({"results": [folder_json()]}))
    async with client:
        assert len(await client.list_folders(UUID(F1))) == 1
    assert rec.targets == [
        f"GET /v2/public/storage/folders/{F1}/folders?isRecursive=False&order=name&desc=False&pageSize=1000"
    ]


async def test_empty_string_token_ends(make_client: Any) -> None:
    client, rec = make_client(lambda r: ok({"results": [item_json()], "nextPageToken": ""}))
    async with client:
        pages = [page async for page in client.iter_items(UUID(F1))]
    assert len(pages) == 1 and len(rec.requests) == 1


async def test_repeating_token_is_refused(make_client: Any) -> None:
    tokens = iter(["a", "b", "a"])

    def handler(request: httpx.Request) -> httpx.Response:
        return ok({"results": [item_json()], "nextPageToken": next(tokens)})

    client, rec = make_client(handler)
    async with client:
        with pytest.raises(EncordServerError, match="repeated page token"):
            await client.list_items(UUID(F1))
    assert len(rec.requests) == 3


async def test_items_query_matches_the_sdk_and_pages(make_client: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("pageToken")
        return ok(
            {
                "results": [item_json(_uuid(1 if token is None else 2))],
                "nextPageToken": None if token else "n x",
            }
        )

    client, rec = make_client(handler, page_size=1)
    async with client:
        items = await client.list_items(UUID(F1), recursive=True)
    assert [str(i.uuid) for i in items] == [_uuid(1), _uuid(2)]
    prefix = f"GET /v2/public/storage/folders/{F1}/items?isRecursive=True&order=name&desc=False"
    suffix = "&signUrls=False&includeClientMetadata=True&clientMetadataAsSignedUrl=False"
    assert rec.targets == [f"{prefix}&pageSize=1{suffix}", f"{prefix}&pageToken=n+x&pageSize=1{suffix}"]


async def test_the_next_page_is_on_its_way_while_the_caller_uses_this_one(make_client: Any) -> None:
    pages = {None: "t1", "t1": "t2", "t2": None}

    def handler(request: httpx.Request) -> httpx.Response:
        return ok({"results": [item_json()], "nextPageToken": pages[request.url.params.get("pageToken")]})

    client, rec = make_client(handler)
    async with client:
        listing = client.iter_items(UUID(F1))
        seen = []
        async for _page in listing:
            for _ in range(5):  # the caller at work: the event loop runs the request for the next page
                await asyncio.sleep(0)
            seen.append(len(rec.requests))
    # Each page's token was followed before the caller asked for the next page, one request at a time.
    assert seen == [2, 3, 3]


async def test_a_caller_that_stops_early_leaves_no_request_behind(make_client: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return ok(
            {
                "results": [item_json()],
                "nextPageToken": "more" if request.url.params.get("pageToken") else "t",
            }
        )

    client, rec = make_client(handler)
    async with client:
        listing = client.iter_items(UUID(F1))
        async for _page in listing:
            break
        await listing.aclose()  # the page on its way is cancelled; nothing is left pending or unretrieved
        await asyncio.sleep(0)
    assert len(rec.requests) <= 2


@pytest.mark.parametrize("size", [0, 1001])
def test_page_size_bounds(size: int, ssh_auth: Any) -> None:
    from reconciler.encord.client import EncordClient
    from reconciler.errors import EncordError

    with pytest.raises(EncordError):
        EncordClient("http://x", ssh_auth, page_size=size)
