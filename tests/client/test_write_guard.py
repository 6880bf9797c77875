"""The write guard runs right before each attempt of a write, after any wait for a request slot or a
retry's pause: a runner that stalls while queued (SIGSTOP, a long GC, a starved VM) and loses its lock
meanwhile must not send the write it had queued (the race behind tests/lock/test_lease_loss.py)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
import pytest

from reconciler.lock import LeaseLostError
from tests.client.conftest import F1, Sleeps, folder_json, ok


class Lock:
    def __init__(self) -> None:
        self.lost = False
        self.calls = 0

    async def guard(self) -> None:
        self.calls += 1
        if self.lost:
            raise LeaseLostError("lost the lock gs://b/lock: its lease object was deleted")


async def test_a_write_queued_for_a_slot_is_not_sent_once_the_lock_is_lost(make_client: Any) -> None:
    release_first = asyncio.Event()
    sent: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        sent.append(f"{request.method} {request.url.path}")
        if request.method == "PATCH":
            await release_first.wait()
        return ok(folder_json())

    client, _ = make_client(lambda r: ok({}), max_connections=1)
    client._http._client._transport = httpx.MockTransport(handler)  # an async handler: one slow write
    lock = Lock()
    client.write_guard = lock.guard
    async with client:
        first = asyncio.create_task(client.update_folder(UUID(F1), name="a"))
        while not sent:
            await asyncio.sleep(0)
        second = asyncio.create_task(client.update_folder(UUID(F1), name="b"))  # waits for the one slot
        for _ in range(20):
            await asyncio.sleep(0)
        lock.lost = True  # the runner stalled here, and another took the lock
        release_first.set()
        await first
        with pytest.raises(LeaseLostError):
            await second
    assert sent == [f"PATCH /v2/public/storage/folders/{F1}"]


async def test_a_write_is_not_retried_after_the_lock_was_lost_during_the_pause(make_client: Any) -> None:
    lock = Lock()
    answers = [ok({"message": "busy"}, 503), ok(folder_json())]

    async def lose_while_pausing(seconds: float) -> None:
        lock.lost = True

    client, rec = make_client(lambda r: answers.pop(0), sleep=lose_while_pausing)
    client.write_guard = lock.guard
    async with client:
        with pytest.raises(LeaseLostError):
            await client.update_folder(UUID(F1), name="a")
    assert len(rec.requests) == 1 and lock.calls == 2


async def test_reads_do_not_ask_the_guard(make_client: Any, sleeps: Sleeps) -> None:
    lock = Lock()
    lock.lost = True
    client, rec = make_client(lambda r: ok(folder_json()))
    client.write_guard = lock.guard
    async with client:
        await client.get_folder(UUID(F1))
    assert lock.calls == 0 and len(rec.requests) == 1
