"""Open an Encord client for the configured backend: the embedded sandbox, or Encord itself.

Both go through the same `EncordClient`; the sandbox only swaps the transport for the emulator's ASGI app,
in-process, with a key pair of its own that the emulator is told to trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reconciler.config.models import EncordBackend, SandboxBackend
from reconciler.defaults import DEFAULT_CONCURRENCY, LEASE_TTL_SECONDS
from reconciler.encord.auth import SshKeyAuth, credential_fingerprint, load_ssh_key, resolve_auth
from reconciler.encord.client import EncordClient
from reconciler.errors import ConfigError, CredentialsError
from reconciler.journal import GcsJournalStore, JobJournal, journal_location
from reconciler.live import LiveBucket
from reconciler.plan.model import BackendRef
from reconciler.state import LocalStateStore, StateStore

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
        if options.get("lock_ttl_seconds") == LEASE_TTL_SECONDS:
            del options["lock_ttl_seconds"]
        return BackendRef(kind="encord", location=domain_override.rstrip("/"), options=options)
    if isinstance(backend, SandboxBackend):
        buckets = {name: str((base_dir / path).resolve()) for name, path in sorted(backend.buckets.items())}
        sandbox_options: dict[str, Any] = {"buckets": buckets} if buckets else {}
        if backend.lock:
            sandbox_options["lock"] = backend.lock
        if backend.lock_ttl_seconds != LEASE_TTL_SECONDS:
            sandbox_options["lock_ttl_seconds"] = backend.lock_ttl_seconds
        state = str((base_dir / backend.state).resolve())
        return BackendRef(kind="sandbox", location=state, options=sandbox_options)
    options = backend.model_dump(exclude={"kind", "domain", "bearer_token"}, exclude_none=True)
    if backend.bearer_token and backend.bearer_token.strip():  # a fingerprint, never the token
        options["credential"] = credential_fingerprint(resolve_auth(bearer_token=backend.bearer_token))
    if backend.lock_ttl_seconds == LEASE_TTL_SECONDS:
        del options["lock_ttl_seconds"]  # the default: plan files stay as they were
    if backend.ssh_key_file:
        options["ssh_key_file"] = str((base_dir / os.path.expanduser(backend.ssh_key_file)).resolve())
    return BackendRef(kind="encord", location=backend.domain, options=options)


def sandbox_key(state_path: Path) -> tuple[Ed25519PrivateKey, str]:
    """The sandbox's own key pair, kept beside its state file (created on first use, mode 0600).

    A state path that cannot be a file (a directory, or below a regular file) is one `ConfigError` line
    naming it, before anything is created. An empty key file (a first run interrupted while writing it) is
    made again: the sandbox authorizes whatever key is beside it, so nothing depends on the old one."""
    from reconciler.emulator.store import prepare_state_path  # the emulator owns the state file

    key_path = state_path.with_suffix(".key")
    prepare_state_path(state_path)
    if key_path.is_file() and key_path.stat().st_size == 0:
        key_path.unlink()
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


def sandbox_buckets(ref: BackendRef) -> dict[str, Path]:
    return {name: Path(path) for name, path in (ref.options.get("buckets") or {}).items()}


def credential_id(ref: BackendRef) -> str:
    """The identity of the credential a run uses (`credential_fingerprint`): a token in the config was
    fingerprinted by `backend_ref`; a key file or the environment's credential is resolved here."""
    given = ref.options.get("credential")
    if isinstance(given, str):
        return given
    key_file = ref.options.get("ssh_key_file")
    try:
        auth = resolve_auth(key_file=Path(key_file) if key_file else None)
    except CredentialsError:
        return "no-credential"
    return credential_fingerprint(auth)


def local_file(ref: BackendRef, config_dir: Path | None, what: str) -> Path:
    """Where a run keeps its local files: beside the sandbox state, or in `.reconciler/` beside the
    config for Encord, one set per endpoint (host and port) and credential identity: another
    organisation's, or another emulator's, are not ours."""
    if ref.kind == "sandbox":
        return Path(ref.location).with_suffix(f".{what}")
    endpoint = re.sub(r"[^A-Za-z0-9.-]+", "_", urlsplit(ref.location).netloc) or "encord"
    stem, _, suffix = what.partition(".")
    directory = (config_dir or Path.cwd()) / ".reconciler"
    path = directory / f"{stem}-{endpoint}-{credential_id(ref)}.{suffix}"
    # Before 0.2 the name held the host alone and a hash of the key file's path: carry such a file over.
    host = urlsplit(ref.location).hostname or "encord"
    legacy_who = hashlib.sha256(str(ref.options.get("ssh_key_file") or "environment").encode()).hexdigest()[
        :8
    ]
    legacy = directory / f"{stem}-{host}-{legacy_who}.{suffix}"
    if legacy.is_file() and not path.exists():
        with contextlib.suppress(OSError):
            legacy.rename(path)
    return path


def journal_for(ref: BackendRef, config_dir: Path | None) -> JobJournal:
    """The upload-job journal (see reconciler.journal): beside a `gs://` lock, so that a fresh checkout
    finds the jobs a cancelled run left; else a local file."""
    lock = ref.options.get("lock")
    if isinstance(lock, str) and lock.startswith("gs://"):
        return JobJournal(GcsJournalStore(journal_location(lock)))
    return JobJournal(local_file(ref, config_dir, "jobs.jsonl"))


def state_store_for(ref: BackendRef, config_dir: Path | None) -> StateStore:
    """The recorded state of the last apply (see reconciler.state): beside a `gs://` lock, so that every
    runner sees it; else a local file beside the journal."""
    lock = ref.options.get("lock")
    if isinstance(lock, str) and lock.startswith("gs://"):
        from reconciler.gcs.state_object import GcsStateStore, state_location

        return GcsStateStore(state_location(lock))
    return LocalStateStore(local_file(ref, config_dir, "state.json"))


@dataclass
class Workspace:
    """Everything a plan or apply talks to: Encord (or the sandbox) and, when needed, GCS."""

    client: EncordClient
    gcs_endpoint: str | None = None  # the sandbox's GCS emulator; None: real GCS (or STORAGE_EMULATOR_HOST)
    # The sandbox's GCS is started on first use: a plan that lists no bucket and manages no bucket never
    # pays for syncing the bucket directories into it.
    start_gcs: Callable[[], str] | None = None
    _storage: Any = None
    _starting: threading.Lock = field(default_factory=threading.Lock)

    def storage(self, *, objects: bool = False) -> Any:
        """The GCS client; with `objects`, for listing objects (the sandbox syncs them from its directories
        only then: bucket settings need the buckets, not 100,000 files walked)."""
        with self._starting:  # GCS calls run in worker threads: one of them starts it
            if self._storage is None:
                from reconciler.gcs.client import storage_client

                if self.gcs_endpoint is None and self.start_gcs is not None:
                    self.gcs_endpoint = self.start_gcs()
                self._storage = storage_client(self.gcs_endpoint)
        if objects and self.start_gcs is not None and self.gcs_endpoint is not None:
            from reconciler.gcs.sandbox import ensure_objects

            ensure_objects(self.gcs_endpoint)
        return self._storage

    def list_objects(self, bucket: str, prefix: str) -> Iterator[list[str]]:
        from reconciler.gcs.listing import iter_names_parallel

        yield from iter_names_parallel(self.storage(objects=True), bucket, prefix)

    def read_bucket(self, bucket: str) -> LiveBucket:
        from reconciler.gcs.buckets import read_cors, read_iam_bindings
        from reconciler.gcs.labels import IAM_LABEL, read_labels

        storage = self.storage()
        cors = [dict(rule) for rule in read_cors(storage, bucket)]
        granted = read_labels(storage, bucket).get(IAM_LABEL)
        return LiveBucket(name=bucket, cors=cors, iam=read_iam_bindings(storage, bucket), granted=granted)

    def write_cors(self, bucket: str, rules: list[dict[str, Any]]) -> None:
        from reconciler.gcs.buckets import write_cors

        write_cors(self.storage(), bucket, rules)

    def edit_iam(self, bucket: str, add: tuple[str, str] | None, remove: tuple[str, str] | None) -> None:
        """Grant `add` and record it in the bucket's labels; revoke `remove` (a binding we granted)."""
        from reconciler.gcs.labels import edit_reader_binding

        edit_reader_binding(self.storage(), bucket, add, remove)


_SHARED_SANDBOX_GCS: str | None = None  # the sandbox's GCS, when `sandbox_lock_gcs` runs it for a command


@contextmanager
def sandbox_lock_gcs(ref: BackendRef) -> Iterator[None]:
    """On the sandbox, a `gs://` lock in one of its own buckets is served by the sandbox's GCS emulator, so a
    CI configuration's lock (and the recorded state and job journal beside it) can be tried locally. The
    emulator then runs for the whole command and every GCS client of this process talks to it. Runs of
    one sandbox never overlap anyway: its GCS is held by one process at a time."""
    buckets = sandbox_buckets(ref) if ref.kind == "sandbox" else {}
    lock = ref.options.get("lock")
    if not (isinstance(lock, str) and lock.startswith("gs://") and lock[5:].partition("/")[0] in buckets):
        yield
        return
    from reconciler.gcs.sandbox import sandbox_gcs

    global _SHARED_SANDBOX_GCS
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    with sandbox_gcs(Path(ref.location).with_suffix(".gcs"), buckets) as endpoint:
        _SHARED_SANDBOX_GCS, os.environ["STORAGE_EMULATOR_HOST"] = endpoint, endpoint
        try:
            yield
        finally:
            _SHARED_SANDBOX_GCS = None
            if previous is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = previous


@asynccontextmanager
async def open_workspace(ref: BackendRef, *, bearer_token: str | None = None) -> AsyncIterator[Workspace]:
    buckets = sandbox_buckets(ref) if ref.kind == "sandbox" else {}
    if buckets and _SHARED_SANDBOX_GCS is not None:  # already running for this command
        async with open_client(ref, bearer_token=bearer_token) as client:
            yield Workspace(client, gcs_endpoint=_SHARED_SANDBOX_GCS)
        return
    if not buckets:
        async with open_client(ref, bearer_token=bearer_token) as client:
            yield Workspace(client)
        return
    from reconciler.gcs.sandbox import sandbox_gcs

    missing = [f"{name} -> {path}" for name, path in buckets.items() if not path.is_dir()]
    if missing:
        raise ConfigError([f"backend.buckets: not a directory: {m}" for m in missing])
    with contextlib.ExitStack() as running:

        def start() -> str:
            endpoint: str = running.enter_context(
                sandbox_gcs(Path(ref.location).with_suffix(".gcs"), buckets, objects=False)
            )
            return endpoint

        async with open_client(ref, bearer_token=bearer_token) as client:
            yield Workspace(client, start_gcs=start)


@asynccontextmanager
async def open_client(ref: BackendRef, *, bearer_token: str | None = None) -> AsyncIterator[EncordClient]:
    if ref.kind == "sandbox":
        from reconciler.emulator.app import create_app  # the emulator is only loaded for the sandbox

        state = Path(ref.location)
        key, public_line = sandbox_key(state)
        app = create_app(state, [public_line], buckets=sandbox_buckets(ref) or None)
        transport = httpx.ASGITransport(app=app)
        async with EncordClient(
            SANDBOX_DOMAIN, SshKeyAuth(private_key=key), transport=transport, compress=False
        ) as client:
            yield client
        return
    key_file = ref.options.get("ssh_key_file")
    auth = resolve_auth(key_file=Path(key_file) if key_file else None, bearer_token=bearer_token)
    async with EncordClient(
        ref.location,
        auth,
        timeout_seconds=float(ref.options.get("timeout_seconds", 180.0)),
        max_retries=int(ref.options.get("max_retries", 3)),
        max_connections=int(ref.options.get("concurrency", DEFAULT_CONCURRENCY)),
    ) as client:
        yield client
