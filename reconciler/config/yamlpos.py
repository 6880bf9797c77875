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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from reconciler.config.yamlbase import (
    _CONTROL_NAMES,
    _EXPLICIT_TAGS,
    _FOREIGN_BOMS,
    _IMPLICIT_TAGS,
    _MAP,
    _NOT_PRINTABLE,
    _SCALAR_TAGS,
    _SEQ,
    _STR,
    MALFORMED,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    MAX_PROBLEMS,
    USE_LIBYAML,
    LoadedYaml,
    Location,
    MappingNode,
    Node,
    Path_,
    ScalarNode,
    SequenceNode,
    _at,
    _Refused,
    _resolver,
    _short_tag,
    interpolate,
)
from reconciler.config.yamlbuild import (
    _Builder,
    dotted,
)

__all__ = [
    "MALFORMED",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_PROBLEMS",
    "USE_LIBYAML",
    "LoadedYaml",
    "Location",
    "Path_",
    "dotted",
    "interpolate",
    "load_yaml",
]


def load_yaml(path: Path, env: Mapping[str, str] | None = None, *, libyaml: bool | None = None) -> LoadedYaml:
    """Load one YAML file. `libyaml` forces the C (True) or pure (False) parser; default: C if available."""
    env = os.environ if env is None else env
    file = str(path)
    result = LoadedYaml(file=file, data=None)
    text = _read_text(path, result)
    if text is None:
        return result  # the problem is recorded
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


def _read_text(path: Path, result: LoadedYaml) -> bytes | None:
    """The file's bytes, checked to be UTF-8 text without control characters (a UTF-8 byte-order mark
    dropped), or None with a problem recorded. Bytes, not a str: the parsers read UTF-8 bytes as they
    are, while a str would be copied into UTF-8 again (twice the memory for a 10 MB file)."""
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
    has_bom = text.startswith("\ufeff")  # a UTF-8 byte-order mark is harmless; columns count without it
    text = text.removeprefix("\ufeff")
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
    del text
    return raw[3:] if has_bom else raw


def _too_big(file: str, size: int, more: bool = False) -> str:
    over = "more than " if more else ""
    return (
        f"{file}:1:1: file is {over}{size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a config file"
    )


class _Frame:
    __slots__ = ("anchor", "children", "height", "level", "node", "size")

    def __init__(self, node: SequenceNode | MappingNode, anchor: str | None, level: int) -> None:
        self.node = node
        self.anchor = anchor
        self.children: list[Node] = []
        self.size = 1
        self.height = 1
        self.level = level


class _Composer:
    """Events to a node graph, iteratively: aliases share nodes, which are never cyclic.

    Every node records its expanded size (nodes, aliases counted in full) and height (collection levels),
    so the budget and depth checks need no expansion.
    """

    def __init__(self, text: bytes, file: str, problems: list[str], use_c: bool) -> None:
        self.parser: Any = yaml.CSafeLoader(text) if use_c else yaml.SafeLoader(text)
        self.text = text
        self._resolve: Any = _resolver().resolve
        self.file = file
        self.problems = problems
        self.anchors: dict[str, tuple[Node, int, int]] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.expanded = 0

    def compose(self) -> Node | None:
        try:
            return self._compose()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "not valid YAML"
            if "maximum nesting depth" in problem:  # libyaml's own limit, also 1000 levels
                self._refuse(
                    _at(self.file, mark), f"nesting deeper than {MAX_DEPTH} levels; flatten the structure"
                )
            if mark is not None and "tab" not in problem and self._char_at(mark) == "\t":
                problem += " (a tab: YAML indents with spaces only)"
            self._refuse(_at(self.file, mark), f"invalid YAML: {problem}")
        except yaml.reader.ReaderError as exc:
            self._refuse(Location(self.file, 1, 1), f"invalid YAML: {exc.reason} at character {exc.position}")
        except yaml.YAMLError as exc:
            self._refuse(Location(self.file, 1, 1), f"invalid YAML: {' '.join(str(exc).split())}")
        finally:
            self.parser.dispose()
        return None  # unreachable: _refuse raises

    def _char_at(self, mark: Any) -> str:
        lines = self.text.split(b"\n", mark.line + 1)
        line = lines[mark.line].decode("utf-8", "replace") if mark.line < len(lines) else ""
        return line[mark.column : mark.column + 1]

    def _refuse(self, loc: Location, message: str) -> None:
        self.problems.append(f"{loc}: {message}")
        raise _Refused

    def _problem(self, loc: Location, message: str) -> None:
        self.problems.append(f"{loc}: {message}")
        if len(self.problems) >= MAX_PROBLEMS:
            self._refuse(loc, f"too many problems ({MAX_PROBLEMS}); stopped reading this file")

    def _compose(self) -> Node | None:
        parser = self.parser
        parser.get_event()  # StreamStart
        if parser.check_event(yaml.StreamEndEvent):
            parser.get_event()
            return None
        parser.get_event()  # DocumentStart
        root: Node | None = None
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

    def _event(self, ev: yaml.Event) -> Node | None:
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
            mark = event.start_mark
            scalar = ScalarNode(
                self._tag(event, yaml.ScalarNode, event.value),
                event.value,
                mark.line + 1,
                mark.column + 1,
                event.style or None,  # libyaml says "" for plain
            )
            self._count(event, 1, 0)
            if event.anchor is not None:
                self.anchors[event.anchor] = (scalar, 1, 0)
            return self._add(scalar, 1, 0)
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            is_seq = isinstance(ev, yaml.SequenceStartEvent)
            kind: type[yaml.Node] = yaml.SequenceNode if is_seq else yaml.MappingNode
            mark = event.start_mark
            collection: SequenceNode | MappingNode = (SequenceNode if is_seq else MappingNode)(
                self._tag(event, kind, None), [], mark.line + 1, mark.column + 1
            )
            self._count(event, 1, 1)
            self.stack.append(_Frame(collection, event.anchor, len(self.stack) + 1))
            if event.anchor is not None:
                self.open_anchors.add(event.anchor)
            return None
        if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            frame = self.stack.pop()
            collection = frame.node
            if isinstance(collection, MappingNode):
                kids = frame.children
                collection.value = list(zip(kids[0::2], kids[1::2], strict=True))
            else:
                collection.value = frame.children
            if frame.anchor is not None:
                self.open_anchors.discard(frame.anchor)
                self.anchors[frame.anchor] = (collection, frame.size, frame.height)
            return self._add(collection, frame.size, frame.height)
        return None  # pragma: no cover - no other events inside a document

    def _add(self, node: Node, size: int, height: int) -> Node | None:
        if not self.stack:
            return node
        top = self.stack[-1]
        top.children.append(node)
        top.size += size
        top.height = max(top.height, height + 1)
        return None
