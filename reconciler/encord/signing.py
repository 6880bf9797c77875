"""Byte-exact request encoding and signing, as the official SDK (encord==0.1.211) does it.

* Query strings: `requests` encodes params with `urlencode(..., doseq=True)` (i.e. `quote_plus`),
  booleans as `True`/`False`, lists as repeated keys, `None` and empty lists dropped. `encode_query`
  does the same, so the `@request-target` we sign is exactly the target we put on the wire.
* JSON bodies: `requests.Request(json=...)` serialises with `json.dumps(obj, allow_nan=False)` —
  default separators `", "` / `": "`, `ensure_ascii=True` — then UTF-8. `json_body` does the same.
* v2 signature (encord/http/v2/request_signer.py): HTTP Message Signatures, label `encord-sig`,
  components `@method`, `@request-target`, `content-digest`; params `created`, `keyid`, `alg`.
  SDK 0.1.211 sets `created = int(datetime.now().timestamp())` — the current time, *not* back-dated by
  30 s as encord-api.md §2.2 (written against 0.1.190) says. We match 0.1.211.
* v1 signature (encord/configs.py::SshConfig): Ed25519 over the SHA-256 digest of the body;
  header `Authorization: <pubkey hex>:<signature hex>`.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNATURE_LABEL = "encord-sig"
_COVERED = '("@method" "@request-target" "content-digest")'

QueryParams = Iterable[tuple[str, Any]]


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, UUID | str | int | float):
        return str(value)
    raise TypeError(f"unsupported query value type {type(value).__name__}")


def encode_query(params: QueryParams) -> str:
    """Encode (key, value) pairs in order, exactly as `requests` would (see module docstring)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params:
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, _query_value(v)) for v in values if v is not None)
    return urlencode(pairs)


def quote_segment(segment: str) -> str:
    """Percent-encode one path segment (UUIDs pass through unchanged)."""
    return quote(segment, safe="")


def request_target(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


def json_body(payload: Any) -> bytes:
    """Serialise a JSON payload the way `requests` does for `json=`."""
    return json.dumps(payload, allow_nan=False).encode("utf-8")


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def signature_params(created: int, key_id: str) -> str:
    return f'{_COVERED};created={created};keyid="{key_id}";alg="ed25519"'


def signature_base(method: str, target: str, digest: str, params: str) -> str:
    """The four-line base, `\\n`-joined, no trailing newline."""
    return "\n".join(
        [
            f'"@method": {method.upper()}',
            f'"@request-target": {target}',
            f'"content-digest": {digest}',
            f'"@signature-params": {params}',
        ]
    )


def sign_v2(
    method: str, target: str, body: bytes, *, key: Ed25519PrivateKey, key_id: str, created: int
) -> dict[str, str]:
    """The three headers the SDK adds to a v2 request."""
    digest = content_digest(body)
    params = signature_params(created, key_id)
    signature = key.sign(signature_base(method, target, digest, params).encode("utf-8"))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{SIGNATURE_LABEL}={params}",
        "Signature": f"{SIGNATURE_LABEL}=:{base64.b64encode(signature).decode('ascii')}:",
    }


def v1_body(query_type: str, query_method: str, uid: Any, payload: Any) -> bytes:
    """The v1 RPC envelope as `encord/http/request.py` builds it (`json.dumps`, default separators)."""
    envelope: Mapping[str, Any] = {
        "query_type": query_type,
        "query_method": query_method,
        "values": {"uid": uid, "payload": payload},
    }
    return json.dumps(envelope).encode("utf-8")


def sign_v1(body: bytes, *, key: Ed25519PrivateKey, key_id: str) -> str:
    """`Authorization` value for a v1 request: `<pubkey hex>:<hex Ed25519 signature of sha256(body)>`."""
    return f"{key_id}:{key.sign(hashlib.sha256(body).digest()).hex()}"
