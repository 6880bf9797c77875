"""All terminal output goes through here: rich consoles that drop colour when not on a terminal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

from reconciler.errors import ReconcilerError

_plain = bool(os.environ.get("NO_COLOR"))  # no-color.org: any non-empty value turns styling off


def _console(stderr: bool = False) -> Console:
    # color_system=None drops every style (bold included), not only colour
    extra: dict[str, object] = {"color_system": None} if _plain else {}
    return Console(stderr=stderr, soft_wrap=True, no_color=_plain, highlight=False, emoji=False, **extra)  # type: ignore[arg-type]


stdout = _console()
stderr = _console(stderr=True)


def plain() -> None:
    """--no-color: from here on, no colour or other styling."""
    global _plain, stdout, stderr
    _plain = True
    stdout, stderr = _console(), _console(stderr=True)


def out(markup: str) -> None:
    stdout.print(markup)


def raw(text: str) -> None:
    """Machine-readable output (JSON, Markdown): written as is, never styled or wrapped."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def info(markup: str) -> None:
    stderr.print(markup)


def error(message: str) -> None:
    from rich.markup import escape

    for line in message.splitlines() or [""]:
        stderr.print(f"[red]error:[/] {escape(line)}")


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


# -- files named on the command line --------------------------------------------------------------


def check_output_file(path: str | None, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written: a directory, or a path through a
    regular file. (A report written after an apply must not fail only then.)"""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise ReconcilerError(f"{flag} {path}: is a directory; name a file")
    blocker = next((a for a in target.parents if a.exists() and not a.is_dir()), None)
    if blocker is not None:
        raise ReconcilerError(f"{flag} {path}: cannot write here: {blocker} is a file, not a directory")


def write_output_file(path: str, text: str, flag: str) -> None:
    """Write an output file, or say why not on one line."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"{flag} {path}: cannot write the file: {exc.strerror or exc}") from None


def read_input_file(path: str, flag: str) -> str:
    """The text of a file named on the command line: a regular file only (a fifo would block)."""
    from reconciler.registration.sourcefile import open_regular  # a light module

    try:
        with open_regular(Path(path)) as handle:
            return handle.read().decode("utf-8")
    except OSError as exc:
        raise ReconcilerError(f"{flag} {path}: cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ReconcilerError(f"{flag} {path}: not UTF-8 text (byte offset {exc.start})") from None
