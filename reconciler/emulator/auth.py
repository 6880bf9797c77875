"""Request authentication: v2 HTTP Message Signatures, v1 `pubkey:sig` headers, bearer tokens.

Written independently of the client-side signer on purpose: the emulator is the referee for what our
client sends, so it must not share code with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

AuthScheme = Literal["ssh", "bearer", "none"]

SIGNATURE_LABEL = "encord-sig"
COVERED_COMPONENTS = ("@method", "@request-target", "content-digest")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_SIG_INPUT = re.compile(r"^\((?P<components>[^)]*)\)(?P<params>(?:;[^;]*)*)$")
DEFAULT_REPLAY_CACHE_ENTRIES = 100_000


@dataclass(frozen=True)
class AuthOutcome:
    scheme: AuthScheme
    key_id: str | None
    valid: bool
    error: str | None = None
    # A verified v2 signature: SHA-256 of its signature base (what was signed), and its `created`.
    replay_key: bytes | None = None
    created: int | None = None


def parse_authorized_key(entry: str) -> tuple[str, Ed25519PublicKey]:
    """An OpenSSH `ssh-ed25519 AAAA... comment` line or a 64-hex key id -> (key id, public key)."""
    text = entry.strip()
    if _HEX64.match(text):
        raw = bytes.fromhex(text)
    else:
        parts = text.split()
        if len(parts) < 2 or parts[0] != "ssh-ed25519":
            raise ValueError(f"not an ssh-ed25519 public key line or a 64-hex key id: {text[:40]!r}")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except binascii.Error as exc:
            raise ValueError("malformed base64 in ssh-ed25519 public key") from exc
        raw = _ed25519_from_openssh_blob(blob)
    return raw.hex(), Ed25519PublicKey.from_public_bytes(raw)


def _ed25519_from_openssh_blob(blob: bytes) -> bytes:
    # Wire format (RFC 4253 §6.6): string "ssh-ed25519", string key (32 bytes).
    fields: list[bytes] = []
    offset = 0
    while offset < len(blob):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        fields.append(blob[offset + 4 : offset + 4 + length])
        offset += 4 + length
    if len(fields) != 2 or fields[0] != b"ssh-ed25519" or len(fields[1]) != 32:
        raise ValueError("malformed ssh-ed25519 public key blob")
    return fields[1]


def content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _dictionary_member(header: str, label: str) -> str | None:
    """The value of `label=` in a structured-field dictionary header (values here hold no commas)."""
    for member in header.split(","):
        name, sep, value = member.strip().partition("=")
        if sep and name == label:
            return value
    return None


def _parse_params(params: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in params.split(";"):
        if not part:
            continue
        name, _, value = part.partition("=")
        out[name.strip()] = value.strip().strip('"')
    return out


class Verifier:
    """Checks one request against the authorised keys and the issued bearer tokens."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        token_lookup: Callable[[str], str | None],
        clock: Callable[[], float],
        clock_skew_seconds: int,
    ) -> None:
        self._keys = keys
        self._token_lookup = token_lookup
        self._clock = clock
        self._skew = clock_skew_seconds

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def clock_skew_seconds(self) -> int:
        return self._skew

    def bearer(self, authorization: str) -> AuthOutcome:
        token = authorization[len("Bearer ") :].strip()
        key_id = self._token_lookup(token)
        if key_id is None or key_id not in self._keys:
            return AuthOutcome("bearer", None, False, "Unknown or revoked bearer token")
        return AuthOutcome("bearer", key_id, True)

    def verify_v2(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> AuthOutcome:
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            return self.bearer(authorization)
        sig_input_header = headers.get("signature-input")
        signature_header = headers.get("signature")
        if not sig_input_header or not signature_header:
            return AuthOutcome("none", None, False, "Missing request signature")
        sig_input = _dictionary_member(sig_input_header, SIGNATURE_LABEL)
        signature_value = _dictionary_member(signature_header, SIGNATURE_LABEL)
        if sig_input is None or signature_value is None:
            return AuthOutcome("ssh", None, False, f"No signature labelled {SIGNATURE_LABEL!r}")
        match = _SIG_INPUT.match(sig_input)
        if match is None:
            return AuthOutcome("ssh", None, False, "Malformed Signature-Input")
        components = tuple(c.strip('"') for c in match["components"].split())
        params = _parse_params(match["params"])
        key_id = params.get("keyid", "").lower()
        if sorted(components) != sorted(COVERED_COMPONENTS):
            return AuthOutcome(
                "ssh", key_id or None, False, "Signature must cover " + " ".join(COVERED_COMPONENTS)
            )
        if params.get("alg", "ed25519") != "ed25519":
            return AuthOutcome("ssh", key_id or None, False, "Unsupported signature algorithm")
        public_key = self._keys.get(key_id)
        if public_key is None:
            return AuthOutcome("ssh", key_id or None, False, "Unknown public key")
        digest_header = headers.get("content-digest", "")
        expected_digest = content_digest(body)
        if _dictionary_member(digest_header, "sha-256") != expected_digest.removeprefix("sha-256="):
            return AuthOutcome("ssh", key_id, False, "Content-Digest does not match the request body")
        try:
            created = int(params["created"])
        except (KeyError, ValueError):
            return AuthOutcome("ssh", key_id, False, "Signature-Input lacks an integer 'created'")
        drift = created - self._clock()
        if abs(drift) > self._skew:
            return AuthOutcome(
                "ssh",
                key_id,
                False,
                f"Signature 'created' is {drift:+.0f} s from server time; "
                f"clock skew beyond ±{self._skew} s is rejected",
            )
        values = {"@method": method.upper(), "@request-target": target, "content-digest": digest_header}
        lines = [f'"{c}": {values[c]}' for c in components]
        lines.append(f'"@signature-params": {sig_input}')
        base = "\n".join(lines).encode("utf-8")
        try:
            signature = base64.b64decode(signature_value.strip(":"), validate=True)
            public_key.verify(signature, base)
        except (binascii.Error, InvalidSignature):
            return AuthOutcome("ssh", key_id, False, "Invalid signature")
        # Keyed on what was signed, not on the signature bytes, so no re-encoding of a signature
        # (should the verifier ever accept one) makes a replay look new.
        return AuthOutcome("ssh", key_id, True, replay_key=hashlib.sha256(base).digest(), created=created)

    def verify_v1(self, body: bytes, headers: Mapping[str, str]) -> AuthOutcome:
        authorization = headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            return self.bearer(authorization)
        key_hex, sep, sig_hex = authorization.partition(":")
        if not sep:
            return AuthOutcome("none", None, False, "Missing Authorization header")
        key_id = key_hex.strip().lower()
        public_key = self._keys.get(key_id)
        if public_key is None:
            return AuthOutcome("ssh", key_id, False, "Unknown public key")
        try:
            # v1 signs the SHA-256 digest of the body, not the body itself.
            public_key.verify(bytes.fromhex(sig_hex.strip()), hashlib.sha256(body).digest())
        except (ValueError, InvalidSignature):
            return AuthOutcome("ssh", key_id, False, "Invalid signature")
        return AuthOutcome("ssh", key_id, True)


class ReplayGuard:
    """The v2 signatures accepted while they can still verify (`--reject-replays`, README.md "Replays").

    A signature verifies while its `created` lies within ±window of server time, so it is remembered
    until `created + window` and forgotten after. At most `max_entries` are kept: past that, the ones
    closest to expiry are forgotten first (a flood of requests can make those replayable again, but
    cannot grow the memory). An entry costs about 215 bytes (21 MB when full).
    """

    def __init__(
        self,
        window_seconds: float,
        clock: Callable[[], float],
        max_entries: int = DEFAULT_REPLAY_CACHE_ENTRIES,
    ) -> None:
        self._window = window_seconds
        self._clock = clock
        self._max = max_entries
        self._expires: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []  # (expiry, key); may hold released keys

    def __len__(self) -> int:
        return len(self._expires)

    def claim(self, key: bytes, created: int) -> bool:
        """Remember `key`; False if it is already remembered (a replay)."""
        now = self._clock()
        while self._heap and self._heap[0][0] < now:
            self._pop()
        if key in self._expires:
            return False
        expires = created + self._window
        self._expires[key] = expires
        heapq.heappush(self._heap, (expires, key))
        while len(self._expires) > self._max:
            self._pop()
        return True

    def release(self, key: bytes) -> None:
        """Forget `key`: the request it signed failed on the server, and a retry may repeat it."""
        self._expires.pop(key, None)
        if len(self._heap) > 2 * self._max:  # drop the released keys' heap entries
            self._heap = [(expires, k) for k, expires in self._expires.items()]
            heapq.heapify(self._heap)

    def _pop(self) -> None:
        expires, key = heapq.heappop(self._heap)
        if self._expires.get(key) == expires:
            del self._expires[key]
