"""A minimal, test-only v2 request signer (HTTP Message Signatures as the Encord SDK does it).

Used to call emulator-only routes (sandbox integrations) and to craft bad signatures on purpose.
Deliberately independent of both the SDK and reconciler's client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_ssh_private_key


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = load_ssh_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def key_id(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def signature_headers(
    key: Ed25519PrivateKey, method: str, target: str, body: bytes, *, created: int | None = None
) -> dict[str, str]:
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    params = (
        '("@method" "@request-target" "content-digest")'
        f';created={int(time.time()) if created is None else created};keyid="{key_id(key)}";alg="ed25519"'
    )
    base = "\n".join(
        [
            f'"@method": {method.upper()}',
            f'"@request-target": {target}',
            f'"content-digest": {digest}',
            f'"@signature-params": {params}',
        ]
    )
    signature = base64.b64encode(key.sign(base.encode())).decode()
    return {
        "Content-Digest": digest,
        "Signature-Input": f"encord-sig={params}",
        "Signature": f"encord-sig=:{signature}:",
    }


def build_signed(
    client: httpx.Client | httpx.AsyncClient,
    key: Ed25519PrivateKey,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    params: dict[str, Any] | None = None,
    created: int | None = None,
) -> httpx.Request:
    body = b"" if json_body is None else json.dumps(json_body).encode()
    headers = {"Content-Type": "application/json"} if body else {}
    request = client.build_request(method, path, params=params, content=body, headers=headers)
    target = request.url.raw_path.decode()  # path plus query, exactly as it goes on the wire
    request.headers.update(signature_headers(key, method, target, body, created=created))
    return request


def signed(
    client: httpx.Client,
    key: Ed25519PrivateKey,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    params: dict[str, Any] | None = None,
    created: int | None = None,
) -> httpx.Response:
    return client.send(
        build_signed(client, key, method, path, json_body=json_body, params=params, created=created)
    )


def create_integration(client: httpx.Client, key: Ed25519PrivateKey, title: str, provider: str) -> str:
    response = signed(
        client, key, "POST", "/sandbox/cloud-integrations", json_body={"title": title, "provider": provider}
    )
    response.raise_for_status()
    integration_uuid: str = response.json()["integrationUuid"]
    return integration_uuid
