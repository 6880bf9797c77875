"""Retries: which failures are retried, how long we wait, and how errors are reported."""

from __future__ import annotations

import random
from typing import Any
from uuid import UUID

import httpx
import pytest

from reconciler.errors import (
    EncordAuthError,
    EncordError,
    EncordInvalidArgumentError,
    EncordNotFoundError,
    EncordPermissionError,
    EncordRateLimitError,
    EncordServerError,
    EncordTransportError,
)
from tests.client.conftest import F1, Sleeps, folder_json, ok

TRACE = "0123456789abcdef0123456789abcdef"


def sequence(*steps: Any) -> Any:
    """A handler that plays `steps` in order: a Response, or an Exception to raise."""
    remaining = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        step = remaining.pop(0)
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, httpx.Response)
        return step

    return handler


async def test_429_retry_after_is_honoured(make_client: Any, sleeps: Sleeps) -> None:
    handler = sequence(
        ok({"message": "slow down"}, 429, **{"Retry-After": "7"}),
        ok({}, 429, **{"Retry-After": "2"}),
        ok(folder_json()),
    )
    client, rec = make_client(handler)
    async with client:
        folder = await client.get_folder(UUID(F1))
    assert str(folder.uuid) == F1
    assert sleeps.delays == [7.0, 2.0]
    assert len(rec.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried_then_succeed(make_client: Any, sleeps: Sleeps, status: int) -> None:
    client, rec = make_client(sequence(ok({}, status), ok({}, status), ok(folder_json())))
    async with client:
        await client.get_folder(UUID(F1))
    assert len(rec.requests) == 3
    # full jitter: each delay within [0, min(cap, 1.5 * 2**(n-1))]
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 1.5 and 0 <= sleeps.delays[1] <= 3.0


async def test_backoff_is_capped(make_client: Any, sleeps: Sleeps) -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    client, _ = make_client(sequence(*[ok({}, 500)] * 8, ok(folder_json())), max_retries=8, rng=Top())
    async with client:
        await client.get_folder(UUID(F1))
    assert sleeps.delays == [1.5, 3.0, 6.0, 12.0, 24.0, 30.0, 30.0, 30.0]


async def test_connection_error_is_retried_for_get(make_client: Any) -> None:
    client, rec = make_client(
        sequence(httpx.ConnectError("refused"), httpx.ReadError("reset"), ok(folder_json()))
    )
    async with client:
        await client.get_folder(UUID(F1))
    assert len(rec.requests) == 3


async def test_retries_are_bounded(make_client: Any, sleeps: Sleeps) -> None:
    client, rec = make_client(sequence(*[ok({"message": "down"}, 503)] * 4), trace_id_factory=lambda: TRACE)
    async with client:
        with pytest.raises(EncordServerError) as info:
            await client.get_folder(UUID(F1))
    assert len(rec.requests) == 4  # 1 + max_retries
    assert info.value.status == 503 and info.value.trace_id == TRACE
    assert TRACE in str(info.value) and "down" in str(info.value)


async def test_transport_error_after_retries(make_client: Any) -> None:
    client, rec = make_client(sequence(*[httpx.ReadTimeout("slow")] * 4), trace_id_factory=lambda: TRACE)
    async with client:
        with pytest.raises(EncordTransportError) as info:
            await client.get_metadata_schema()
    assert len(rec.requests) == 4 and TRACE in str(info.value)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"message": "bad name"}, EncordInvalidArgumentError),
        (401, {"detail": "who?"}, EncordAuthError),
        (403, {"message": "no access"}, EncordPermissionError),
        (404, {}, EncordNotFoundError),
        (201, {}, EncordServerError),
        (422, {"detail": [{"loc": ["x"]}]}, EncordServerError),
        (504, {}, EncordServerError),
    ],
)
async def test_client_errors_are_not_retried_and_are_mapped(
    make_client: Any, status: int, body: Any, error: type[EncordError]
) -> None:
    client, rec = make_client(sequence(ok(body, status)), trace_id_factory=lambda: TRACE)
    async with client:
        with pytest.raises(error) as info:
            await client.update_folder(UUID(F1), name="x")
    assert len(rec.requests) == 1
    assert type(info.value) is error
    assert info.value.trace_id == TRACE and f"trace id {TRACE}" in str(info.value)
    assert info.value.status == status
    message = body.get("message") or body.get("detail")
    if isinstance(message, str):
        assert message in str(info.value)


async def test_rate_limit_error_after_retries(make_client: Any) -> None:
    client, rec = make_client(sequence(*[ok({}, 429, **{"Retry-After": "1"})] * 4))
    async with client:
        with pytest.raises(EncordRateLimitError):
            await client.list_cloud_integrations()
    assert len(rec.requests) == 4


async def test_413_retried_only_with_retry_after(make_client: Any, sleeps: Sleeps) -> None:
    client, rec = make_client(sequence(ok({"message": "too big"}, 413)))
    async with client:
        with pytest.raises(EncordInvalidArgumentError, match="too big"):
            await client.set_metadata_schema({"k": {"ty": "text"}})
    assert len(rec.requests) == 1
    client, rec = make_client(sequence(ok({}, 413, **{"Retry-After": "4"}), ok(None)))
    async with client:
        await client.set_metadata_schema({"k": {"ty": "text"}})
    assert len(rec.requests) == 2 and sleeps.delays == [4.0]


async def test_v1_error_codes_are_mapped(make_client: Any) -> None:
    envelope = {"status": 404, "response": ["RESOURCE_NOT_FOUND_ERROR"], "payload": "no dataset d"}
    client, rec = make_client(sequence(ok(envelope)), trace_id_factory=lambda: TRACE)
    async with client:
        with pytest.raises(EncordNotFoundError, match="no dataset d") as info:
            await client.get_dataset("d")
    assert TRACE in str(info.value) and len(rec.requests) == 1

    for code, error in [
        ("AUTHORISATION_ERROR", EncordPermissionError),
        ("AUTHENTICATION_ERROR", EncordAuthError),
        ("INVALID_ARGUMENTS_ERROR", EncordInvalidArgumentError),
        ("SOMETHING_NEW", EncordServerError),
    ]:
        client, _ = make_client(sequence(ok({"status": 400, "response": [code]})))
        async with client:
            with pytest.raises(error, match=code):
                await client.link_items("d", [UUID(F1)])


async def test_v1_ignores_http_status_but_retries_gateway_errors(make_client: Any) -> None:
    client, rec = make_client(
        sequence(
            httpx.Response(502, text="<html>bad gateway</html>"),
            ok({"status": 200, "response": {"dataset_hash": "d", "title": "t"}}, 400),
        )
    )
    async with client:
        dataset = await client.get_dataset("d")
    assert dataset.title == "t" and len(rec.requests) == 2


async def test_delete_after_ambiguous_failure_treats_gone_as_done(make_client: Any) -> None:
    client, rec = make_client(sequence(httpx.ReadError("dropped"), ok({"message": "no access"}, 403)))
    async with client:
        await client.delete_folder(UUID(F1))
    assert len(rec.requests) == 2


async def test_delete_of_missing_folder_still_fails(make_client: Any) -> None:
    client, _ = make_client(sequence(ok({"message": "no access"}, 403)))
    async with client:
        with pytest.raises(EncordPermissionError):
            await client.delete_folder(UUID(F1))
    # and after a *certainly unprocessed* failure, 403 is real as well
    client, _rec = make_client(sequence(httpx.ConnectError("refused"), ok({"message": "no access"}, 403)))
    async with client:
        with pytest.raises(EncordPermissionError):
            await client.delete_folder(UUID(F1))


async def test_invalid_json_on_200_is_an_error(make_client: Any) -> None:
    client, _ = make_client(sequence(httpx.Response(200, text="")))
    async with client:
        with pytest.raises(EncordServerError, match="not JSON"):
            await client.get_metadata_schema()


async def test_bad_response_shape_is_an_encord_error(make_client: Any) -> None:
    client, _ = make_client(sequence(ok({"uuid": "not-a-uuid"})))
    async with client:
        with pytest.raises(EncordServerError, match="unexpected folder"):
            await client.get_folder(UUID(F1))


async def test_upload_poll_sends_timeout_and_waits_longer(make_client: Any) -> None:
    state = {
        "status": "DONE",
        "itemsWithNames": [],
        "errors": [],
        "unitsPendingCount": 0,
        "unitsDoneCount": 1,
        "unitsErrorCount": 0,
        "unitsCancelledCount": 0,
        "unitErrors": [],
    }
    client, rec = make_client(sequence(ok(state)), timeout_seconds=10)
    async with client:
        job = await client.get_upload_job(UUID(F1), UUID(F1), timeout_seconds=600)
    assert job.status == "DONE"
    assert rec.targets == [f"GET /v2/public/storage/folders/{F1}/data-upload-jobs/{F1}?timeoutSeconds=600"]
    assert rec.requests[0].extensions["timeout"]["read"] == 630


async def test_v1_enveloped_5xx_is_retried_then_mapped_by_code(make_client: Any) -> None:
    envelope = {"status": 500, "response": ["UNKNOWN_ERROR"], "payload": "boom"}
    client, rec = make_client(sequence(*[ok(envelope, 500)] * 4))
    async with client:
        with pytest.raises(EncordServerError, match="UNKNOWN_ERROR: boom"):
            await client.get_dataset("d")
    assert len(rec.requests) == 4
