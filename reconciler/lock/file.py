"""The local lock: `fcntl.flock` on a file, for applies on one machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from reconciler.lock.base import Lease, LeaseInfo, LockError, OwnerInfo


class FileLease(Lease):
    """`fcntl.flock` on a local file: non-blocking, released by `release` or when the process ends."""

    hint = "the lock is free as soon as that process ends"

    def __init__(self, location: str, who: OwnerInfo, *, wait: float) -> None:
        super().__init__(location, who, wait=wait)
        self.path = Path(location)
        self._fd: int | None = None

    def _poll(self) -> float:
        return 0.1

    def _take_once(self) -> None:
        if self._fd is not None:
            raise LockError(f"the lock {self.location} is already held by this process")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockError(
                f"cannot take the lock {self.location}: {exc.strerror or exc}; set `backend.lock` to a "
                "writable path (or a gs:// location)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._refusal(_read_holder(self.path)) from None
        info = LeaseInfo.new(self.owner_info, ttl=None)
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.to_json(), 0)
        self._fd, self._info = fd, info

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Emptied while still locked: the next holder writes its own details after locking.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock


def _read_holder(path: Path) -> LeaseInfo | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if not data.strip():
        return None
    try:
        return LeaseInfo.from_json(data, str(path))
    except LockError:
        return None


def file_holder(path: Path) -> LeaseInfo | None:
    """The local lock's holder, or None when no process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        # Shared and let go at once: a taker at this very moment may find it held.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(path)  # None: held, but its details are not written yet
        return holder or LeaseInfo.unknown()
    finally:
        os.close(fd)
    return None
