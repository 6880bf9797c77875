"""What every lease is: its holder's details, the errors, and the `Lease` interface (file.py, gcs.py)."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import random
import secrets
import socket
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from reconciler.errors import ReconcilerError

logger = logging.getLogger(__name__)

_RELEASE_HINT = "`reconciler lock release --force` removes a lease whose run is gone"


class LockError(ReconcilerError):
    """The lock cannot be taken, read or released."""


class LockHeldError(LockError):
    """Someone else holds the lock; `holder` says who (None: a holder that has not written its details)."""

    def __init__(self, message: str, holder: LeaseInfo | None) -> None:
        self.holder = holder
        super().__init__(message)


class LeaseLostError(LockError):
    """The lease was taken over or removed while we held it: stop before changing anything else."""


@dataclass(frozen=True, slots=True)
class OwnerInfo:
    """Who takes the lock: written into the lease for whoever finds it held."""

    owner: str
    host: str
    pid: int
    ci_url: str | None = None

    @classmethod
    def current(cls) -> OwnerInfo:
        """This process: the CI actor (or user@host), and the CI run's URL when GitHub or GitLab runs it."""
        env = os.environ
        host = socket.gethostname()
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name in some containers
            user = "unknown"
        owner = env.get("GITHUB_ACTOR") or env.get("GITLAB_USER_LOGIN") or f"{user}@{host}"
        ci_url = env.get("CI_JOB_URL") or None
        github = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
        if all(github):
            server, repo, run = github
            ci_url = f"{str(server).rstrip('/')}/{repo}/actions/runs/{run}"
        return cls(owner=owner, host=host, pid=os.getpid(), ci_url=ci_url)


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A lease as stored: its holder, when it was taken and (GCS only) until when it holds."""

    owner: str
    host: str
    pid: int
    ci_url: str | None
    started_at: datetime
    expires_at: datetime | None  # None: a local lock, held until its process ends
    lease_id: str

    def expired(self, at: datetime | None = None) -> bool:
        return self.expires_at is not None and (at or now()) >= self.expires_at

    def describe(self) -> str:
        """`alice (host ci-1, pid 42, https://...) since 2026-...Z, expires 2026-...Z` (no expiry: local)."""
        if not self.lease_id:
            return "an unknown holder (it wrote no details)"
        extra = ", ".join([f"host {self.host}", f"pid {self.pid}", *([self.ci_url] if self.ci_url else [])])
        expiry = f", expires {_iso(self.expires_at)}" if self.expires_at else ""
        return f"{self.owner} ({extra}) since {_iso(self.started_at)}{expiry}"

    def to_json(self) -> bytes:
        doc: dict[str, Any] = asdict(self)
        doc["started_at"] = _iso(self.started_at)
        doc["expires_at"] = _iso(self.expires_at) if self.expires_at else None
        return (json.dumps(doc, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> LeaseInfo:
        try:
            doc = json.loads(data)
            expires = doc.get("expires_at")
            return cls(
                owner=str(doc["owner"]),
                host=str(doc["host"]),
                pid=int(doc["pid"]),
                ci_url=str(doc["ci_url"]) if doc.get("ci_url") else None,
                started_at=_parse_time(doc["started_at"]),
                expires_at=_parse_time(expires) if expires else None,
                lease_id=str(doc["lease_id"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LockError(
                f"{where} holds something that is not a reconciler lease ({type(exc).__name__}: {exc}); "
                "`reconciler lock release --force` removes it"
            ) from None

    def alive_here(self) -> bool:
        """Whether the holder is a process that is running on this very host."""
        if self.host != socket.gethostname() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it exists, under another user
        return True

    @classmethod
    def unknown(cls) -> LeaseInfo:
        """A holder that wrote nothing readable (yet)."""
        return cls("unknown", "unknown", 0, None, now(), None, "")

    @classmethod
    def new(cls, who: OwnerInfo, ttl: float | None) -> LeaseInfo:
        started = now()
        expires = started + timedelta(seconds=ttl) if ttl is not None else None
        return cls(who.owner, who.host, who.pid, who.ci_url, started, expires, secrets.token_hex(8))


class Lease(ABC):
    """A lock, held inside `with`/`async with`; see the module docstring."""

    hint = _RELEASE_HINT  # the end of a refusal: what to do about the holder

    def __init__(self, location: str, who: OwnerInfo, *, wait: float) -> None:
        self.location = location
        self.owner_info = who
        self.wait = wait
        self._info: LeaseInfo | None = None
        self._lost: str | None = None

    @property
    def info(self) -> LeaseInfo:
        if self._info is None:
            raise LockError(f"the lock {self.location} is not held")
        return self._info

    @property
    def lost(self) -> bool:
        """True once the lease was taken over, removed, or could not be renewed in time."""
        return self._lost is not None

    @property
    def lost_reason(self) -> str | None:
        return self._lost

    @property
    def confirmed_at(self) -> float:
        """time.monotonic() when the lease was last known ours by a request sent then; a write that ended
        before it landed while the lease was ours. 0.0: this kind of lease does not say."""
        return 0.0

    def check(self) -> None:
        """Raise `LeaseLostError` if the lease is known to be lost (no I/O)."""
        if self._lost is not None:
            raise LeaseLostError(f"lost the lock {self.location}: {self._lost}")

    def confirm(self) -> None:
        """Make sure the lease is still ours before a write; raise `LeaseLostError` if it is not. Blocking."""
        self.check()

    def needs_confirming(self) -> bool:
        """Whether `confirm` has I/O to do (else it is only `check`)."""
        return False

    async def guard(self) -> None:
        """`confirm` for async code, its I/O (if any) in a worker thread. Call it before each write."""
        if self.needs_confirming():
            await asyncio.to_thread(self.confirm)
        else:
            self.check()

    def take(self) -> None:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                self._take_once()
                return
            except LockHeldError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(min(self._poll() * random.uniform(0.5, 1.0), max(0.0, deadline - time.monotonic())))

    @abstractmethod
    def release(self) -> None:
        """Give the lock up (if held). Safe to call twice."""

    @abstractmethod
    def _take_once(self) -> None:
        """Take the lock or raise `LockHeldError`."""

    def _poll(self) -> float:
        return 1.0

    def _refusal(self, holder: LeaseInfo | None) -> LockHeldError:
        who = (holder or LeaseInfo.unknown()).describe()
        return LockHeldError(f"another apply holds the lock {self.location}: {who}; {self.hint}", holder)

    def __enter__(self) -> Lease:
        self.take()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    async def __aenter__(self) -> Lease:
        await asyncio.to_thread(self.take)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.release)


def now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(text: object) -> datetime:
    moment = datetime.fromisoformat(str(text))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
