"""YAML nodes to plain values, iteratively (no recursion however deep), with a location for every path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from reconciler.config.yamlbase import (
    _BOOL,
    _FLOAT,
    _INT,
    _MERGE,
    _NULL,
    _SCALAR_TAGS,
    _TIMESTAMP,
    MALFORMED,
    MAX_PROBLEMS,
    LoadedYaml,
    Location,
    MappingNode,
    Node,
    Path_,
    ScalarNode,
    SequenceNode,
    _mark,
    _Refused,
    _resolver,
    _short_tag,
    interpolate,
)


class _Builder:
    """Nodes to plain values, iteratively (no recursion however deep), with a location for every path."""

    def __init__(self, out: LoadedYaml, env: Mapping[str, str]) -> None:
        self.out = out
        self.env = env
        self.file = out.file
        constructor = SafeConstructor()
        self._constructors: dict[str, Any] = {
            _TIMESTAMP: constructor.construct_yaml_timestamp,
            _INT: constructor.construct_yaml_int,
            _FLOAT: constructor.construct_yaml_float,
            _BOOL: constructor.construct_yaml_bool,
        }
        self._probe = yaml.ScalarNode(_NULL, "")  # PyYAML's constructors take one of its own nodes
        self._resolve: Any = _resolver().resolve
        self.reported: set[tuple[int, str]] = set()

    def _problem(self, node: Node, message: str, once: str = "") -> None:
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

    def build(self, root: Node) -> Any:
        out = self.out
        out.locations[()] = _mark(self.file, root)
        holder: list[Any] = []
        # Tasks: (node, path, container, key). The value built from `node` goes into container[key]
        # (a list is appended to). Children are pushed in reverse so they are handled in document order.
        tasks: list[tuple[Node, Path_, Any, str | None]] = [(root, (), holder, None)]
        locations, file = out.locations, self.file
        while tasks:
            node, path, container, key = tasks.pop()
            if isinstance(node, ScalarNode):
                value: Any = self._scalar_value(node, path)
            elif isinstance(node, SequenceNode):
                value = []
                for i in range(len(node.value) - 1, -1, -1):
                    child = node.value[i]
                    child_path = (*path, i)
                    locations[child_path] = Location(file, child.line, child.col)
                    tasks.append((child, child_path, value, None))
            else:
                assert isinstance(node, MappingNode)
                value = {}
                pairs = self._pairs(node, path)
                for name, key_node, child in reversed(pairs):
                    # The key's own position is the better place to point at for "unknown key" errors.
                    child_path = (*path, name)
                    locations[child_path] = Location(file, key_node.line, key_node.col)
                    tasks.append((child, child_path, value, name))
            if key is None:
                container.append(value)
            else:
                container[key] = value
        return holder[0]

    def _key(self, node: Node) -> str | None:
        if not isinstance(node, ScalarNode):
            self._problem(node, "a mapping key must be a plain scalar, not a list or mapping")
            return None
        key = self._construct(node)
        return key if isinstance(key, str) else str(key)

    def _pairs(self, node: MappingNode, path: Path_) -> list[tuple[str, Node, Node]]:
        """The mapping's entries: its own (duplicates reported), then merged ones whose keys are new."""
        pairs: list[tuple[str, Node, Node]] = []
        seen: dict[str, Location] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE and isinstance(key_node, ScalarNode):
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
            sources: list[Node] = source.value if isinstance(source, SequenceNode) else [source]
            if not all(isinstance(s, MappingNode) for s in sources):
                self._problem(
                    source, "the merge key << takes a mapping or a list of mappings (e.g. <<: *base)"
                )
                continue
            # A list merges its mappings in turn; push them so that the first is handled first.
            if isinstance(source, SequenceNode):
                stack.extend(reversed(sources))
                continue
            inner: list[Node] = []
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE and isinstance(key_node, ScalarNode):
                    inner.append(value_node)
                    continue
                key = self._key(key_node)
                if key is None or key in seen:
                    continue
                seen[key] = _mark(self.file, key_node)
                pairs.append((key, key_node, value_node))
            stack.extend(reversed(inner))
        return pairs

    def _typed(self, tag: str, text: str) -> Any:
        """The value of a scalar `text` with a resolved core `tag`; raises _Invalid when it is not one."""
        if tag == _NULL:
            return None
        construct = self._constructors.get(tag)
        if construct is None:
            return text
        probe = self._probe
        probe.tag, probe.value = tag, text
        try:
            return construct(probe)
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError) as exc:
            raise _Invalid from exc

    def _construct(self, node: ScalarNode) -> Any:
        try:
            return self._typed(node.tag, node.value)
        except _Invalid:
            self._problem(node, f"{node.value!r} is not a valid {_short_tag(node.tag)}")
            return node.value

    def _scalar_value(self, node: ScalarNode, path: Path_) -> Any:
        value = self._construct(node)
        if isinstance(value, str) and "$" in value:
            used: list[tuple[str, str]] = []
            expanded, missing = interpolate(value, self.env, used)
            if missing:
                self.out.unresolved.add(path)
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
            if used:
                # What came from the environment is never echoed: messages show it as written.
                self.out.written.setdefault(expanded, value)
                self.out.written.setdefault(expanded.strip(), value)
                for name, env_value in used:
                    self.out.variables.setdefault(env_value, f"${{{name}}}")
            if expanded != value and node.style is None and expanded.strip():
                # An unquoted `${SIZE}` that expands to 512 should be the number 512, as if written so.
                # Only a scalar: the variable's value cannot bring in lists, mappings or tags.
                text = expanded.strip()
                tag = self._resolve(yaml.ScalarNode, text, (True, False))
                if tag in _SCALAR_TAGS or tag == _TIMESTAMP:
                    try:
                        return self._typed(tag, text)
                    except _Invalid:
                        return expanded
            return expanded
        return value


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
