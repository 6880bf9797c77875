"""Credentials: an Ed25519 key (signs v2 and v1 exactly as the SDK) or a bearer token.

CONTRACT (filled in by the client work).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True, repr=False)
class SshKeyAuth:
    private_key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        """Lower-case hex of the raw 32-byte public key."""
        raise NotImplementedError

    def __repr__(self) -> str:  # never show key material
        return "SshKeyAuth(<redacted>)"


@dataclass(frozen=True, repr=False)
class BearerAuth:
    token: str

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


Auth = SshKeyAuth | BearerAuth


def load_ssh_key(
    *, key_file: Path | None = None, key_text: str | None = None, password: str | None = None
) -> SshKeyAuth:
    """Read an OpenSSH Ed25519 private key; warn (logging) when the file is readable by group/others."""
    raise NotImplementedError


def resolve_auth(
    *, key_file: Path | None = None, bearer_token: str | None = None, env: dict[str, str] | None = None
) -> Auth:
    """Config first (`key_file` / `bearer_token`), then ENCORD_SSH_KEY_FILE, then ENCORD_SSH_KEY, as the SDK does."""
    raise NotImplementedError
