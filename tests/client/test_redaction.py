"""No key material, signature or token in reprs, log records or exception messages."""

from __future__ import annotations

import base64
import logging
import re
from typing import Any
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.encord.auth import BearerAuth, SshKeyAuth
from reconciler.errors import EncordError
from tests.client.conftest import BEARER, F1, I1, FakeEncord, folder_json, item_json, ok


def secrets_of(private_key: Ed25519PrivateKey, key_pem: str) -> list[str]:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem_body = "".join(line for line in key_pem.splitlines() if not line.startswith("-----"))
    return [
        pem_body,
        *[line for line in key_pem.splitlines() if not line.startswith("-----")],
        raw.hex(),
        base64.b64encode(raw).decode(),
        BEARER,
    ]


class Handler(FakeEncord):
    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/public":
            return ok({"status": 403, "response": ["AUTHORISATION_ERROR"]})
        if path.endswith("client-metadata-schema-v2"):
            return ok(None)
        if request.method == "PATCH" and "/items/" in path:
            return ok(item_json())
        if request.method == "GET" and path.endswith("/items"):
            return ok({"results": [item_json()], "nextPageToken": None})
        if request.method == "GET" and path == f"/v2/public/storage/folders/{F1}":
            return ok({"message": "no access"}, 403)
        if request.method in ("PATCH", "DELETE") and path.startswith("/v2/public/storage/folders/"):
            return ok(folder_json())
        return super().handle(request)


@pytest.mark.parametrize("mode", ["ssh", "bearer"])
async def test_no_secrets_in_logs_reprs_or_errors(
    make_client: Any,
    private_key: Ed25519PrivateKey,
    key_pem: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    # An in-process CLI run earlier in the session stops the `reconciler` logger propagating; caplog needs it.
    monkeypatch.setattr(logging.getLogger("reconciler"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="reconciler")
    auth = SshKeyAuth(private_key) if mode == "ssh" else BearerAuth(BEARER)
    fake = Handler()
    client, rec = make_client(fake, auth=auth)
    texts: list[str] = [repr(auth), str(auth), repr(client)]
    with caplog.at_level(logging.DEBUG):
        async with client:
            fake.before = [lambda r: ok({}, 503)]  # one retry, logged
            await client.get_metadata_schema()
            await client.set_metadata_schema({"k": {"ty": "text"}})
            folder = await client.create_folder("x", client_metadata={"a": 1})
            await client.update_folder(folder.uuid, name="y")
            await client.list_items(folder.uuid)
            await client.update_item(folder.uuid, UUID(I1), client_metadata={"b": 2})
            await client.delete_folder(folder.uuid)
            fake.after = [lambda req, resp: httpx.ReadError("reset")]
            await client.create_dataset("ds")
            for call in (client.get_folder(UUID(F1)), client.get_dataset("d")):
                with pytest.raises(EncordError) as info:
                    await call
                texts += [str(info.value), repr(info.value)]
    records = caplog.records
    assert any(r.name == "reconciler.encord" and r.levelno == logging.DEBUG for r in records)
    texts += [r.getMessage() for r in records] + [repr(r.args) for r in records]
    # what was actually sent: signatures and authorization values
    sent = []
    for request in rec.requests:
        for name in ("Signature", "Authorization"):
            if name in request.headers:
                value = request.headers[name]
                sent.append(value)
                sent += re.findall(r"[A-Za-z0-9+/=]{40,}|[0-9a-f]{100,}", value)
    assert sent
    everything = "\n".join(texts)
    for secret in [*secrets_of(private_key, key_pem), *sent]:
        if mode == "ssh" and secret == BEARER:
            continue
        assert secret not in everything
    # the logs carry method, path, status, attempt and trace id
    assert any(re.search(r"GET /v2/public/\S+ -> 503 \(attempt 1, trace [0-9a-f]{32}\)", t) for t in texts)
