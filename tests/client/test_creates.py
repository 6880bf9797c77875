"""Non-idempotent creates are never repeated blindly: read back after an ambiguous failure."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from reconciler.errors import EncordAmbiguousError, EncordInvalidArgumentError
from tests.client.conftest import F1, FakeEncord, folder_json, ok


def is_create(request: httpx.Request) -> bool:
    return request.method == "POST"


def drop_after_create(request: httpx.Request, response: httpx.Response) -> Exception | None:
    """The server did the work, then the connection dropped before the answer arrived."""
    return httpx.ReadError("connection reset") if is_create(request) else None


def passthrough(*_: Any) -> None:
    return None


@pytest.fixture
def fake() -> FakeEncord:
    return FakeEncord()


async def test_folder_created_despite_dropped_connection_is_not_duplicated(
    make_client: Any, fake: FakeEncord
) -> None:
    fake.folders[F1] = folder_json(F1, "data")  # an older same-named folder at the root
    client, rec = make_client(fake)
    fake.after = [passthrough, drop_after_create]  # snapshot list, then the create
    async with client:
        folder = await client.create_folder("data")
    assert fake.posts == 1
    assert len([f for f in fake.folders.values() if f["name"] == "data"]) == 2
    assert str(folder.uuid) != F1 and folder.name == "data"
    assert [t.split("?")[0] for t in rec.targets] == [
        "GET /v2/public/storage/folders",
        "POST /v2/public/storage/folders",
        "GET /v2/public/storage/folders",
    ]


async def test_folder_create_5xx_after_work_reads_back_under_parent(
    make_client: Any, fake: FakeEncord
) -> None:
    fake.folders[F1] = folder_json(F1, "parent")
    client, rec = make_client(fake)
    fake.after = [passthrough, lambda req, resp: ok({"message": "oops"}, 500) if is_create(req) else None]
    async with client:
        folder = await client.create_folder("child", parent=UUID(F1), client_metadata={"a": 1})
    assert fake.posts == 1 and str(folder.parent) == F1
    assert rec.targets[-1].startswith(f"GET /v2/public/storage/folders/{F1}/folders?")


async def test_folder_create_that_really_failed_is_retried_once(make_client: Any, fake: FakeEncord) -> None:
    client, rec = make_client(fake)
    fake.before = [passthrough, lambda req: httpx.ReadTimeout("timed out") if is_create(req) else None]
    async with client:
        folder = await client.create_folder("data")
    assert fake.posts == 1 and folder.name == "data"
    assert [t.split("?")[0] for t in rec.targets] == [
        "GET /v2/public/storage/folders",
        "POST /v2/public/storage/folders",  # timed out before the server did anything
        "GET /v2/public/storage/folders",  # read back: not there
        "POST /v2/public/storage/folders",  # so create again
    ]


async def test_folder_create_connect_error_is_retried_without_read_back(
    make_client: Any, fake: FakeEncord
) -> None:
    client, rec = make_client(fake)
    fake.before = [passthrough, lambda req: httpx.ConnectError("refused")]
    async with client:
        await client.create_folder("data")
    assert [t.split("?")[0] for t in rec.targets] == [
        "GET /v2/public/storage/folders",
        "POST /v2/public/storage/folders",
        "POST /v2/public/storage/folders",
    ]


async def test_folder_create_400_is_not_retried(make_client: Any, fake: FakeEncord) -> None:
    client, rec = make_client(fake)
    fake.before = [passthrough, lambda req: ok({"message": "bad name"}, 400)]
    async with client:
        with pytest.raises(EncordInvalidArgumentError, match="bad name"):
            await client.create_folder("data")
    assert fake.posts == 0 and len(rec.requests) == 2


async def test_folder_create_gives_up_when_never_confirmed(make_client: Any, fake: FakeEncord) -> None:
    client, rec = make_client(fake, max_retries=1)
    fake.before = [passthrough] + [(lambda req: ok({}, 502) if is_create(req) else None) for _ in range(4)]
    async with client:
        with pytest.raises(EncordAmbiguousError, match="not found afterwards"):
            await client.create_folder("data")
    assert fake.posts == 0
    assert sum(1 for r in rec.requests if r.method == "POST") == 2


async def test_two_new_same_named_folders_are_reported(make_client: Any, fake: FakeEncord) -> None:
    def create_twice(request: httpx.Request, response: httpx.Response) -> Exception | None:
        fake.handle(request)  # someone else created one too
        return httpx.ReadError("reset")

    client, _ = make_client(fake)
    fake.after = [passthrough, create_twice]
    async with client:
        with pytest.raises(EncordAmbiguousError, match="cannot tell"):
            await client.create_folder("data")


async def test_dataset_created_despite_dropped_connection_is_not_duplicated(
    make_client: Any, fake: FakeEncord
) -> None:
    client, rec = make_client(fake)
    fake.after = [passthrough, drop_after_create]
    async with client:
        uuid = await client.create_dataset("My set", "d")
    assert fake.posts == 1 and str(uuid) in fake.datasets
    assert [t for t in rec.targets] == [
        "GET /v2/public/datasets/list?titleEq=My+set&includeOrgAccess=False",
        "POST /v2/public/datasets",
        "GET /v2/public/datasets/list?titleEq=My+set&includeOrgAccess=False",
    ]
    assert rec.bodies()[1] == {
        "title": "My set",
        "description": "d",
        "createBackingFolder": False,
        "legacyCall": False,
    }


async def test_dataset_create_that_really_failed_is_retried_once(make_client: Any, fake: FakeEncord) -> None:
    fake.datasets["x"] = {"datasetUuid": F1, "title": "My set", "description": ""}  # an older namesake
    client, rec = make_client(fake)
    fake.before = [passthrough, lambda req: ok({"message": "unavailable"}, 503)]
    async with client:
        uuid = await client.create_dataset("My set")
    assert fake.posts == 1 and str(uuid) != F1
    assert [r.method for r in rec.requests] == ["GET", "POST", "GET", "POST"]


async def test_upload_job_is_never_retried(make_client: Any, fake: FakeEncord) -> None:
    for failure in (httpx.ReadError("reset"), ok({}, 500), ok({}, 503), httpx.ReadTimeout("slow")):
        fake.posts = 0
        fake.after = [lambda req, resp, failure=failure: failure]
        client, rec = make_client(fake)
        async with client:
            with pytest.raises(EncordAmbiguousError, match="skip_duplicate_urls"):
                await client.start_upload_job(UUID(F1), external_files={"images": []})
        assert len(rec.requests) == 1 and fake.posts == 1


async def test_upload_job_body_and_result(make_client: Any, fake: FakeEncord) -> None:
    client, rec = make_client(fake)
    spec = {"images": [{"objectUrl": "s3://b/i.jpg"}], "skip_duplicate_urls": True}
    async with client:
        job = await client.start_upload_job(
            UUID(F1), external_files=spec, integration_uuid=UUID(F1), ignore_errors=True
        )
    assert isinstance(job, UUID)
    assert rec.requests[0].content == (
        b'{"externalFiles": {"images": [{"objectUrl": "s3://b/i.jpg"}], "skip_duplicate_urls": true}, '
        b'"integrationHash": "' + F1.encode() + b'", "ignoreErrors": true}'
    )


async def test_create_rejected_with_429_is_retried_without_read_back(
    make_client: Any, fake: FakeEncord
) -> None:
    client, rec = make_client(fake)
    fake.before = [passthrough, lambda req: ok({}, 429, **{"Retry-After": "3"})]
    async with client:
        await client.create_folder("data")
    assert fake.posts == 1
    assert [r.method for r in rec.requests] == ["GET", "POST", "POST"]


async def test_metadata_that_is_not_json_is_refused_before_sending(
    make_client: Any, fake: FakeEncord
) -> None:
    import datetime

    client, rec = make_client(fake)
    async with client:
        with pytest.raises(EncordInvalidArgumentError, match="JSON"):
            await client.create_folder("data", client_metadata={"when": datetime.date(2024, 1, 1)})
        with pytest.raises(EncordInvalidArgumentError, match="JSON"):
            await client.update_folder(UUID(F1), client_metadata={"x": float("nan")})
    assert rec.requests == []


async def test_gateway_timeout_on_create_is_ambiguous_and_read_back(
    make_client: Any, fake: FakeEncord
) -> None:
    client, rec = make_client(fake)
    fake.after = [passthrough, lambda req, resp: ok({}, 504) if is_create(req) else None]
    async with client:
        await client.create_folder("data")
    assert fake.posts == 1
    assert [r.method for r in rec.requests] == ["GET", "POST", "GET"]
