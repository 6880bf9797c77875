"""Gitignore-ish globs over `/`-separated paths, each compiled once to a regex.

Globs are anchored to the whole path: `*` and `?` stay within one path segment, `**` as a whole segment
matches any number of directories (`**/*.jpg` matches `a.jpg` too; `raw/**` everything below `raw/`),
`[abc]`, `[a-z]` and `[!abc]` are classes of one character (never `/`), and a backslash escapes the
next character. A trailing `/` means everything below that directory (`raw/` is `raw/**`). Matching is
case-sensitive, like object names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable


class GlobError(ValueError):
    """A glob that cannot be compiled (e.g. a reversed range `[z-a]`)."""


def glob_to_regex(pattern: str) -> str:
    """The regex source (without anchors) that matches exactly the paths `pattern` matches."""
    if pattern.endswith("/"):
        pattern += "**"
    segments = pattern.lstrip("/").split("/")
    out: list[str] = []
    previous_globstar = False
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            if previous_globstar:
                continue  # `**/**` means the same as `**`, without the backtracking
            out.append(".*" if last else "(?:.*/)?")
            previous_globstar = True
            continue
        previous_globstar = False
        out.append(_segment(segment))
        if not last:
            out.append("/")
    return "".join(out)


def _segment(segment: str) -> str:
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        i += 1
        if char == "*":
            while i < n and segment[i] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i < n:
            out.append(re.escape(segment[i]))
            i += 1
        elif char == "[":
            end, regex = _char_class(segment, i)
            if end < 0:
                out.append(re.escape(char))  # no closing `]`: a literal `[`
            else:
                out.append(regex)
                i = end
        else:
            out.append(re.escape(char))
    return "".join(out)


def _char_class(segment: str, start: int) -> tuple[int, str]:
    """Parse a class whose `[` is just before `start`: (index after its `]`, regex), or (-1, '')."""
    i = start
    negate = i < len(segment) and segment[i] in "!^"
    if negate:
        i += 1
    body_start = i
    if i < len(segment) and segment[i] == "]":
        i += 1  # a leading `]` is a member, as in fnmatch
    close = segment.find("]", i)
    if close < 0:
        return -1, ""
    body = segment[body_start:close]
    parts: list[str] = []
    for k, char in enumerate(body):
        # A `-` between two other members is a range; any other `-` is literal. Escaping everything
        # else also keeps Python from warning about nested sets (`[[`) and set operations (`&&`, `--`).
        is_range = char == "-" and 0 < k < len(body) - 1 and "-" not in (body[k - 1], body[k + 1])
        parts.append("-" if is_range else re.escape(char))
    return close + 1, ("[^/" if negate else "[") + "".join(parts) + "]"


class GlobSet:
    """Several globs as one compiled regex: `match(path)` is true when any of them matches.

    Hot loops call `fullmatch` (the regex's own, no Python frame in between) and test for None.
    """

    __slots__ = ("fullmatch", "matches_everything", "patterns", "regex")

    fullmatch: Callable[[str], re.Match[str] | None]

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self.matches_everything = any(p.strip("/") == "**" for p in self.patterns)
        source = "|".join(f"(?:{glob_to_regex(p)})" for p in self.patterns) or "(?!)"
        try:
            self.regex = re.compile(source, re.DOTALL)
        except re.error as exc:
            raise GlobError(str(exc)) from None
        self.fullmatch = self.regex.fullmatch

    def match(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None


def check_glob(pattern: str) -> str | None:
    """Why `pattern` is not a usable glob, or None when it is."""
    if not pattern:
        return "an empty glob matches nothing"
    try:
        re.compile(glob_to_regex(pattern))
    except re.error as exc:
        return str(exc)
    return None
