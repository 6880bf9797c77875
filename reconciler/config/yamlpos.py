"""YAML loading that remembers where every value came from, so errors can say file:line:col.

A config file arrives in a pull request, so this module treats YAML as untrusted input. The bytes are
checked first (size, encoding, control characters); then the parser's events (libyaml's C parser when
available, else PyYAML's pure one) are composed into nodes by our own iterative composer, which refuses
tags outside YAML's core schema, cyclic aliases, alias expansion past a node budget and nesting past a
depth limit, all before any value is built. Values are then built iteratively from the nodes, keeping
a map from each value's path (tuple of keys and indices) to its location. `${VAR}` interpolation
happens here, on scalars, so an undefined variable is reported where it is written. The merge key
(`<<: *base`, `<<: [*a, *b]`) is supported; merged values keep the location where they are written.

Every problem is a line `file:line:col: message` in `LoadedYaml.problems`; nothing here raises.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

Path_ = tuple[str | int, ...]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")
MALFORMED = "\x00malformed"  # what `interpolate` lists for a `${` that is not a well-formed reference

# Limits for untrusted input. A config is a few kilobytes; these are far above any real one.
MAX_FILE_BYTES = 10 * 1024 * 1024
"""A file larger than this is refused before it is read."""
MAX_DEPTH = 1000
"""Collections nested deeper than this (counting through aliases) are refused."""
MAX_NODES = 1_000_000
"""A document whose nodes, with every alias expanded, number more than this is refused."""
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


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class LoadedYaml:
    file: str
    data: Any
    locations: dict[Path_, Location] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

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


def _mark(file: str, node: yaml.Node) -> Location:
    return _at(file, node.start_mark)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. Returns the text and unknown names."""
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
        return value

    return _VAR.sub(repl, text), missing


def load_yaml(path: Path, env: Mapping[str, str] | None = None, *, libyaml: bool | None = None) -> LoadedYaml:
    """Load one YAML file. `libyaml` forces the C (True) or pure (False) parser; default: C if available."""
    env = os.environ if env is None else env
    file = str(path)
    result = LoadedYaml(file=file, data=None)
    text = _read_text(path, result)
    if text is None:
        return result
    use_c = USE_LIBYAML if libyaml is None else libyaml and USE_LIBYAML
    try:
        node = _Composer(text, file, result.problems, use_c).compose()
        if node is None:
            result.data = {}
            return result
        result.data = _Builder(result, env).build(node)
    except _Refused:
        result.data = None
    return result


def _read_text(path: Path, result: LoadedYaml) -> str | None:
    """The file's text, or None with a problem recorded: too big, not UTF-8, or with control characters."""
    file = result.file
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            result.problems.append(_too_big(file, size))
            return None
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # a file that grew, or a device, is still bounded
    except OSError as exc:
        result.problems.append(f"{file}:1:1: cannot read file: {exc.strerror or exc}")
        return None
    if len(raw) > MAX_FILE_BYTES:
        result.problems.append(_too_big(file, len(raw), more=True))
        return None
    for bom, encoding in _FOREIGN_BOMS:
        if raw.startswith(bom):
            result.problems.append(
                f"{file}:1:1: the file starts with a {encoding} byte-order mark; save it as UTF-8"
            )
            return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line_start = raw.rfind(b"\n", 0, offset) + 1
        line = raw.count(b"\n", 0, offset) + 1
        col = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
        result.problems.append(
            f"{file}:{line}:{col}: not UTF-8: byte 0x{raw[offset]:02x} at byte offset {offset} "
            f"({exc.reason}); save the file as UTF-8"
        )
        return None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is harmless; columns count without it
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        pos = bad.start()
        code = ord(text[pos])
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        name = _CONTROL_NAMES.get(code)
        what = f"control character U+{code:04X}" + (f" ({name})" if name else "")
        result.problems.append(f"{file}:{line}:{col}: {what} is not allowed in YAML")
        return None
    return text


def _too_big(file: str, size: int, more: bool = False) -> str:
    over = "more than " if more else ""
    return (
        f"{file}:1:1: file is {over}{size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a config file"
    )


class _Resolver(Resolver):
    pass


def _resolver() -> Any:
    return _Resolver()


class _Frame:
    __slots__ = ("anchor", "children", "height", "level", "node", "size")

    def __init__(self, node: yaml.CollectionNode, anchor: str | None, level: int) -> None:
        self.node = node
        self.anchor = anchor
        self.children: list[yaml.Node] = []
        self.size = 1
        self.height = 1
        self.level = level


class _Composer:
    """Events to a node graph, iteratively: aliases share nodes, which are never cyclic.

    Every node records its expanded size (nodes, aliases counted in full) and height (collection levels),
    so the budget and depth checks need no expansion.
    """

    def __init__(self, text: str, file: str, problems: list[str], use_c: bool) -> None:
        self.parser: Any = yaml.CSafeLoader(text) if use_c else yaml.SafeLoader(text)
        self._resolve: Any = _resolver().resolve
        self.file = file
        self.problems = problems
        self.anchors: dict[str, tuple[yaml.Node, int, int]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.expanded = 0

    def compose(self) -> yaml.Node | None:
        try:
            return self._compose()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "not valid YAML"
            if "maximum nesting depth" in problem:  # libyaml's own limit, also 1000 levels
                self._refuse(
                    _at(self.file, mark), f"nesting deeper than {MAX_DEPTH} levels; flatten the structure"
                )
            self._refuse(_at(self.file, mark), f"invalid YAML: {problem}")
        except yaml.reader.ReaderError as exc:
            self._refuse(Location(self.file, 1, 1), f"invalid YAML: {exc.reason} at character {exc.position}")
        except yaml.YAMLError as exc:
            self._refuse(Location(self.file, 1, 1), f"invalid YAML: {' '.join(str(exc).split())}")
        finally:
            self.parser.dispose()
        return None  # unreachable: _refuse raises

    def _refuse(self, loc: Location, message: str) -> None:
        self.problems.append(f"{loc}: {message}")
        raise _Refused

    def _problem(self, loc: Location, message: str) -> None:
        self.problems.append(f"{loc}: {message}")
        if len(self.problems) >= MAX_PROBLEMS:
            self._refuse(loc, f"too many problems ({MAX_PROBLEMS}); stopped reading this file")

    def _compose(self) -> yaml.Node | None:
        parser = self.parser
        parser.get_event()  # StreamStart
        if parser.check_event(yaml.StreamEndEvent):
            parser.get_event()
            return None
        parser.get_event()  # DocumentStart
        root: yaml.Node | None = None
        while True:
            event = parser.get_event()
            if isinstance(event, yaml.DocumentEndEvent):
                break
            done = self._event(event)
            if done is not None:
                root = done
        if not parser.check_event(yaml.StreamEndEvent):
            extra = parser.get_event()
            self._refuse(
                _at(self.file, extra.start_mark),
                "expected a single document in the stream, but found another document",
            )
        return root

    def _count(self, event: yaml.Event, size: int, height: int, alias: str | None = None) -> None:
        self.expanded += size
        if self.expanded > MAX_NODES:
            what = (
                f"alias *{alias} expands the document to more than {MAX_NODES:,} nodes "
                "(aliases counted in full); refusing to expand it"
                if alias
                else f"the document has more than {MAX_NODES:,} nodes; split it into smaller files"
            )
            self._refuse(_at(self.file, event.start_mark), what)
        level = len(self.stack)
        if level + height > MAX_DEPTH:
            self._refuse(
                _at(self.file, event.start_mark),
                f"nesting deeper than {MAX_DEPTH} levels"
                + (f" (through alias *{alias})" if alias else "")
                + "; flatten the structure",
            )

    def _tag(self, event: Any, kind: type[yaml.Node], value: str | None) -> str:
        tag: str | None = event.tag
        if tag is None or tag == "!":
            resolved: str = self._resolve(kind, value, event.implicit)
            if resolved not in _IMPLICIT_TAGS:  # pragma: no cover - the resolver only knows core tags
                self._problem(_at(self.file, event.start_mark), f"tag {_short_tag(resolved)} is not allowed")
            return resolved
        if tag not in _EXPLICIT_TAGS:
            self._problem(
                _at(self.file, event.start_mark),
                f"tag {_short_tag(tag)} is not allowed; a config holds only strings, numbers, booleans, "
                "null, lists and mappings (core tags !!str !!int !!float !!bool !!null !!seq !!map)",
            )
        elif (kind is yaml.ScalarNode) != (tag in _SCALAR_TAGS) or (
            kind is not yaml.ScalarNode and (tag == _SEQ) != (kind is yaml.SequenceNode)
        ):
            what = {yaml.ScalarNode: "a scalar", yaml.SequenceNode: "a list"}.get(kind, "a mapping")
            self._problem(
                _at(self.file, event.start_mark), f"tag {_short_tag(tag)} cannot be applied to {what}"
            )
        else:
            return tag
        # Reported once here; the node is then built as a plain string, list or mapping.
        return {yaml.ScalarNode: _STR, yaml.SequenceNode: _SEQ}.get(kind, _MAP)

    def _event(self, ev: yaml.Event) -> yaml.Node | None:
        """Handle one event; returns the root node when it is complete."""
        event: Any = ev  # libyaml's events carry its own Mark type
        if isinstance(ev, yaml.AliasEvent):
            name = event.anchor
            if name in self.open_anchors:
                self._refuse(
                    _at(self.file, event.start_mark),
                    f"cyclic alias: *{name} refers to a node that contains it",
                )
            if name not in self.anchors:
                self._refuse(_at(self.file, event.start_mark), f"alias *{name} refers to no anchor &{name}")
            node, size, height = self.anchors[name]
            self._count(event, size, height, alias=name)
            return self._add(node, size, height)
        if isinstance(ev, yaml.ScalarEvent):
            scalar = yaml.ScalarNode(
                self._tag(event, yaml.ScalarNode, event.value),
                event.value,
                event.start_mark,
                event.end_mark,
                style=event.style or None,  # libyaml says "" for plain
            )
            self._count(event, 1, 0)
            if event.anchor is not None:
                self.anchors[event.anchor] = (scalar, 1, 0)
            return self._add(scalar, 1, 0)
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            kind: type[yaml.CollectionNode] = (
                yaml.SequenceNode if isinstance(ev, yaml.SequenceStartEvent) else yaml.MappingNode
            )
            collection = kind(
                self._tag(event, kind, None),
                [],
                event.start_mark,
                event.end_mark,
                flow_style=event.flow_style,
            )
            self._count(event, 1, 1)
            self.stack.append(_Frame(collection, event.anchor, len(self.stack) + 1))
            if event.anchor is not None:
                self.open_anchors.add(event.anchor)
            return None
        if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            frame = self.stack.pop()
            collection = frame.node
            collection.end_mark = event.end_mark
            if isinstance(collection, yaml.MappingNode):
                kids = frame.children
                collection.value = list(zip(kids[0::2], kids[1::2], strict=True))
            else:
                collection.value = frame.children
            if frame.anchor is not None:
                self.open_anchors.discard(frame.anchor)
                self.anchors[frame.anchor] = (collection, frame.size, frame.height)
            return self._add(collection, frame.size, frame.height)
        return None  # pragma: no cover - no other events inside a document

    def _add(self, node: yaml.Node, size: int, height: int) -> yaml.Node | None:
        if not self.stack:
            return node
        top = self.stack[-1]
        top.children.append(node)
        top.size += size
        top.height = max(top.height, height + 1)
        return None


class _Builder:
    """Nodes to plain values, iteratively (no recursion however deep), with a location for every path."""

    def __init__(self, out: LoadedYaml, env: Mapping[str, str]) -> None:
        self.out = out
        self.env = env
        self.file = out.file
        self.constructor = SafeConstructor()
        self._resolve: Any = _resolver().resolve
        self.reported: set[tuple[int, str]] = set()

    def _problem(self, node: yaml.Node, message: str, once: str = "") -> None:
        key = (id(node), once or message)
        if key in self.reported:
            return
        self.reported.add(key)
        self.out.problems.append(f"{_mark(self.file, node)}: {message}")
        if len(self.out.problems) >= MAX_PROBLEMS:
            self.out.problems.append(
                f"{_mark(self.file, node)}: too many problems ({MAX_PROBLEMS}); stopped reading this file"
            )
            raise _Refused

    def build(self, root: yaml.Node) -> Any:
        out = self.out
        out.locations[()] = _mark(self.file, root)
        holder: list[Any] = []
        # Tasks: (node, path, container, key). The value built from `node` goes into container[key]
        # (a list is appended to). Children are pushed in reverse so they are handled in document order.
        tasks: list[tuple[yaml.Node, Path_, Any, str | None]] = [(root, (), holder, None)]
        while tasks:
            node, path, container, key = tasks.pop()
            if isinstance(node, yaml.SequenceNode):
                value: Any = []
                for i in range(len(node.value) - 1, -1, -1):
                    child = node.value[i]
                    out.locations[(*path, i)] = _mark(self.file, child)
                    tasks.append((child, (*path, i), value, None))
            elif isinstance(node, yaml.MappingNode):
                value = {}
                pairs = self._pairs(node, path)
                for name, key_node, child in reversed(pairs):
                    # The key's own position is the better place to point at for "unknown key" errors.
                    out.locations[(*path, name)] = _mark(self.file, key_node)
                    tasks.append((child, (*path, name), value, name))
            else:
                value = self._scalar_value(node, path)
            if key is None:
                container.append(value)
            else:
                container[key] = value
        return holder[0]

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self._problem(node, "a mapping key must be a plain scalar, not a list or mapping")
            return None
        key = self._construct(node)
        return key if isinstance(key, str) else str(key)

    def _pairs(self, node: yaml.MappingNode, path: Path_) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The mapping's entries: its own (duplicates reported), then merged ones whose keys are new."""
        pairs: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, Location] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE and isinstance(key_node, yaml.ScalarNode):
                merges.append(value_node)
                continue
            key = self._key(key_node)
            if key is None:
                continue
            here = _mark(self.file, key_node)
            if key in seen:
                self.out.problems.append(
                    f"{here}: {_dotted((*path, key))}: duplicate key (first at {seen[key]})"
                )
                continue
            seen[key] = here
            pairs.append((key, key_node, value_node))
        # Merged mappings, depth first in order: earlier sources win, a source's own keys beat its merges.
        stack = list(reversed(merges))
        while stack:
            source = stack.pop()
            sources: list[yaml.Node] = source.value if isinstance(source, yaml.SequenceNode) else [source]
            if not all(isinstance(s, yaml.MappingNode) for s in sources):
                self._problem(
                    source, "the merge key << takes a mapping or a list of mappings (e.g. <<: *base)"
                )
                continue
            # A list merges its mappings in turn; push them so that the first is handled first.
            if isinstance(source, yaml.SequenceNode):
                stack.extend(reversed(sources))
                continue
            inner: list[yaml.Node] = []
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE and isinstance(key_node, yaml.ScalarNode):
                    inner.append(value_node)
                    continue
                key = self._key(key_node)
                if key is None or key in seen:
                    continue
                seen[key] = _mark(self.file, key_node)
                pairs.append((key, key_node, value_node))
            stack.extend(reversed(inner))
        return pairs

    def _construct(self, node: yaml.ScalarNode, tag: str | None = None) -> Any:
        tag = tag or node.tag
        try:
            if tag == _TIMESTAMP:
                return self.constructor.construct_yaml_timestamp(node)
            if tag == _INT:
                return self.constructor.construct_yaml_int(node)
            if tag == _FLOAT:
                return self.constructor.construct_yaml_float(node)
            if tag == _BOOL:
                return self.constructor.construct_yaml_bool(node)
            if tag == _NULL:
                return None
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError):
            self._problem(node, f"{node.value!r} is not a valid {_short_tag(tag)}")
            return node.value
        return str(node.value)

    def _scalar_value(self, node: yaml.Node, path: Path_) -> Any:
        if not isinstance(node, yaml.ScalarNode):  # pragma: no cover - collections are handled by build
            return None
        value = self._construct(node)
        if isinstance(value, str) and "$" in value:
            expanded, missing = interpolate(value, self.env)
            for name in missing:
                if name == MALFORMED:
                    self._problem(
                        node,
                        f"{_dotted(path)}: malformed ${{...}}: write ${{NAME}} or ${{NAME:-default}} (NAME: "
                        "letters, digits and _, not starting with a digit), or $$ for a literal $",
                        once=f"malformed {path}",
                    )
                    continue
                self._problem(
                    node,
                    f"{_dotted(path)}: environment variable {name} is not set "
                    f"(write ${{{name}:-default}} to give a default)",
                    once=f"env {name} {path}",
                )
            if expanded != value and node.style is None and expanded.strip():
                # An unquoted `${SIZE}` that expands to 512 should be the number 512, as if written so.
                # Only a scalar: the variable's value cannot bring in lists, mappings or tags.
                text = expanded.strip()
                tag = self._resolve(yaml.ScalarNode, text, (True, False))
                if tag in _SCALAR_TAGS or tag == _TIMESTAMP:
                    probe = yaml.ScalarNode(tag, text, node.start_mark, node.end_mark)
                    try:
                        return self._construct_quiet(probe)
                    except _Invalid:
                        return expanded
            return expanded
        return value

    def _construct_quiet(self, node: yaml.ScalarNode) -> Any:
        try:
            if node.tag == _TIMESTAMP:
                return self.constructor.construct_yaml_timestamp(node)
            if node.tag == _INT:
                return self.constructor.construct_yaml_int(node)
            if node.tag == _FLOAT:
                return self.constructor.construct_yaml_float(node)
            if node.tag == _BOOL:
                return self.constructor.construct_yaml_bool(node)
            if node.tag == _NULL:
                return None
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError) as exc:
            raise _Invalid from exc
        return str(node.value)


class _Invalid(Exception):
    pass


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


dotted = _dotted
