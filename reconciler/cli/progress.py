"""Registration progress: a live bar on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import time
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from reconciler.cli import output
from reconciler.encord.provider_items import RegistrationTally

LINE_EVERY_SECONDS = 5.0


class RegistrationProgress:
    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = 0.0
        self._started = time.monotonic()

    def __enter__(self) -> RegistrationProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def tick(self, tally: RegistrationTally) -> None:
        if tally.total == 0:
            return
        finished = tally.done + tally.failed
        if output.stdout.is_terminal:
            if self._bar is None:
                self._bar = Progress(
                    TextColumn("  registering"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("[red]{task.fields[failed]} failed[/]"),
                    TimeRemainingColumn(),
                    console=output.stdout,
                    transient=True,
                )
                self._task = self._bar.add_task("register", total=tally.total, failed=0)
                self._bar.start()
            assert self._task is not None
            self._bar.update(self._task, completed=finished, failed=tally.failed)
            return
        now = time.monotonic()
        if now - self._last_line >= LINE_EVERY_SECONDS or finished >= tally.total:
            self._last_line = now
            elapsed = now - self._started
            rate = finished / elapsed if elapsed > 0 else 0.0
            left = tally.total - finished
            eta = f", about {left / rate:.0f} s left" if rate > 0 and left else ""
            output.out(
                f"  registering: {tally.done} done, {tally.failed} failed, {left} left of {tally.total}{eta}"
            )
