"""What the JSON and CSV sources share: reading a file as UTF-8 with the place of a problem, and
did-you-mean hints for misspelt names."""

from __future__ import annotations

import gc
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from reconciler.hints import nearest


class UnreadableFile(Exception):
    """The file cannot be read as text: `line` and `column` (1-based) say where, when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading, if it is a regular file; raises OSError otherwise (a fifo would block
    the read forever, a device such as /dev/zero never end). Opened without blocking, then checked."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(mode)
                else "a fifo"
                if stat.S_ISFIFO(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "a device"
            )
            raise OSError(f"not a regular file ({kind})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_utf8(path: Path) -> str:
    """The file's text, a leading UTF-8 byte-order mark dropped; raises UnreadableFile."""
    try:
        with open_regular(path) as handle:
            data = handle.read()
    except OSError as error:
        raise UnreadableFile(f"cannot read the file: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text, start = error.object, error.start  # after any byte-order mark
        line_start = text.rfind(b"\n", 0, start) + 1
        column = len(text[line_start:start].decode("utf-8", "replace")) + 1
        raise UnreadableFile(
            f"not UTF-8 text (byte 0x{text[start]:02x})", text.count(b"\n", 0, start) + 1, column
        ) from None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`; did you mean 'images'?` for the closest choice, or '' when none is close.

    A choice spelt the same but for case, `_`, `-` and spaces wins (`imageGroups` -> `image_groups`).
    """
    close = nearest(name, choices)
    return f"; did you mean {close!r}?" if close else ""


def kind_of(value: Any) -> str:
    """What a parsed JSON value is, for messages: `a string`, `an array`, `null`, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    return "an array" if isinstance(value, list) else "an object"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a million acyclic objects: its passes over them
    would double the time and free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
