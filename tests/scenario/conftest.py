"""A sandbox workspace for scenario tests: the emulator in-process, our real client, a request log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from reconciler.apply.run import ApplyReport, apply_plan
from reconciler.backend import SANDBOX_DOMAIN, sandbox_key
from reconciler.config.loader import Config, load_config
from reconciler.emulator.app import create_app
from reconciler.encord.auth import SshKeyAuth
from reconciler.encord.client import EncordClient
from reconciler.engine import make_plan
from reconciler.journal import JobJournal
from reconciler.plan.model import BackendRef, Plan
from tests.requestlog import writes


@dataclass
class Workspace:
    client: EncordClient
    tmp: Path
    log_path: Path
    backend: BackendRef

    def config(self, text: str) -> Config:
        path = self.tmp / "reconciler.yaml"
        path.write_text(text, encoding="utf-8")
        return load_config(path, env={})

    async def plan(self, text: str) -> Plan:
        return await make_plan(self.config(text), self.client, self.backend)

    async def apply(self, text: str) -> ApplyReport:
        config = self.config(text)
        plan = await make_plan(config, self.client, self.backend)
        return await apply_plan(plan, self.client, config=config, journal=JobJournal(self.tmp / "jobs.jsonl"))

    def requests(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def writes(self, since: int = 0) -> list[str]:
        return writes(self.requests()[since:])

    async def register(self, folder_uuid: str, spec: dict[str, Any], integration: str) -> list[str]:
        """Register cloud objects into a folder the way the Encord docs do it: an upload job, then poll."""
        job = await self.client.start_upload_job(
            UUID(folder_uuid), external_files=spec, integration_uuid=UUID(integration), ignore_errors=False
        )
        state = await self.client.get_upload_job(UUID(folder_uuid), job, timeout_seconds=10)
        assert state.status == "DONE", state
        return [str(i.item_uuid) for i in state.items_with_names]


@pytest.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    state = tmp_path / "sandbox.db"
    log_path = tmp_path / "requests.jsonl"
    key, public_line = sandbox_key(state)
    app = create_app(state, [public_line], request_log_path=log_path)
    async with EncordClient(
        SANDBOX_DOMAIN, SshKeyAuth(private_key=key), transport=httpx.ASGITransport(app=app)
    ) as c:
        yield Workspace(c, tmp_path, log_path, BackendRef(kind="sandbox", location=str(state)))
