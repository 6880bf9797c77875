"""Open an Encord client for the configured backend: the embedded sandbox, or Encord itself.

Both go through the same `EncordClient`; the sandbox only swaps the transport for the emulator's ASGI app,
in-process, with a key pair of its own that the emulator is told to trust.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.config.models import EncordBackend, SandboxBackend
from reconciler.encord.auth import SshKeyAuth, load_ssh_key, resolve_auth
from reconciler.encord.client import EncordClient
from reconciler.plan.model import BackendRef

SANDBOX_DOMAIN = "http://sandbox.reconciler.invalid"


def backend_ref(
    backend: SandboxBackend | EncordBackend, base_dir: Path, domain_override: str | None = None
) -> BackendRef:
    if domain_override:
        options = (
            backend.model_dump(exclude={"kind", "domain", "state"})
            if isinstance(backend, EncordBackend)
            else {}
        )
        options.pop("bearer_token", None)
        return BackendRef(kind="encord", location=domain_override.rstrip("/"), options=options)
    if isinstance(backend, SandboxBackend):
        return BackendRef(kind="sandbox", location=str((base_dir / backend.state).resolve()))
    options = backend.model_dump(exclude={"kind", "domain", "bearer_token"}, exclude_none=True)
    if backend.ssh_key_file:
        options["ssh_key_file"] = str((base_dir / os.path.expanduser(backend.ssh_key_file)).resolve())
    return BackendRef(kind="encord", location=backend.domain, options=options)


def sandbox_key(state_path: Path) -> tuple[Ed25519PrivateKey, str]:
    """The sandbox's own key pair, kept beside its state file (created on first use, mode 0600)."""
    key_path = state_path.with_suffix(".key")
    state_path.parent.mkdir(parents=True, exist_ok=True)
    if not key_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    auth = load_ssh_key(key_file=key_path)
    public = auth.private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return auth.private_key, public.decode()


@asynccontextmanager
async def open_client(ref: BackendRef, *, bearer_token: str | None = None) -> AsyncIterator[EncordClient]:
    if ref.kind == "sandbox":
        from reconciler.emulator.app import create_app  # the emulator is only loaded for the sandbox

        state = Path(ref.location)
        key, public_line = sandbox_key(state)
        app = create_app(state, [public_line])
        transport = httpx.ASGITransport(app=app)
        async with EncordClient(SANDBOX_DOMAIN, SshKeyAuth(private_key=key), transport=transport) as client:
            yield client
        return
    key_file = ref.options.get("ssh_key_file")
    auth = resolve_auth(key_file=Path(key_file) if key_file else None, bearer_token=bearer_token)
    async with EncordClient(
        ref.location,
        auth,
        timeout_seconds=float(ref.options.get("timeout_seconds", 180.0)),
        max_retries=int(ref.options.get("max_retries", 3)),
        max_connections=int(ref.options.get("concurrency", 8)),
    ) as client:
        yield client
