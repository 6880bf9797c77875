"""An independent verifier for what a server receives (written from the spec, not from our signer)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_INPUT = re.compile(
    r'^encord-sig=\("@method" "@request-target" "content-digest"\);created=(\d+);keyid="([0-9a-f]{64})";alg="ed25519"$'
)


def verify_v2(request: httpx.Request) -> tuple[str, int]:
    """Raises on any mismatch; returns (keyid, created)."""
    body = request.content
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    assert request.headers["Content-Digest"] == digest
    match = _INPUT.match(request.headers["Signature-Input"])
    assert match, request.headers["Signature-Input"]
    created, keyid = int(match.group(1)), match.group(2)
    params = request.headers["Signature-Input"].removeprefix("encord-sig=")
    target = request.url.raw_path.decode("ascii")  # undecoded path + query as on the wire
    base = (
        f'"@method": {request.method}\n"@request-target": {target}\n'
        f'"content-digest": {digest}\n"@signature-params": {params}'
    )
    sig_header = request.headers["Signature"]
    assert sig_header.startswith("encord-sig=:") and sig_header.endswith(":")
    signature = base64.b64decode(sig_header[len("encord-sig=:") : -1])
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(keyid)).verify(signature, base.encode())
    return keyid, created


def verify_v1(request: httpx.Request) -> str:
    keyid, sig_hex = request.headers["Authorization"].split(":")
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(keyid)).verify(
        bytes.fromhex(sig_hex), hashlib.sha256(request.content).digest()
    )
    return keyid
