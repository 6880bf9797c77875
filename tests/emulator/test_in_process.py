"""The emulator in-process (httpx.ASGITransport, no lifespan): long-polling, persistence, auth parsing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.emulator.app import create_app
from reconciler.emulator.auth import parse_authorized_key
from tests.emulator.sandbox import KEY, PUBLIC_LINE, Sandbox, sandbox_for
from tests.fidelity.signing import key_id


async def test_poll_is_held_until_the_job_finishes(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox(process_delay_seconds=0.4)
    folder, job = await sandbox.folder_with_job()
    started = time.monotonic()
    state = (
        await sandbox("GET", f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", timeoutSeconds=10)
    ).json()
    elapsed = time.monotonic() - started
    assert state["status"] == "DONE"
    assert 0.25 <= elapsed < 3


async def test_poll_is_capped_by_the_long_poll_cap(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox(process_delay_seconds=5, long_poll_cap_seconds=0.3)
    folder, job = await sandbox.folder_with_job()
    started = time.monotonic()
    # The SDK sends its whole budget (default 7 days) on every poll; the server must cap it.
    response = await sandbox(
        "GET", f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", timeoutSeconds=604800
    )
    elapsed = time.monotonic() - started
    assert response.json()["status"] == "PENDING"
    assert response.json()["unitsPendingCount"] == 1
    assert 0.25 <= elapsed < 2


async def test_poll_with_zero_timeout_answers_at_once(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox(process_delay_seconds=5)
    folder, job = await sandbox.folder_with_job()
    started = time.monotonic()
    response = await sandbox(
        "GET", f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", timeoutSeconds=0
    )
    assert response.json()["status"] == "PENDING"
    assert time.monotonic() - started < 0.25


async def test_cancel_wakes_a_held_poll_and_cancels_every_unit(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox(process_delay_seconds=5)
    folder, job = await sandbox.folder_with_job()
    path = f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}"
    poll = asyncio.create_task(sandbox("GET", path, timeoutSeconds=10))
    await asyncio.sleep(0.1)
    cancelled = await sandbox("POST", f"{path}/cancel")
    assert cancelled.json() == {"unitsCancelledCount": 1}
    state = (await asyncio.wait_for(poll, timeout=2)).json()
    assert (state["status"], state["unitsCancelledCount"]) == ("CANCELLED", 1)


async def test_state_survives_a_restart_and_pending_jobs_resume(make_sandbox: Callable[..., Sandbox]) -> None:
    first = make_sandbox(process_delay_seconds=60)
    folder, job = await first.folder_with_job()
    assert (await first("GET", "/v2/public/storage/folders")).json()["results"][0]["uuid"] == folder

    second = make_sandbox()  # same SQLite file, fresh app: the job has no live task any more
    state = (
        await second("GET", f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}", timeoutSeconds=5)
    ).json()
    assert state["status"] == "DONE"
    items = (await second("GET", f"/v2/public/storage/folders/{folder}/items")).json()["results"]
    assert [i["url"] for i in items] == ["gs://b/i.jpg"]


async def test_memory_state_and_request_log(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "requests.jsonl"
    async with sandbox_for(create_app(":memory:", [key_id(KEY)], request_log_path=log_path)) as client:
        sandbox = Sandbox(client)
        assert (await sandbox("GET", "/v2/public/organisation/client-metadata-schema-v2")).json() is None
        assert (await client.get("/v2/public/cloud-integrations")).status_code == 401
    lines = log_path.read_text().splitlines()
    assert len(lines) == 2 and '"signature_valid": false' in lines[1]


async def test_v1_error_envelope_for_unsupported_queries(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox()
    body = {"query_type": "project", "query_method": "GET", "values": {"uid": None, "payload": None}}
    # v1 is signed differently; a bearer token obtained over v2 is the simplest way in.
    token = (await sandbox("GET", "/v2/public/user/bearer-token")).json()["token"]
    response = await sandbox.client.post("/public", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["response"] == ["METHOD_NOT_ALLOWED_ERROR"]


@pytest.mark.parametrize("entry", ["ssh-rsa AAAAB3Nza test", "ssh-ed25519 !!!", "abc"])
def test_malformed_authorized_keys_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_authorized_key(entry)


def test_authorized_key_line_and_hex_id_agree() -> None:
    assert parse_authorized_key(PUBLIC_LINE)[0] == parse_authorized_key(key_id(KEY))[0] == key_id(KEY)
