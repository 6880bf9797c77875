"""What the YAML loader's parts share: limits, the core-schema tags, locations, the loaded result."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from yaml.resolver import Resolver

Path_ = tuple[str | int, ...]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")
MALFORMED = "\x00malformed"  # what `interpolate` lists for a `${` that is not a well-formed reference

# Limits for untrusted input. A config is a few kilobytes; these are far above any real one.
MAX_FILE_BYTES = 10 * 1024 * 1024
"""A file larger than this is refused before it is read."""
MAX_DEPTH = 1000
"""Collections nested deeper than this (counting through aliases) are refused."""
MAX_NODES = 50_000
"""A document whose nodes, with every alias expanded, number more than this is refused: the nodes a file
may build within 100 MB (2,000 folders and 200 datasets take about 8,000; a larger config is split into
files of a directory)."""
MAX_PROBLEMS = 100
"""After this many problems in one file, loading it stops."""

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP, _MERGE = _CORE + "seq", _CORE + "map", _CORE + "merge"
_TIMESTAMP, _VALUE = _CORE + "timestamp", _CORE + "value"
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})
_EXPLICIT_TAGS = _SCALAR_TAGS | {_SEQ, _MAP}
# YAML 1.1 reads some plain scalars as timestamps (reported as non-JSON later, with a hint), `<<` as the
# merge key and `=` as a "value" key; those tags are accepted when implicit, never when written.
_IMPLICIT_TAGS = _EXPLICIT_TAGS | {_TIMESTAMP, _MERGE, _VALUE}
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FOREIGN_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)
_CONTROL_NAMES = {0: "NUL", 0x1B: "ESC", 0x7F: "DEL", 0x08: "backspace", 0x0C: "form feed"}

USE_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
"""Parse with libyaml's C parser when PyYAML was built with it (positions are the same either way)."""


class Location(NamedTuple):
    """A place in a file, 1-based. A tuple: a config keeps one per value, so it is kept small and fast."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Node:
    """A composed YAML node. Lighter than PyYAML's own (slots, and its start as two ints instead of two
    marks), since a document may hold many: `line` and `col` are 1-based."""

    __slots__ = ("col", "line", "tag", "value")

    def __init__(self, tag: str, value: Any, line: int, col: int) -> None:
        self.tag, self.value, self.line, self.col = tag, value, line, col


class ScalarNode(Node):
    __slots__ = ("style",)

    def __init__(self, tag: str, value: str, line: int, col: int, style: str | None) -> None:
        super().__init__(tag, value, line, col)
        self.style = style  # None: plain


class SequenceNode(Node):
    __slots__ = ()
    value: list[Node]


class MappingNode(Node):
    __slots__ = ()
    value: list[tuple[Node, Node]]


@dataclass
class LoadedYaml:
    file: str
    data: Any
    locations: dict[Path_, Location] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    """Each value that `${VAR}` interpolation made from the environment -> the text as written."""
    variables: dict[str, str] = field(default_factory=dict)
    """Each environment variable's value used by interpolation -> `${NAME}`."""
    unresolved: set[Path_] = field(default_factory=set)
    """Paths of values whose interpolation failed (reported): other checks of them would only echo it."""

    def locate(self, path: Path_) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            loc = self.locations.get(tuple(path[:end]))
            if loc is not None:
                return loc
        return Location(self.file, 1, 1)


class _Refused(Exception):
    """Loading this file stops: the problem line is already recorded."""


def _at(file: str, mark: Any) -> Location:
    if mark is None:
        return Location(file, 1, 1)
    return Location(file, mark.line + 1, mark.column + 1)


def _mark(file: str, node: Node) -> Location:
    return Location(file, node.line, node.col)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def interpolate(
    text: str, env: Mapping[str, str], used: list[tuple[str, str]] | None = None
) -> tuple[str, list[str]]:
    """Expand `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. Returns the text and unknown names;
    `used` receives (name, value) of every variable whose value came from `env`."""
    missing: list[str] = []

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group(0) == "${":  # `${FOO` unclosed, `${FOO:default}` without `-`, `${1ABC}`
            missing.append(MALFORMED)
            return "${"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                missing.append(name)
                return ""
            return default
        if used is not None:
            used.append((name, value))
        return value

    return _VAR.sub(repl, text), missing


class _Resolver(Resolver):
    pass


def _resolver() -> Any:
    return _Resolver()
