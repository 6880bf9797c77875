"""Stopping an apply cleanly: SIGTERM (a cancelled CI pipeline) or Ctrl-C while it writes.

The first signal asks the apply to stop: no write starts after it (the same guard that checks the lock
before every write raises `StopRequested`), a write already in flight completes, polls of running upload
jobs are dropped (the jobs are journaled, so the next apply resumes them), the lock is released and the
process exits 130 with one line. A second signal stops at once, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from reconciler.errors import ReconcilerError

SIGNALS = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")


class StopRequested(ReconcilerError):
    """A signal asked the apply to stop: nothing more is written."""


class GracefulStop:
    """Set by the first signal; `check` raises once it is, `wait` returns once it is."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._event = asyncio.Event()

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def request(self, name: str) -> None:
        if self.signal_name is None:
            self.signal_name = name
            self._event.set()
        else:
            raise KeyboardInterrupt  # the second signal: stop now

    def check(self) -> None:
        if self.signal_name is not None:
            raise StopRequested(f"{self.signal_name} received: stopped before the next write")

    async def wait(self) -> None:
        await self._event.wait()


@contextlib.contextmanager
def stopping_gracefully(on_first: Callable[[str], None] = lambda name: None) -> Iterator[GracefulStop]:
    """In a running event loop: SIGINT and SIGTERM ask for a graceful stop instead of ending the process."""
    stop = GracefulStop()
    loop = asyncio.get_running_loop()

    def handler(sig: signal.Signals) -> None:
        first = not stop.requested
        stop.request(sig.name)
        if first:
            on_first(sig.name)

    installed = []
    for sig in SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, handler, sig)
            installed.append(sig)
    try:
        yield stop
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def unless_stopped(stop: GracefulStop | None, work: Awaitable[T]) -> T:
    """Await `work` (a read, such as a long-poll), dropping it when a stop is requested meanwhile."""
    if stop is None:
        return await work
    work = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if work in done:
        return work.result()
    work.cancel()
    stop.check()
    raise AssertionError("unreachable")
