"""Requests in flight are bounded by max_connections, for every transport (here: an ASGI app)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import httpx

from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from tests.client.conftest import folder_json


class SlowApp:
    """A tiny ASGI app that answers every request with a folder after a short pause."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.active += 1
        self.peak = max(self.peak, self.active)
        await asyncio.sleep(0.01)
        self.active -= 1
        body = json.dumps(folder_json()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def test_in_flight_requests_are_bounded(ssh_auth: SshKeyAuth) -> None:
    app = SlowApp()
    transport = httpx.ASGITransport(app=app)
    async with EncordClient(
        "http://sandbox.invalid", ssh_auth, transport=transport, max_connections=3
    ) as client:
        await asyncio.gather(*(client.get_folder(UUID(int=n)) for n in range(12)))
    assert app.peak == 3
