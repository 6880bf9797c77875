"""The GCS lease: one object, written only under a generation precondition (reconciler/gcs/objects.py).

Of two writers racing for the object exactly one wins and the other learns it lost (412). The blocking
calls are synchronous; `Lease`'s `async with` runs them in a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import timedelta

from reconciler.errors import ReconcilerError
from reconciler.gcs.client import storage_client
from reconciler.gcs.objects import StoredObject, delete_object, parse_gs_url, read_object, write_object
from reconciler.lock.base import Lease, LeaseInfo, LockError, LockHeldError, OwnerInfo, now

logger = logging.getLogger("reconciler.lock")

_WITHIN = 60.0
# Before a write, the lease is read back when it was last seen ours longer ago than this: a run that stalls
# (a stopped runner, a long pause) always looks again, and a run that writes a lot does so every few seconds.
CONFIRM_AFTER_SECONDS = 2.0
_TAKE_ATTEMPTS = 5  # rounds of create / read / take over, each lost to another writer


def read_lease(location: str, *, endpoint: str | None = None) -> LeaseInfo | None:
    """The lease stored at `location` (expired or not); None when there is none."""
    with closing(_LeaseObject(location, endpoint)) as lease_object:
        found = lease_object.read()
    return found[0] if found else None


def remove_lease(location: str, *, force: bool, endpoint: str | None = None) -> LeaseInfo | None:
    """Delete the lease at `location`, at the generation just read: what was removed, or None.

    An unexpired lease (or an object that is no lease at all: `LeaseInfo.unknown()`) only with `force`.
    """
    with closing(_LeaseObject(location, endpoint)) as lease_object:
        stored = lease_object.read_stored()
        if stored is None:
            return None
        try:
            holder = LeaseInfo.from_json(stored.data, location)
        except LockError:
            if not force:
                raise
            holder = LeaseInfo.unknown()
        if not holder.expired() and not force:
            raise LockHeldError(
                f"{location} is held by {holder.describe()}; add --force to remove it anyway", holder
            )
        if holder.alive_here():
            raise LockHeldError(
                f"{location} is held by {holder.describe()}, a process that is running on this host: stop "
                "it (it releases the lock as it ends); --force only removes a lease whose run is gone",
                holder,
            )
        if not lease_object.delete(stored.generation):
            raise LockError(
                f"{location} changed while being released; see `reconciler lock status`, then retry"
            )
    return holder


class _LeaseObject:
    """The object at a `gs://` location, holding a `LeaseInfo` as JSON, on a client of its own."""

    def __init__(self, location: str, endpoint: str | None, within: float = _WITHIN) -> None:
        self.location = location
        self.bucket, self.name = parse_gs_url(location)
        self.client = storage_client(endpoint)
        self.within = within

    def close(self) -> None:
        self.client.close()

    def read_stored(self) -> StoredObject | None:
        return read_object(self.client, self.bucket, self.name, within=self.within)

    def read(self) -> tuple[LeaseInfo, int] | None:
        stored = self.read_stored()
        if stored is None:
            return None
        return LeaseInfo.from_json(stored.data, self.location), stored.generation

    def write(self, info: LeaseInfo, *, if_generation_match: int) -> int | None:
        data = info.to_json()
        return write_object(
            self.client,
            self.bucket,
            self.name,
            data,
            if_generation_match=if_generation_match,
            within=self.within,
        )

    def delete(self, generation: int) -> bool:
        return delete_object(self.client, self.bucket, self.name, generation=generation, within=self.within)


class GcsLease(Lease):
    """A lease on a GCS object, renewed in a background thread every `ttl / 3` while held."""

    def __init__(
        self,
        location: str,
        who: OwnerInfo,
        *,
        ttl: float,
        wait: float,
        on_lost: Callable[[str], None] | None,
        endpoint: str | None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        parse_gs_url(location)  # a malformed location fails at acquire(), not at `with`
        super().__init__(location, who, wait=wait)
        self.ttl = ttl
        self._on_lost = on_lost
        self._endpoint = endpoint
        self._object: _LeaseObject | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._mutex = threading.Lock()  # a renewal and a confirmation never interleave
        # time.monotonic() when the request that last saw the lease ours was sent (not answered: a run can
        # stall in between, and the lease may have been lost during the stall)
        self._confirmed_at = 0.0
        self._asked = 0.0
        self.took_over: LeaseInfo | None = None  # the expired lease this one replaced, if any

    def _poll(self) -> float:
        return min(1.0, self.ttl / 20)

    def take(self) -> None:
        if self._renewer is not None:
            raise LockError(f"the lock {self.location} is already held by this lease")
        # Each call gives up in time to leave the renewal another try before the lease expires.
        self._object = _LeaseObject(self.location, self._endpoint, within=min(_WITHIN, self.ttl / 3))
        try:
            super().take()
        except BaseException:
            self._object.close()
            self._object = None
            raise

    def _take_once(self) -> None:
        assert self._object is not None
        mine = LeaseInfo.new(self.owner_info, self.ttl)
        self._asked = time.monotonic()
        replacing = 0  # first: create only if absent
        for _attempt in range(_TAKE_ATTEMPTS):
            generation = self._object.write(mine, if_generation_match=replacing)
            if generation is not None:
                self._held(mine, generation)
                return
            found = self._object.read()
            if found is None:
                replacing = 0  # released meanwhile: create again
                continue
            holder, replacing = found
            if holder.lease_id == mine.lease_id:  # our write landed, but its answer was lost
                self._held(holder, replacing)
                return
            if not holder.expired():
                raise self._refusal(holder)
            logger.info("taking over the expired lease %s of %s", self.location, holder.describe())
            self.took_over = holder
        raise LockError(f"could not take the lock {self.location}: it kept changing; try again")

    @property
    def confirmed_at(self) -> float:
        return self._confirmed_at

    def needs_confirming(self) -> bool:
        return self._lost is None and time.monotonic() - self._confirmed_at >= CONFIRM_AFTER_SECONDS

    def confirm(self) -> None:
        """Still ours? By the clock always (a run that stalled past its expiry stops, whoever holds the lease
        now), and by reading the lease back when it was last seen ours over CONFIRM_AFTER_SECONDS ago."""
        self.check()
        if self.info.expired():
            self._lose(f"it expired before it was renewed ({self.info.describe()}): did the run stall?")
        elif self.needs_confirming():
            assert self._object is not None
            with self._mutex:
                asked = time.monotonic()  # not the answer's time: a run may stall between the two
                try:
                    found = self._object.read()
                except ReconcilerError as exc:
                    self._lose(f"it could not be read back before writing ({exc})")
                    found = None
                else:
                    if found is not None and found[0].lease_id == self.info.lease_id:
                        self._confirmed_at = asked
                    elif found is not None:
                        self._lose(f"taken over by {found[0].describe()}")
                    else:
                        self._lose("its lease object was deleted (lock release --force?)")
        self.check()

    def _held(self, info: LeaseInfo, generation: int) -> None:
        self._info, self._generation, self._lost = info, generation, None
        self._confirmed_at = self._asked  # when the write that made it ours was sent
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease {self.location}", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        interval = self.ttl / 3
        pause = interval
        while not self._stop.wait(pause) and self._lost is None:
            try:
                self._renew_once()
                pause = interval
            except Exception as exc:  # GCS unreachable (or worse): try again sooner, until the lease expires
                if self.info.expired():
                    self._lose(f"could not renew it before it expired ({exc})")
                pause = min(interval, self.ttl / 10)

    def _renew_once(self) -> None:
        assert self._object is not None
        with self._mutex:
            if self._lost is not None:
                return
            renewed = replace(self.info, expires_at=now() + timedelta(seconds=self.ttl))
            asked = time.monotonic()
            generation = self._object.write(renewed, if_generation_match=self._generation)
            if generation is not None:
                self._info, self._generation = renewed, generation
                self._confirmed_at = asked
                return
            found = self._object.read()
            if found is not None and found[0].lease_id == renewed.lease_id:
                self._info, self._generation = found  # our renewal landed; its answer was lost
                self._confirmed_at = asked
                return
            self._lose(f"taken over by {found[0].describe()}" if found else "its lease object was deleted")

    def _lose(self, reason: str) -> None:
        if self._lost is not None:
            return
        self._lost = reason
        logger.warning("lost the lock %s: %s", self.location, reason)
        if self._on_lost is not None:
            self._on_lost(reason)

    def release(self) -> None:
        """Stop renewing; delete the lease object if it is still ours. GCS trouble is logged, not raised."""
        renewer, self._renewer = self._renewer, None
        lease_object, self._object = self._object, None
        if renewer is None or lease_object is None:
            return
        self._stop.set()
        renewer.join()  # a renewal in flight ends first, so the generation below is the latest
        with closing(lease_object):
            if self._lost is not None:
                return  # someone else's now (or nobody's): never delete it
            try:
                if not lease_object.delete(self._generation):
                    logger.warning("the lease %s changed before it was released; left as is", self.location)
            except ReconcilerError as exc:
                logger.warning(
                    "could not release the lease %s (%s): it holds until it expires", self.location, exc
                )
