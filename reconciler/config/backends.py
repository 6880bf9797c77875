"""Where the live workspace is: the embedded sandbox, or Encord (or an Encord-compatible server)."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from reconciler.config.models_base import StrictModel
from reconciler.defaults import DEFAULT_CONCURRENCY, LEASE_TTL_SECONDS

SCALAR_TYPES = ("boolean", "datetime", "number", "uuid", "varchar", "text", "geospatial")
TYPE_ALIASES = {"string": "varchar", "long_string": "text"}
EMBEDDING_MAX = 4096
EMBEDDING_ACTIVE_MAX = 2000
ENUM_MAX_VALUES = 255  # the SDK refuses 256 or more


# A host name (labels of letters, digits and '-', dot-separated), an IPv4 address, or an IPv6 one in brackets
# (urlsplit's `hostname` drops the brackets).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_BRACKETED = re.compile(r"\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\](?::[0-9]*)?")
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?|[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?")


def _lock_location(value: str | None) -> str | None:
    if value is None:
        return value
    if value.startswith("gs://"):
        bucket, _, name = value[5:].partition("/")
        if not bucket or not name or name.endswith("/"):
            raise ValueError("a GCS lock is an object: gs://bucket/path/to/lock.json")
    elif "://" in value:
        raise ValueError("a lock is gs://bucket/path/to/lock.json or a local file path")
    return value


# The apply lock's settings, the same for every backend.
LockLocation = Annotated[
    str | None,
    AfterValidator(_lock_location),
    Field(
        description="Where apply takes its lock: gs://bucket/path (a lease other runners see) or a local "
        "file. Default: a local lock beside the sandbox state or in .reconciler/."
    ),
]
LockTtl = Annotated[
    int,
    Field(
        ge=30,
        le=3600,
        description="How long a gs:// lock's lease holds without renewal (renewed every third of it). A "
        "crashed apply blocks others this long; an apply that stalls longer stops before its next write.",
    ),
]


class SandboxBackend(StrictModel):
    """The embedded Encord emulator: no account, no network, state in a local SQLite file."""

    kind: Literal["sandbox"] = "sandbox"
    state: str = Field(
        default=".reconciler/sandbox.db",
        description="SQLite file holding the sandbox workspace, relative to the config file.",
    )
    buckets: dict[str, str] = Field(
        default_factory=dict,
        description="Sandbox GCS buckets: bucket name -> local directory (relative to the config file) "
        "whose files are the bucket's objects, served by a local GCS emulator.",
    )
    lock: LockLocation = None
    lock_ttl_seconds: LockTtl = int(LEASE_TTL_SECONDS)


class EncordBackend(StrictModel):
    """The real Encord platform (or any Encord-compatible server, such as `reconciler emulator serve`)."""

    kind: Literal["encord"]
    domain: str = Field(
        default="https://api.encord.com",
        description="API domain: https://api.encord.com, https://api.us.encord.com, or an emulator URL.",
    )
    ssh_key_file: str | None = Field(
        default=None,
        description="Ed25519 private key file; else ENCORD_SSH_KEY_FILE, then ENCORD_SSH_KEY, are read.",
    )
    bearer_token: str | None = Field(
        default=None, description="A bearer token instead of a key; write it as ${ENCORD_BEARER_TOKEN}."
    )
    timeout_seconds: float = Field(
        default=180.0, gt=0, allow_inf_nan=False, description="Connect, read and write timeout."
    )
    max_retries: int = Field(default=3, ge=0, le=10)
    concurrency: int = Field(
        default=DEFAULT_CONCURRENCY, ge=1, le=64, description="Requests in flight at once."
    )
    lock: LockLocation = None
    lock_ttl_seconds: LockTtl = int(LEASE_TTL_SECONDS)

    @field_validator("domain")
    @classmethod
    def _domain_is_url(cls, value: str) -> str:
        # Never echo the value: it may hold a password (https://user:secret@host).
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local emulator)")
        if any(ch.isspace() or not ch.isprintable() for ch in value):  # urlsplit would drop tabs, newlines
            raise ValueError("must not contain white space or control characters")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("is not a valid URL: scheme, host and an optional port") from None
        if parts.password is not None or parts.username is not None:
            raise ValueError(
                "must not hold a user name or password: give credentials as ssh_key_file or a token"
            )
        if not parts.hostname:
            raise ValueError("names no host")
        host_and_port = parts.netloc.rpartition("@")[2]
        if ("[" in host_and_port or "]" in host_and_port) and not _BRACKETED.fullmatch(host_and_port):
            raise ValueError("has text around its [IPv6] host: write https://[address]:port")
        if not _HOST.fullmatch(parts.hostname):
            raise ValueError(
                "has a host that is not a DNS name or an IP address (letters, digits, '-', '.', or [IPv6])"
            )
        if parts.path not in ("", "/") or "?" in value or "#" in value:
            raise ValueError(
                "is only scheme, host and port: no path, query or fragment (e.g. https://api.encord.com)"
            )
        return value.rstrip("/")


Backend = Annotated[SandboxBackend | EncordBackend, Field(discriminator="kind")]


# -- integrations -------------------------------------------------------------------------------
