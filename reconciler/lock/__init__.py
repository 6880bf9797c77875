"""The apply lock: two applies on one workspace never interleave.

A location is `gs://bucket/path/to/lock.json` (a lease on a GCS object, for CI runners on different
machines) or a local path (an `fcntl.flock` on that file, for one machine).

- GCS: the lease object is created only if absent (`ifGenerationMatch=0`), renewed every TTL/3 by a
  background thread (each rewrite names the generation it replaces), and deleted at the end only if it is
  still ours. An expired lease is taken over under its generation, so of two takers one wins. When a renewal
  finds the lease taken or deleted, or cannot renew it before it expires, the lease is *lost*: `lease.lost`
  turns true, `lease.check()` raises `LeaseLostError`, and `on_lost` (if given) is called once.
- Local: the kernel holds the lock for the process, so a process that dies releases it, and no other
  process can release it. The holder's details are written into the file for `status`.

`acquire(...)` returns a `Lease` that is taken on entering `with` or `async with` (the async form runs the
blocking calls in a worker thread) and released on leaving it. Expiry is judged by the reader's clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.defaults import LEASE_TTL_SECONDS
from reconciler.lock.base import (
    Lease,
    LeaseInfo,
    LeaseLostError,
    LockError,
    LockHeldError,
    OwnerInfo,
    now,
)
from reconciler.lock.file import FileLease, file_holder

if TYPE_CHECKING:
    from reconciler.plan.model import BackendRef

__all__ = [
    "LEASE_TTL_SECONDS",
    "FileLease",
    "Lease",
    "LeaseInfo",
    "LeaseLostError",
    "LockError",
    "LockHeldError",
    "OwnerInfo",
    "acquire",
    "is_gcs",
    "lock_location",
    "now",
    "release",
    "status",
]


def is_gcs(location: str) -> bool:
    return location.startswith("gs://")


def lock_location(ref: BackendRef, config_dir: Path | None, configured: str | None) -> str:
    """The configured location (a relative local path is taken from `config_dir`), else a local lock file:
    beside the sandbox state, or `.reconciler/apply.lock` beside the config for Encord (as `journal_for`)."""
    base = config_dir or Path.cwd()
    if configured:
        return configured if is_gcs(configured) else str((base / os.path.expanduser(configured)).resolve())
    if ref.kind == "sandbox":
        return str(Path(ref.location).with_suffix(".lock"))
    return str(base / ".reconciler" / "apply.lock")


def acquire(
    location: str,
    *,
    owner_info: OwnerInfo | None = None,
    ttl: float = LEASE_TTL_SECONDS,
    wait: float = 0.0,
    on_lost: Callable[[str], None] | None = None,
    endpoint: str | None = None,
) -> Lease:
    """A lease on `location`, taken on entering `with`/`async with`, released on leaving it.

    Taking refuses with `LockHeldError` when another holder has it; with `wait` > 0 it tries again until
    `wait` seconds have passed. `ttl`, `on_lost` and `endpoint` (a GCS emulator's URL; else
    `$STORAGE_EMULATOR_HOST` or real GCS) matter for GCS leases only.
    """
    who = owner_info or OwnerInfo.current()
    if is_gcs(location):
        from reconciler.lock.gcs import GcsLease

        return GcsLease(location, who, ttl=ttl, wait=wait, on_lost=on_lost, endpoint=endpoint)
    return FileLease(location, who, wait=wait)


def status(location: str, *, endpoint: str | None = None) -> LeaseInfo | None:
    """Who holds the lock (an expired GCS lease included: see `LeaseInfo.expired`); None when it is free."""
    if is_gcs(location):
        from reconciler.lock.gcs import read_lease

        return read_lease(location, endpoint=endpoint)
    return file_holder(Path(location))


def release(location: str, *, force: bool = False, endpoint: str | None = None) -> LeaseInfo | None:
    """Remove someone else's GCS lease (an unexpired one only with `force`): what was removed, or None.

    A local lock cannot be released from another process: its holder must end (`LockError` says so).
    """
    if is_gcs(location):
        from reconciler.lock.gcs import remove_lease

        return remove_lease(location, force=force, endpoint=endpoint)
    holder = file_holder(Path(location))
    if holder is None:
        return None
    raise LockError(
        f"{location} is a local lock held by {holder.describe()}: no other process can release it; "
        f"stop that process (pid {holder.pid} on {holder.host}); a process that has ended holds no lock"
    )
