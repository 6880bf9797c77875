"""All terminal output goes through here: rich consoles that drop colour when not on a terminal."""

from __future__ import annotations

import os
import sys

from rich.console import Console

_no_colour = bool(os.environ.get("NO_COLOR"))
stdout = Console(soft_wrap=True, no_color=_no_colour, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, no_color=_no_colour, highlight=False)


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
