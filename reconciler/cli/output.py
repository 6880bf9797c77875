"""All terminal output goes through here: rich consoles that drop colour when not on a terminal."""

from __future__ import annotations

import os
import sys

from rich.console import Console

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
