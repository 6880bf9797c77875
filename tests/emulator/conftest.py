"""`make_sandbox`: fresh in-process emulators on one SQLite file (see sandbox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator.app import create_app
from tests.emulator.sandbox import PUBLIC_LINE, Sandbox, sandbox_for


@pytest.fixture
async def make_sandbox(tmp_path: Path) -> AsyncIterator[Callable[..., Sandbox]]:
    clients: list[httpx.AsyncClient] = []

    def make(**options: Any) -> Sandbox:
        client = sandbox_for(create_app(tmp_path / "state.sqlite", [PUBLIC_LINE], **options))
        clients.append(client)
        return Sandbox(client)

    yield make
    for client in clients:
        await client.aclose()
