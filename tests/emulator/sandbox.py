"""A signed raw-request helper for an in-process emulator (httpx.ASGITransport, no lifespan)."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette

from tests.fidelity.signing import build_signed

KEY = Ed25519PrivateKey.generate()
PUBLIC_LINE = KEY.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " test"


class Sandbox:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(self, method: str, path: str, *, body: Any = None, **params: Any) -> httpx.Response:
        request = build_signed(self.client, KEY, method, path, json_body=body, params=params or None)
        return await self.client.send(request)

    async def integration(self, title: str = "gcp", provider: str = "gcp") -> str:
        created = await self(
            "POST", "/sandbox/cloud-integrations", body={"title": title, "provider": provider}
        )
        uuid: str = created.json()["integrationUuid"]
        return uuid

    async def folder(self, name: str = "f") -> str:
        uuid: str = (await self("POST", "/v2/public/storage/folders", body={"name": name})).json()["uuid"]
        return uuid

    async def start_job(
        self, folder: str, integration: str, spec: dict[str, Any], *, ignore_errors: bool = False
    ) -> str:
        job = await self(
            "POST",
            f"/v2/public/storage/folders/{folder}/data-upload-jobs",
            body={"externalFiles": spec, "integrationHash": integration, "ignoreErrors": ignore_errors},
        )
        assert job.status_code == 200, job.text
        uuid: str = job.json()
        return uuid

    async def run_job(
        self, folder: str, integration: str, spec: dict[str, Any], *, ignore_errors: bool = False
    ) -> dict[str, Any]:
        """Start a job and long-poll it until it is no longer PENDING; its final state."""
        job = await self.start_job(folder, integration, spec, ignore_errors=ignore_errors)
        path = f"/v2/public/storage/folders/{folder}/data-upload-jobs/{job}"
        state: dict[str, Any] = (await self("GET", path, timeoutSeconds=30)).json()
        return state

    async def folder_with_job(self, spec: dict[str, Any] | None = None) -> tuple[str, str]:
        integration = await self.integration()
        folder = await self.folder()
        job = await self.start_job(folder, integration, spec or {"images": [{"objectUrl": "gs://b/i.jpg"}]})
        return folder, job


def sandbox_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")
